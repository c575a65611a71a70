using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Stops toxiproxy API servers of this session (all, or those listening on -Listen). The proxies keep running.</summary>
[Cmdlet(VerbsLifecycle.Stop, "ChaosProxyServer", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(ChaosProxyServerInfo))]
public sealed class StopChaosProxyServerCommand : NetworkCmdletBase
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank(AllowNull = true), ValidateEndpoint(AllowPortZero = true)]
    public string? Listen { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var servers = ToxiproxyApiServer.Servers.Where(s => Listen is null || ListenAddress.SameResolved(s.Listen, Listen)).ToList();
        if (servers.Count == 0 && Listen is not null)
            WriteChaosError(new ChaosException("ProxyServerNotFound", ChaosErrorCategory.ObjectNotFound, $"No ChaosPS proxy server listens on {Listen} in this session.", Listen));
        foreach (var s in servers)
        {
            if (!ShouldProcess(s.Listen, "Stop serving the toxiproxy HTTP API")) continue;
            s.Stop();
            if (PassThru) WriteObject(ChaosProxyServerInfo.From(s));
        }
    }
}
