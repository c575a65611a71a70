using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Applies a network fault for a duration and removes it when the duration ends. Its help is module/help/Invoke-NetworkFault.md.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "NetworkFault", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(NetworkFaultResult))]
public sealed class InvokeNetworkFaultCommand : NetworkFaultCmdletBase
{
    [Parameter(Mandatory = true)]
    [DurationTransform]
    public TimeSpan Duration { get; set; }

    [Parameter]
    public SwitchParameter AsJob { get; set; }

    protected override void ProcessRecord()
    {
        try { InputRules.Duration(Duration, nameof(Duration)); }
        catch (ChaosException e) { ThrowChaosError(e); }
        var spec = BuildSpec();
        var backend = (IProxyBackend)BackendFor(ToxiproxyUri);
        if (!ShouldProcess(DescribeTarget(), $"{(spec.Type == "down" ? "Disable (Down)" : $"Apply {spec.Type} fault '{spec.Name}' ({Describe(spec)})")} for {DurationParser.Format(Duration)}"))
            return;
        var proxy = Proxy;
        var duration = Duration;
        if (AsJob)
        {
            StartEngineJob($"NetworkFault {spec.Type} {proxy}", async (r, ct) => await NetworkFaults.InvokeAsync(backend, proxy, spec, duration, r, ct));
            return;
        }
        if (TryRun((r, ct) => NetworkFaults.InvokeAsync(backend, proxy, spec, duration, r, ct), out var result)) WriteObject(result);
    }
}
