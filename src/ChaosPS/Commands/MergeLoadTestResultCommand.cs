using System.Management.Automation;
using ChaosPS.Load;

namespace ChaosPS.Commands;

/// <summary>
/// Combines load test results from several generators (jobs, child processes, remoting, Import-Clixml) into one:
/// histograms add count by count, so the combined percentiles are exact; counters sum; thresholds are re-evaluated
/// on the combined data.
/// </summary>
[Cmdlet(VerbsData.Merge, "LoadTestResult")]
[OutputType(typeof(LoadTestResult))]
public sealed class MergeLoadTestResultCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public PSObject[]? InputObject { get; set; }

    /// <summary>Thresholds to evaluate on the merged result (default: those of the inputs).</summary>
    [ValidateNotBlank]
    [Parameter] public string[]? Threshold { get; set; }
    [ValidateNotBlank]
    [Parameter] public string? Name { get; set; }

    private readonly List<LoadTestResult> _inputs = [];

    protected override void BeginProcessing()
    {
        try { foreach (var t in Threshold ?? []) ThresholdSpec.ParseMany(t); }
        catch (ChaosException e) { ThrowChaosError(e); }
    }

    protected override void ProcessRecord()
    {
        foreach (var i in InputObject ?? [])
        {
            if (i is null) continue;
            try { _inputs.Add(LoadResultInput.From(i)); }
            catch (ChaosException e) { WriteChaosError(e); }
        }
    }

    protected override void EndProcessing()
    {
        if (_inputs.Count == 0) return;
        LoadStats? merged = null;
        foreach (var r in _inputs)
        {
            var s = LoadStats.FromJson(r.GetMergeState());
            if (merged is null) merged = s; else merged.Merge(s);
        }
        if (Threshold is not null) { merged!.Thresholds.Clear(); merged.Thresholds.AddRange(Threshold); }
        var first = _inputs[0];
        var meta = new LoadTestResult
        {
            Name = Name ?? (_inputs.Select(r => r.Name).Distinct().Count() == 1 ? first.Name : string.Join(" + ", _inputs.Select(r => r.Name).Distinct())),
            Uri = string.Join(", ", _inputs.Select(r => r.Uri).Distinct()),
            Model = string.Join("/", _inputs.Select(r => r.Model).Distinct()),
            Engine = string.Join("/", _inputs.Select(r => r.Engine).Distinct()),
            StartTime = _inputs.Min(r => r.StartTime),
            EndTime = _inputs.Max(r => r.EndTime),
            Duration = _inputs.Max(r => r.Duration),
            TargetRate = _inputs.Sum(r => r.TargetRate),
            MaxConcurrency = _inputs.Sum(r => r.MaxConcurrency),
            Aborted = _inputs.Any(r => r.Aborted),
            AbortReason = string.Join("; ", _inputs.Where(r => r.AbortReason is not null).Select(r => r.AbortReason)) is { Length: > 0 } a ? a : null,
            BreakingPoint = _inputs.Select(r => r.BreakingPoint).FirstOrDefault(b => b is not null),
            Generator = new GeneratorHealth
            {
                Cores = _inputs.Sum(r => r.Generator.Cores),
                CpuAvgPercent = _inputs.Max(r => r.Generator.CpuAvgPercent),
                CpuMaxPercent = _inputs.Max(r => r.Generator.CpuMaxPercent),
                PeakWorkingSetMB = _inputs.Max(r => r.Generator.PeakWorkingSetMB),
                LateSends = _inputs.Sum(r => r.Generator.LateSends),
                Dropped = _inputs.Sum(r => r.Generator.Dropped),
                Saturated = _inputs.Any(r => r.Generator.Saturated),
                Notes = string.Join("; ", _inputs.Select(r => r.Generator.Notes).Where(n => n is { Length: > 0 } && n != "ok").Distinct()) is { Length: > 0 } n ? n : "ok",
            },
        };
        WriteObject(LoadTestResult.From(merged!, meta));
    }
}
