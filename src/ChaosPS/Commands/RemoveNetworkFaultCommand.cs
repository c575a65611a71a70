using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Removes faults from a proxy (by name, or all of them); open connections recover at once without losing data.</summary>
[Cmdlet(VerbsCommon.Remove, "NetworkFault", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low, DefaultParameterSetName = "ByName")]
[OutputType(typeof(NetworkFaultInfo))]
public sealed class RemoveNetworkFaultCommand : NetworkCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("ProxyName")]
    [ValidateNotBlank, ValidateChaosName]
    public string Proxy { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true, ParameterSetName = "ByName")]
    [ValidateNotBlank, ValidateChaosName(AllowWildcard = true)]
    public string[] Name { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = "All")]
    public SwitchParameter All { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank(AllowNull = true), ValidateHttpUri]
    public string? ToxiproxyUri { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var backend = (IProxyBackend)BackendFor(ToxiproxyUri);
        var names = Name;
        if (All)
        {
            if (!TryRun((r, ct) => backend.GetAsync(Proxy, ct), out var info)) return;
            names = info!.Toxics.Select(t => t.Name).ToArray();
            if (!info.Enabled && NetworkFaults.FindRecord(backend.Uri, Proxy, "down") is not null) names = [.. names, "down"];
        }
        foreach (var n in names)
        {
            if (!ShouldProcess($"proxy '{Proxy}'", $"Remove fault '{n}'")) continue;
            if (TryRun((r, ct) => NetworkFaults.RemoveAsync(backend, Proxy, n, ct)) && PassThru)
                WriteObject(NetworkFaultInfo.Removed(Proxy, n, backend.Uri));
        }
    }
}
