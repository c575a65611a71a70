using System.Management.Automation;
using ChaosPS.Faults;

namespace ChaosPS.Commands;

/// <summary>Undoes faults from the ledger by id, or all of them. Idempotent: an id already restored reports AlreadyRestored.</summary>
[Cmdlet(VerbsData.Restore, "ChaosFault", DefaultParameterSetName = "ById", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(FaultRestoreResult))]
public sealed class RestoreChaosFaultCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true, ParameterSetName = "ById")]
    [Alias("FaultId")]
    [ValidateNotBlank, ValidateChaosName]
    public string[] Id { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = "All")]
    public SwitchParameter All { get; set; }

    protected override void ProcessRecord()
    {
        var ledger = FaultLedger.Default;
        IEnumerable<string> ids;
        try
        {
            if (All)
            {
                var (records, refused) = ledger.ListChecked();
                foreach (var bad in refused) WriteChaosError(bad);
                ids = records.Select(f => f.Id);
            }
            else { ledger.EnsureTrusted(); ids = Id; }
        }
        catch (ChaosException e) { ThrowChaosError(e); return; }
        foreach (var id in ids)
        {
            FaultRecord? record;
            try { record = ledger.Get(id); }
            catch (ChaosException e) { WriteChaosError(e); continue; }
            var what = record is null ? $"fault {id}" : $"{record.Kind} on {record.Target} ({id})";
            if (!ShouldProcess(what, "Undo fault")) continue;
            var result = RunEngine((_, ct) => ledger.RestoreAsync(id, $"Restore-ChaosFault in process {Environment.ProcessId}", ct));
            if (result.Outcome == "Failed")
                WriteChaosError(new ChaosException("FaultRestoreFailed", ChaosErrorCategory.InvalidResult,
                    $"Undoing {what} failed: {result.Error}. The fault stays in the ledger.", id,
                    "Fix the cause and run Restore-ChaosFault again, or restore the target by hand."));
            WriteObject(result);
        }
    }
}
