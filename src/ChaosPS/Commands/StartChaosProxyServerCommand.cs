using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Serves toxiproxy's HTTP API for this session's proxies. Its help is module/help/Start-ChaosProxyServer.md.</summary>
[Cmdlet(VerbsLifecycle.Start, "ChaosProxyServer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ChaosProxyServerInfo))]
public sealed class StartChaosProxyServerCommand : NetworkCmdletBase
{
    [Parameter(Position = 0)]
    [ValidateNotBlank, ValidateEndpoint(AllowPortZero = true)]
    public string Listen { get; set; } = "127.0.0.1:8474";

    [Parameter]
    public SwitchParameter AllowNonLoopback { get; set; }

    protected override void ProcessRecord()
    {
        try { ListenAddress.Resolve(Listen, AllowNonLoopback); }
        catch (ChaosException e) { ThrowChaosError(e); }
        if (!ShouldProcess(Listen, "Serve the toxiproxy HTTP API")) return;
        if (AllowNonLoopback) ProxyCollection.Default.AllowNonLoopback = true;
        if (TryRun((r, ct) => Task.FromResult(ToxiproxyApiServer.Start(Listen, ProxyCollection.Default, AllowNonLoopback)), out var server))
            WriteObject(ChaosProxyServerInfo.From(server!));
    }
}
