using System.Diagnostics;

namespace ChaosPS.Stress;

/// <summary>The measuring loop every stressor runs while it holds its load: samples, progress, reach time, peak.</summary>
internal static class StressHold
{
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);

    /// <param name="sample">Returns the current value (and an optional second figure), or null when there is nothing to measure this time.</param>
    /// <param name="isReached">Whether a value counts as "target reached".</param>
    /// <param name="clock">Started when the stressor was started: reach time is measured from there.</param>
    /// <param name="stillRunning">Returns an error text when the stressor died under us.</param>
    public static async Task RunAsync(StressResult result, TimeSpan duration, Stopwatch clock,
        Func<(double Value, double? Secondary)?> sample, Func<double, bool> isReached, IChaosReporter reporter,
        string activity, CancellationToken ct, Func<string?>? stillRunning = null, TimeSpan? interval = null)
    {
        var every = interval ?? Interval;
        var holdStart = clock.Elapsed;
        TimeSpan? reachedAt = null;
        double sum = 0, peak = double.MinValue, min = double.MaxValue; int n = 0;
        double sumAll = 0; int nAll = 0;
        while (!ct.IsCancellationRequested)
        {
            var left = duration - (clock.Elapsed - holdStart);
            if (left <= TimeSpan.Zero) break;
            try { await Task.Delay(left < every ? left : every, ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            if (stillRunning?.Invoke() is { } died)
            {
                result.Notes.Add(died);
                reporter.Warning(died);
                break;
            }
            var s = sample();
            if (s is null) continue;
            var (v, sec) = s.Value;
            result.Samples.Add(new StressSample { Elapsed = clock.Elapsed, Value = Math.Round(v, 3), Secondary = sec is null ? null : Math.Round(sec.Value, 3) });
            peak = Math.Max(peak, v);
            sumAll += v; nAll++;
            if (reachedAt is null && isReached(v)) reachedAt = clock.Elapsed;
            if (reachedAt is not null) { sum += v; n++; min = Math.Min(min, v); }
            var held = clock.Elapsed - holdStart;
            int pct = (int)Math.Clamp(100 * held.TotalMilliseconds / Math.Max(1, duration.TotalMilliseconds), 0, 100);
            reporter.Progress(new ProgressInfo(activity, $"{v:0.#}{result.Unit} now (target {result.TargetValue:0.#}{result.Unit}, peak {peak:0.#}{result.Unit})",
                pct, reachedAt is null ? "reaching the target" : "holding", (int)Math.Max(0, (duration - held).TotalSeconds)));
        }
        result.Cancelled = ct.IsCancellationRequested;
        result.TimeToReach = reachedAt;
        result.HeldFor = reachedAt is null ? TimeSpan.Zero : clock.Elapsed - reachedAt.Value;
        result.Peak = nAll == 0 ? 0 : Math.Round(peak, 3);
        result.Reached = Math.Round(n > 0 ? sum / n : nAll > 0 ? sumAll / nAll : 0, 3);
        // Lowest while held; when the target was never reached, the lowest of all samples (never the mean, which sits above some samples).
        result.Minimum = n > 0 ? Math.Round(min, 3) : nAll > 0 ? result.Samples.Min(x => x.Value) : 0;
        reporter.Progress(new ProgressInfo(activity, "released", 100, Completed: true));
    }
}
