using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>
/// Adds a fault (a toxiproxy toxic, or Down/RefuseConnect/ResetOnConnect) to a proxy; it applies to open connections
/// at once and stays until Remove-NetworkFault (or Restore-ChaosFault). The fault is recorded in the fault ledger first.
/// </summary>
[Cmdlet(VerbsCommon.Add, "NetworkFault", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(NetworkFaultInfo))]
public sealed class AddNetworkFaultCommand : NetworkFaultCmdletBase
{
    protected override void ProcessRecord()
    {
        var spec = BuildSpec();
        var backend = (IProxyBackend)BackendFor(ToxiproxyUri);
        var what = spec.Type == "down" ? "Disable (Down)" : $"Add {spec.Type} fault '{spec.Name}' ({Describe(spec)})";
        if (!ShouldProcess(DescribeTarget(), what)) return;
        // One bad proxy is a non-terminating error: the others go on.
        if (TryRun(async (r, ct) => (await NetworkFaults.ApplyAsync(backend, Proxy, spec, null, ct)).Info, out var info)) WriteObject(info);
    }
}
