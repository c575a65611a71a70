using System.Management.Automation;
using ChaosPS.Load;

namespace ChaosPS.Commands;

/// <summary>Combines load test results from several generators. Its help is module/help/Merge-LoadTestResult.md.</summary>
[Cmdlet(VerbsData.Merge, "LoadTestResult")]
[OutputType(typeof(LoadTestResult))]
public sealed class MergeLoadTestResultCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public PSObject[]? InputObject { get; set; }

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
        WriteObject(LoadResultMerge.Merge(_inputs, Threshold, Name));
    }
}

/// <summary>The one merge of load test results: histograms add count by count, counters sum, thresholds re-evaluated.</summary>
internal static class LoadResultMerge
{
    public static LoadTestResult Merge(IReadOnlyList<LoadTestResult> inputs, IReadOnlyList<string>? thresholds, string? name)
    {
        LoadStats? merged = null;
        foreach (var r in inputs)
        {
            var s = LoadStats.FromJson(r.GetMergeState());
            if (merged is null) merged = s; else merged.Merge(s);
        }
        if (thresholds is not null) { merged!.Thresholds.Clear(); merged.Thresholds.AddRange(thresholds); }
        var first = inputs[0];
        var meta = new LoadTestResult
        {
            Name = name ?? (inputs.Select(r => r.Name).Distinct().Count() == 1 ? first.Name : string.Join(" + ", inputs.Select(r => r.Name).Distinct())),
            Uri = string.Join(", ", inputs.Select(r => r.Uri).Distinct()),
            Model = string.Join("/", inputs.Select(r => r.Model).Distinct()),
            Engine = string.Join("/", inputs.Select(r => r.Engine).Distinct()),
            StartTime = inputs.Min(r => r.StartTime),
            EndTime = inputs.Max(r => r.EndTime),
            Duration = inputs.Max(r => r.Duration),
            TargetRate = inputs.Sum(r => r.TargetRate),
            MaxConcurrency = inputs.Sum(r => r.MaxConcurrency),
            Aborted = inputs.Any(r => r.Aborted),
            AbortReason = string.Join("; ", inputs.Where(r => r.AbortReason is not null).Select(r => r.AbortReason)) is { Length: > 0 } a ? a : null,
            BreakingPoint = inputs.Select(r => r.BreakingPoint).FirstOrDefault(b => b is not null),
            Generator = new GeneratorHealth
            {
                Cores = inputs.Sum(r => r.Generator.Cores),
                CpuAvgPercent = inputs.Max(r => r.Generator.CpuAvgPercent),
                CpuMaxPercent = inputs.Max(r => r.Generator.CpuMaxPercent),
                PeakWorkingSetMB = inputs.Max(r => r.Generator.PeakWorkingSetMB),
                LateSends = inputs.Sum(r => r.Generator.LateSends),
                Dropped = inputs.Sum(r => r.Generator.Dropped),
                Saturated = inputs.Any(r => r.Generator.Saturated),
                Notes = string.Join("; ", inputs.Select(r => r.Generator.Notes).Where(n => n is { Length: > 0 } && n != "ok").Distinct()) is { Length: > 0 } n ? n : "ok",
            },
        };
        return LoadTestResult.From(merged!, meta);
    }
}
