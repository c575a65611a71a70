using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Disables proxies (toxiproxy's down): the listener closes, every connection is closed, the faults are kept. Not ledgered: use Invoke-NetworkFault -Type Down for a timed outage that is always undone.</summary>
[Cmdlet(VerbsLifecycle.Disable, "ChaosProxy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ChaosProxyInfo))]
public sealed class DisableChaosProxyCommand : ProxyStateCommandBase
{
    private protected override bool Enabled => false;
    private protected override string Action => "Disable (stop listening, close every connection; faults kept)";
}
