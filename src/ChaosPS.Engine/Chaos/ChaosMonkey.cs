using System.Diagnostics;

namespace ChaosPS.Chaos;

/// <summary>Repeated random crashes: every interval, pick N of the (re-resolved) targets and crash them.</summary>
public static class ChaosMonkey
{
    public static async Task RunAsync(IReadOnlyList<ChaosTarget> targets, Crasher.Options o, TimeSpan interval, TimeSpan duration, int perRound,
        int? seed, IChaosReporter reporter, CancellationToken ct)
    {
        var rng = seed is { } s ? new Random(s) : new Random();
        var current = targets.ToList();
        var sw = Stopwatch.StartNew();
        int round = 0, crashes = 0;
        while (sw.Elapsed < duration && !ct.IsCancellationRequested)
        {
            round++;
            // The workers crashed in earlier rounds came back with new pids (or the same container): find them again.
            var live = new List<ChaosTarget>();
            for (int i = 0; i < current.Count; i++)
            {
                var now = await Crasher.ReresolveAsync(current[i], ct).ConfigureAwait(false);
                if (now is not null) { current[i] = now; live.Add(now); }
            }
            var pick = live.OrderBy(_ => rng.Next()).Take(perRound).ToList();
            if (pick.Count == 0) reporter.Warning($"Round {round}: none of the {current.Count} targets is alive right now; skipping.");
            var results = await Crasher.CrashAllAsync(pick, o, reporter, ct).ConfigureAwait(false);
            foreach (var r in results) reporter.Output(r);
            crashes += results.Count;
            var next = TimeSpan.FromTicks(interval.Ticks * round) - sw.Elapsed;
            while (next > TimeSpan.Zero && sw.Elapsed < duration && !ct.IsCancellationRequested)
            {
                reporter.Progress(new ProgressInfo("Invoke-WorkerCrash (chaos monkey)", $"round {round}, {crashes} crash(es) so far",
                    (int)Math.Min(100, 100 * sw.Elapsed.TotalMilliseconds / duration.TotalMilliseconds),
                    SecondsRemaining: (int)(duration - sw.Elapsed).TotalSeconds));
                var step = next < TimeSpan.FromMilliseconds(250) ? next : TimeSpan.FromMilliseconds(250);
                try { await Task.Delay(step, ct).ConfigureAwait(false); } catch (OperationCanceledException) { return; }
                next = TimeSpan.FromTicks(interval.Ticks * round) - sw.Elapsed;
            }
        }
    }
}
