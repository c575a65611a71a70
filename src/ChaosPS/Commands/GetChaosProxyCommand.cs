using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>Lists proxies with their faults and live metrics (connections, bytes each way, toxic activations).</summary>
[Cmdlet(VerbsCommon.Get, "ChaosProxy")]
[OutputType(typeof(ChaosProxyInfo))]
public sealed class GetChaosProxyCommand : NetworkCmdletBase
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotBlank(AllowNull = true), ValidateChaosName(AllowWildcard = true)]
    public string[]? Name { get; set; }

    [Parameter]
    [ValidateNotBlank, ValidateHttpUri]
    public string? ToxiproxyUri { get; set; }

    protected override void ProcessRecord()
    {
        var backend = (IProxyBackend)BackendFor(ToxiproxyUri);
        if (!TryRun((r, ct) => backend.ListAsync(ct), out var all)) return;
        if (Name is null) { foreach (var p in all!) WriteObject(p); return; }
        foreach (var n in Name)
        {
            var pattern = new WildcardPattern(n, WildcardOptions.IgnoreCase);
            var hits = all!.Where(p => pattern.IsMatch(p.Name)).ToList();
            if (hits.Count == 0 && !WildcardPattern.ContainsWildcardCharacters(n))
                WriteChaosError(ProxyException.ProxyNotFound(n));
            foreach (var p in hits) WriteObject(p);
        }
    }
}
