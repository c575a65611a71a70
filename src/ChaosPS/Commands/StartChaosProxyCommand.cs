using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>
/// Starts a fault-injecting TCP proxy in the background of this PowerShell session (it outlives the pipeline and the
/// runspace; it ends with Stop-ChaosProxy or when the process exits), or creates one on a toxiproxy server.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "ChaosProxy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ChaosProxyInfo))]
public sealed class StartChaosProxyCommand : NetworkCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank, ValidateChaosName]
    public string Name { get; set; } = "";

    /// <summary>host:port to listen on; port 0 picks a free one. Loopback only unless -AllowNonLoopback.</summary>
    [Parameter(Position = 1)]
    [ValidateNotBlank, ValidateEndpoint(AllowPortZero = true)]
    public string Listen { get; set; } = "127.0.0.1:0";

    /// <summary>host:port of the service behind the proxy (resolved and dialled for each connection).</summary>
    [Parameter(Mandatory = true, Position = 2, ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank, ValidateEndpoint]
    public string Upstream { get; set; } = "";

    /// <summary>
    /// Tcp (default) relays bytes as toxiproxy does. Http parses HTTP/1.1 (keep-alive and chunked bodies pass through
    /// unchanged) so the HttpStatus, HttpDelay, HttpSlowBody and HttpReset faults can act on single requests; the TCP
    /// faults still apply.
    /// </summary>
    [Parameter]
    [ValidateSet("Tcp", "Http", IgnoreCase = true)]
    public string Mode { get; set; } = "Tcp";

    /// <summary>Create it disabled (not listening).</summary>
    [Parameter]
    public SwitchParameter Disabled { get; set; }

    /// <summary>How long a dial to the upstream may take before the client is closed (default 5s).</summary>
    [Parameter, DurationTransform]
    [ValidateDuration]
    public TimeSpan? ConnectTimeout { get; set; }

    /// <summary>Allow a listen address other than loopback (the proxy is then reachable from other machines).</summary>
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
