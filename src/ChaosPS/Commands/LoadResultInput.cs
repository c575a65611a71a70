using System.Management.Automation;
using ChaosPS.Load;

namespace ChaosPS.Commands;

/// <summary>Turns pipeline input into a LoadTestResult: the live object, or one that went through Export-Clixml, a job or remoting.</summary>
internal static class LoadResultInput
{
    public static LoadTestResult From(PSObject input)
    {
        if (input.BaseObject is LoadTestResult live) return live;
        var state = input.Properties["MergeState"]?.Value?.ToString();
        if (string.IsNullOrEmpty(state))
            throw new ChaosException("NotALoadTestResult", ChaosErrorCategory.InvalidArgument,
                "The input is not a load test result (it has no MergeState property).", input, "Pipe the output of Start-LoadTest (or Import-Clixml of it).");
        T? P<T>(string name)
        {
            var v = input.Properties[name]?.Value;
            if (v is PSObject p) v = p.BaseObject;
            try { return v is null ? default : (T)LanguagePrimitives.ConvertTo(v, typeof(T)); } catch (PSInvalidCastException) { return default; }
        }
        var meta = new LoadTestResult
        {
            Name = P<string>("Name") ?? "load", Uri = P<string>("Uri") ?? "", Model = P<string>("Model") ?? "", Engine = P<string>("Engine") ?? "",
            StartTime = P<DateTime>("StartTime"), EndTime = P<DateTime>("EndTime"), Duration = P<TimeSpan>("Duration"),
            TargetRate = P<double>("TargetRate"), MaxConcurrency = P<int>("MaxConcurrency"), Aborted = P<bool>("Aborted"),
            AbortReason = P<string>("AbortReason"), BreakingPoint = P<string>("BreakingPoint"),
        };
        var gen = input.Properties["Generator"]?.Value as PSObject;
        if (gen is not null)
        {
            T G<T>(string n) { var v = gen.Properties[n]?.Value; try { return v is null ? default! : (T)LanguagePrimitives.ConvertTo(v, typeof(T)); } catch (PSInvalidCastException) { return default!; } }
            meta.Generator = new GeneratorHealth
            {
                Cores = G<int>("Cores"), CpuAvgPercent = G<double>("CpuAvgPercent"), CpuMaxPercent = G<double>("CpuMaxPercent"), PeakWorkingSetMB = G<double>("PeakWorkingSetMB"),
                LateSends = G<long>("LateSends"), LateRatio = G<double>("LateRatio"), Dropped = G<long>("Dropped"), Saturated = G<bool>("Saturated"), Notes = G<string>("Notes") ?? "",
            };
        }
        try { return LoadTestResult.From(LoadStats.FromJson(state), meta); }
        catch (Exception e) when (e is not ChaosException)
        {
            throw new ChaosException("BadMergeState", ChaosErrorCategory.InvalidData, $"The load test result's MergeState does not decode: {e.Message}", input);
        }
    }
}
