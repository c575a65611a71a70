using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Stops proxies: closes the listener and every connection, discards the faults, frees the name.</summary>
[Cmdlet(VerbsLifecycle.Stop, "ChaosProxy", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ChaosProxyInfo))]
public sealed class StopChaosProxyCommand : NetworkCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotBlank, ValidateChaosName(AllowWildcard = true)]
    public string[] Name { get; set; } = [];

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank(AllowNull = true), ValidateHttpUri]
    public string? ToxiproxyUri { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var backend = (IProxyBackend)BackendFor(ToxiproxyUri);
        if (!TryRun((r, ct) => backend.ListAsync(ct), out var all)) return;
        foreach (var n in Name)
        {
            var pattern = new WildcardPattern(n, WildcardOptions.IgnoreCase);
            var hits = all!.Where(p => pattern.IsMatch(p.Name)).ToList();
            if (hits.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(n)) WriteChaosError(ProxyException.ProxyNotFound(n));
            foreach (var p in hits)
            {
                if (!ShouldProcess($"proxy '{p.Name}' ({p.Listen} -> {p.Upstream})", "Stop (close every connection, discard its faults)")) continue;
                if (TryRun(async (r, ct) =>
                {
                    await backend.DeleteAsync(p.Name, ct).ConfigureAwait(false);
                    // Faults recorded for this proxy are gone with it: drop their ledger records.
                    foreach (var t in p.Toxics.Select(t => t.Name).Append("down"))
                        if (NetworkFaults.FindRecord(backend.Uri, p.Name, t) is { } rec) ChaosPS.Faults.FaultLedger.Default.Forget(rec.Id);
                }) && PassThru) WriteObject(p);
            }
        }
    }
}
