using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Enables proxies again: they listen on the same address; their faults are kept.</summary>
[Cmdlet(VerbsLifecycle.Enable, "ChaosProxy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ChaosProxyInfo))]
public sealed class EnableChaosProxyCommand : ProxyStateCommandBase
{
    private protected override bool Enabled => true;
    private protected override string Action => "Enable (listen again; faults kept)";
}
