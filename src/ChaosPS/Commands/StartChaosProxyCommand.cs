using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Starts a fault-injecting TCP proxy in the background of this PowerShell session. Its help is module/help/Start-ChaosProxy.md.</summary>
[Cmdlet(VerbsLifecycle.Start, "ChaosProxy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ChaosProxyInfo))]
public sealed class StartChaosProxyCommand : NetworkCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank, ValidateChaosName]
    public string Name { get; set; } = "";

    [Parameter(Position = 1)]
    [ValidateNotBlank, ValidateEndpoint(AllowPortZero = true)]
    public string Listen { get; set; } = "127.0.0.1:0";

    [Parameter(Mandatory = true, Position = 2, ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank, ValidateEndpoint]
    public string Upstream { get; set; } = "";

    [Parameter]
    [ValidateSet("Tcp", "Http", IgnoreCase = true)]
    public string Mode { get; set; } = "Tcp";

    [Parameter]
    public SwitchParameter Disabled { get; set; }

    [Parameter, DurationTransform]
    [ValidateDuration]
    public TimeSpan? ConnectTimeout { get; set; }

    [Parameter]
    public SwitchParameter AllowNonLoopback { get; set; }

    [Parameter]
    [ValidateNotBlank, ValidateHttpUri]
    public string? ToxiproxyUri { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            var (host, port) = ListenAddress.Split(Upstream);
            if (host.Length == 0 || port == 0) throw ChaosException.InvalidArgument("InvalidUpstream", $"Upstream '{Upstream}' needs a host and a non-zero port.", Upstream);
            ListenAddress.Split(Listen);
            if (string.IsNullOrEmpty(ToxiproxyUri)) ListenAddress.Resolve(Listen, AllowNonLoopback);
        }
        catch (ChaosException e) { ThrowChaosError(e); }
        var backend = (IProxyBackend)BackendFor(ToxiproxyUri);
        var mode = Mode.ToLowerInvariant();
        if (!ShouldProcess($"proxy '{Name}'", $"Listen on {Listen} and forward {(mode == "http" ? "HTTP" : "TCP")} to {Upstream}")) return;
        if (TryRun((r, ct) => backend.CreateAsync(Name, Listen, Upstream, !Disabled, ConnectTimeout, AllowNonLoopback, ct, mode), out var info))
            WriteObject(info);
    }
}
