using System.Management.Automation;
using ChaosPS.Faults;

namespace ChaosPS.Commands;

/// <summary>Lists the faults ChaosPS has applied and not yet undone (the fault ledger), from every session of this user.</summary>
[Cmdlet(VerbsCommon.Get, "ChaosFault")]
[OutputType(typeof(FaultRecord))]
public sealed class GetChaosFaultCommand : ChaosCmdlet
{
    [Parameter(Position = 0, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ValidateNotBlank(AllowNull = true), ValidateWildcard]
    public string[]? Id { get; set; }

    [Parameter]
    [ValidateNotBlank, ValidateWildcard]
    public string[]? Kind { get; set; }

    protected override void ProcessRecord()
    {
        var patterns = Id?.Select(i => new WildcardPattern(i, WildcardOptions.IgnoreCase)).ToList();
        IReadOnlyList<FaultRecord> records;
        IReadOnlyList<ChaosException> refused;
        try { (records, refused) = FaultLedger.Default.ListChecked(); }
        catch (ChaosException e) { ThrowChaosError(e); return; }
        foreach (var bad in refused) WriteChaosError(bad);
        foreach (var f in records)
        {
            if (patterns is not null && !patterns.Any(p => p.IsMatch(f.Id))) continue;
            if (Kind is not null && !Kind.Contains(f.Kind, StringComparer.OrdinalIgnoreCase)) continue;
            WriteObject(f);
        }
    }
}
