using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Adds a network fault to a proxy. Its help is module/help/Add-NetworkFault.md.</summary>
[Cmdlet(VerbsCommon.Add, "NetworkFault", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(NetworkFaultInfo))]
public sealed class AddNetworkFaultCommand : NetworkFaultCmdletBase
{
    protected override void ProcessRecord()
    {
        var spec = BuildSpec();
        var backend = (IProxyBackend)BackendFor(ToxiproxyUri);
        var what = spec.Type == "down" ? "Disable (Down)" : $"Add {spec.Type} fault '{spec.Name}' ({Describe(spec)})";
        if (!ShouldProcess(DescribeTarget(), what)) return;
        // One bad proxy is a non-terminating error: the others go on.
        if (TryRun(async (r, ct) => (await NetworkFaults.ApplyAsync(backend, Proxy, spec, null, ct)).Info, out var info)) WriteObject(info);
    }
}
