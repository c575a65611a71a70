using System.Management.Automation;
using ChaosPS.Experiments.Reports;

namespace ChaosPS.Commands;

/// <summary>The verdicts of an experiment journal as test cases. Its help is module/help/Get-ChaosExperimentTestCase.md.</summary>
[Cmdlet(VerbsCommon.Get, "ChaosExperimentTestCase")]
[OutputType(typeof(JournalTestCase))]
public sealed class GetChaosExperimentTestCaseCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, Position = 0)]
    public PSObject? InputObject { get; set; }

    [Parameter, ValidateSet("Hypothesis", "Threshold", "Method", "Rollback", "Fault", "Recovery", "Degradation", "Verdict")]
    public string[]? Kind { get; set; }

    [Parameter] public SwitchParameter AsHashtable { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var item in JournalInput.Items(InputObject))
        {
            JournalDocument j;
            try { j = JournalInput.From(item, this); }
            catch (ChaosException e) { WriteChaosError(e); continue; }
            Write(j);
        }
    }

    private void Write(JournalDocument j)
    {
        foreach (var c in JournalTestCase.From(j))
        {
            if (Kind is { Length: > 0 } && !Kind.Contains(c.Kind, StringComparer.OrdinalIgnoreCase)) continue;
            if (!AsHashtable) { WriteObject(c); continue; }
            WriteObject(new System.Collections.Hashtable
            {
                ["Experiment"] = c.Experiment, ["Kind"] = c.Kind, ["Phase"] = c.Phase, ["Suite"] = c.Suite, ["Name"] = c.Name,
                ["Result"] = c.Result, ["Passed"] = c.Passed, ["Message"] = c.Message, ["Observed"] = c.Observed, ["Expected"] = c.Expected,
                ["Output"] = c.Output, ["Exception"] = c.Exception, ["At"] = c.At, ["DurationSeconds"] = c.DurationSeconds, ["JournalPath"] = c.JournalPath,
            });
        }
    }
}
