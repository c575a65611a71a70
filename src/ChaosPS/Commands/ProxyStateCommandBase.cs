using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>What Enable-ChaosProxy and Disable-ChaosProxy share: they differ only in the state they set.</summary>
public abstract class ProxyStateCommandBase : NetworkCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank, ValidateChaosName]
    public string[] Name { get; set; } = [];

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank(AllowNull = true), ValidateHttpUri]
    public string? ToxiproxyUri { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private protected abstract bool Enabled { get; }
    private protected abstract string Action { get; }

    protected override void ProcessRecord()
    {
        var backend = (IProxyBackend)BackendFor(ToxiproxyUri);
        foreach (var n in Name)
        {
            // A proxy that does not exist is an error before ShouldProcess, so -WhatIf reports it too.
            if (!TryRun((r, ct) => backend.GetAsync(n, ct), out _)) continue;
            if (!ShouldProcess($"proxy '{n}'", Action)) continue;
            if (TryRun((r, ct) => backend.SetEnabledAsync(n, Enabled, ct), out var info) && PassThru) WriteObject(info);
        }
    }
}
