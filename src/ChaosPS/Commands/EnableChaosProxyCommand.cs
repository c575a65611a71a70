using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Enables proxies again: they listen on the same address; their faults are kept.</summary>
[Cmdlet(VerbsLifecycle.Enable, "ChaosProxy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ChaosProxyInfo))]
public sealed class EnableChaosProxyCommand : NetworkCmdletBase
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
            if (!ShouldProcess($"proxy '{n}'", "Enable (listen again; faults kept)")) continue;
            if (TryRun((r, ct) => backend.SetEnabledAsync(n, true, ct), out var info) && PassThru) WriteObject(info);
        }
    }
}
