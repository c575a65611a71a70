using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Disables proxies (toxiproxy's down): the listener closes, every connection is closed, the faults are kept. Not ledgered: use Invoke-NetworkFault -Type Down for a timed outage that is always undone.</summary>
[Cmdlet(VerbsLifecycle.Disable, "ChaosProxy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ChaosProxyInfo))]
public sealed class DisableChaosProxyCommand : NetworkCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    public string[] Name { get; set; } = [];

    [Parameter(ValueFromPipelineByPropertyName = true)]
    public string? ToxiproxyUri { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var backend = (IProxyBackend)BackendFor(ToxiproxyUri);
        foreach (var n in Name)
        {
            if (!ShouldProcess($"proxy '{n}'", "Disable (stop listening, close every connection; faults kept)")) continue;
            if (TryRun((r, ct) => backend.SetEnabledAsync(n, false, ct), out var info) && PassThru) WriteObject(info);
        }
    }
}
