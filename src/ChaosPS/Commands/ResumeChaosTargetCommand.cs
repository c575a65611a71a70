using System.Management.Automation;
using ChaosPS.Chaos;
using ChaosPS.Faults;

namespace ChaosPS.Commands;

/// <summary>Resumes suspended workers (SIGCONT / docker unpause) and removes their suspend faults from the ledger.</summary>
[Cmdlet(VerbsLifecycle.Resume, "ChaosTarget", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(SuspendResult))]
public sealed class ResumeChaosTargetCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public ChaosTarget[] Target { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var t in Target)
        {
            if (!IsValidTarget(t)) continue;
            if (!ShouldProcess(t.Display, t.IsContainer ? "Resume (docker unpause)" : "Resume (SIGCONT)")) continue;
            var result = RunEngine<SuspendResult?>(async (r, ct) =>
            {
                try { return await Suspender.ResumeAsync(t, FaultLedger.Default, ct); }
                catch (ChaosException e) { r.Error(e); return null; }
            });
            if (result is not null) WriteObject(result);
        }
    }
}
