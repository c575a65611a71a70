using System.Diagnostics;
using System.Globalization;
using HdrHistogram;

namespace ChaosPS.Load;

/// <summary>
/// Runs a load test by wiring its parts: the <see cref="LoadScheduler"/> paces the requests (open model -Rate: each
/// request due at its intended time, latency counted from it, late and never-sent requests counted; closed model
/// -Concurrency: N virtual users loop request → response → think time), the engine that
/// <see cref="LoadEngineSelector"/> picks sends them through a <see cref="LoadRunContext"/>, and <see cref="LoadMetrics"/>
/// and <see cref="LoadChecks"/> count what came back. A 1 s ticker here folds the metrics into the run's cumulative
/// histograms and the per-second series, reports progress, checks thresholds (AbortOnFail), finds the breaking point
/// and ends the run (graceful, then hard).
/// </summary>
public sealed class LoadTestRunner
{
    private readonly LoadTestOptions _o;
    private readonly IChaosReporter _reporter;
    private readonly LoadStats _stats = new();
    private readonly LoadRunContext _run;
    private readonly LoadScheduler _scheduler;
    private readonly LoadMetrics _metrics;
    private long _hardStopTicks;
    private string? _abortReason;
    private ILoadEngine? _engine;

    public LoadTestRunner(LoadTestOptions options, IChaosReporter? reporter = null)
    {
        options.Validate();
        _o = options;
        _reporter = reporter ?? NullReporter.Instance;
        _run = LoadRunContext.For(options);
        _scheduler = _run.Scheduler;
        _metrics = _run.Metrics;
        _stats.Thresholds.AddRange(options.Thresholds);
    }

    /// <summary>The epoll engine of this run, when it has one (tests read its allocation count).</summary>
    internal EpollEngine? Epoll => _engine as EpollEngine;

    /// <summary>This run's counters and histograms (tests read them while it runs).</summary>
    internal LoadMetrics Metrics => _metrics;

    /// <summary>Test hook: called on the ticker after the interval histograms are swapped, with that second's latency count.</summary>
    internal Action<long>? AfterFold;

    internal int Connections => _o.IsOpen
        ? (_o.Connections > 0 ? _o.Connections : (int)Math.Clamp(Math.Ceiling(_o.PeakLevel / 20), 16, 512))
        : (int)Math.Ceiling(_o.PeakLevel);

    public async Task<LoadTestResult> RunAsync(CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        var proc = Process.GetCurrentProcess();
        var cpu0 = proc.TotalProcessorTime;
        int gen2 = GC.CollectionCount(2);
        _scheduler.Begin(Stopwatch.GetTimestamp());
        long t0 = _scheduler.T0, endTicks = _scheduler.EndTicks;
        double durationSec = _scheduler.DurationSeconds;
        var profile = _scheduler.Profile;
        _hardStopTicks = long.MaxValue;
        using var reg = ct.Register(() => Stop("cancelled", hard: true));

        int n = Connections;
        var engine = await LoadEngineSelector.CreateAsync(_run, n, ct).ConfigureAwait(false);
        _engine = engine;
        _scheduler.RampedDown = engine.ReleaseIdle;
        var workers = engine.Start();

        // Ticker: every second fold the recorders, report progress, check thresholds, detect the breaking point.
        var all = Task.WhenAll(workers);
        var cpuPrev = proc.TotalProcessorTime;
        long prevFail = 0, prevBytes = 0, prevLate = 0;
        var tickPrev = Stopwatch.GetTimestamp();
        double cpuMax = 0;
        string? breaking = null;
        var thresholdSpecs = _o.ParsedThresholds;
        int second = 0;
        while (true)
        {
            var done = await Task.WhenAny(all, Task.Delay(1000)).ConfigureAwait(false) == all;
            long now = Stopwatch.GetTimestamp();
            double elapsed = (now - t0) / (double)Stopwatch.Frequency;
            double wall = (now - tickPrev) / (double)Stopwatch.Frequency;
            tickPrev = now;
            proc.Refresh();
            var cpuNow = proc.TotalProcessorTime;
            double cpuPct = wall > 0 ? (cpuNow - cpuPrev).TotalSeconds / wall / Environment.ProcessorCount * 100 : 0;
            cpuPrev = cpuNow;
            cpuMax = Math.Max(cpuMax, cpuPct);

            var window = new LoadStats { DurationSeconds = Math.Max(wall, 1e-3) };
            var lat = _metrics.Fold(_stats, window);
            AfterFold?.Invoke(lat.TotalCount);
            long req = Interlocked.Read(ref _metrics.Requests), fail = Interlocked.Read(ref _metrics.Failed), bytes = Interlocked.Read(ref _metrics.BytesIn), late = Interlocked.Read(ref _scheduler.Late);
            // A second's request count is the number of latencies recorded in that second's histogram (every finished
            // request, success or failure, records exactly one), not the counter's difference: the counters are read
            // after the histograms are swapped, so a request finishing in between would count in this second while its
            // latency lands in the next (a second "with requests" and p50/p95/max of 0, or a threshold "with no data").
            long winReq = lat.TotalCount, winFail = Math.Clamp(fail - prevFail, 0, winReq);
            if (wall <= 0.05 && _stats.Series.Count > 0 && winReq > 0)
            {
                // The final fold right after the last tick: its few requests belong to the last second.
                var last = _stats.Series[^1];
                last.Requests += winReq; last.Failed += winFail;
                last.Max = Math.Max(last.Max, Math.Round(lat.GetMaxValue() / 1000.0, 3));
                if (last.P50 == 0) { last.P50 = Ms(lat, 50); last.P95 = Ms(lat, 95); last.P99 = Ms(lat, 99); }
                prevFail += winFail;
            }
            if (wall > 0.05)
            {
                second++;
                _stats.Series.Add(new LoadTimePoint
                {
                    Second = second, Requests = winReq, Failed = winFail,
                    RequestsPerSecond = Math.Round(winReq / wall, 1), BytesReceived = bytes - prevBytes,
                    P50 = Ms(lat, 50), P95 = Ms(lat, 95), P99 = Ms(lat, 99), Max = lat.TotalCount > 0 ? Math.Round(lat.GetMaxValue() / 1000.0, 3) : 0,
                    Target = Math.Round(profile.LevelAt(Math.Min(elapsed, durationSec)), 1), InFlight = Interlocked.Read(ref _metrics.InFlight),
                    Late = late - prevLate, CpuPercent = Math.Round(cpuPct, 1),
                });
                window.Requests = winReq; window.Failed = winFail; window.Late = late - prevLate; window.BytesReceived = bytes - prevBytes;
                if (breaking is null && thresholdSpecs.Count > 0 && !done && winReq > 0)
                {
                    // A threshold with no data in this second (e.g. ttfb when every request failed) is no evidence of a break.
                    var failedNow = ThresholdEvaluator.Evaluate(thresholdSpecs, window).Where(t => !t.Passed && t.Actual is not null).ToList();
                    if (failedNow.Count > 0)
                    {
                        double t = Math.Min(elapsed, durationSec);
                        int st = profile.StageAt(t);
                        string stageText = _o.Stages.Count > 0 ? $"stage {st + 1} ({_o.Stages[st]})" : "steady state";
                        breaking = $"{stageText} at {t:0}s, {(_o.IsOpen ? "rate" : "VUs")} {profile.LevelAt(t):0} ({winReq} req in that second): " +
                                   string.Join("; ", failedNow.Select(f => $"{f.Metric}: {f.Expression} (was {(f.Actual is { } a ? a.ToString("0.###", CultureInfo.InvariantCulture) : "no data")})"));
                    }
                }
                prevFail += winFail; prevBytes = bytes; prevLate = late;
            }
            if (_o.AbortOnFail && thresholdSpecs.Count > 0 && !done && !_scheduler.StopRequested)
            {
                _stats.Requests = req; _stats.Failed = fail; _stats.Late = late; _stats.DurationSeconds = elapsed;
                CopyCounters();
                var failedCum = ThresholdEvaluator.Evaluate(thresholdSpecs, _stats).Where(t => !t.Passed && t.Actual is not null).ToList();
                if (failedCum.Count > 0) Stop("threshold failed: " + string.Join("; ", failedCum.Select(f => $"{f.Metric}: {f.Expression}")), hard: false);
            }
            if (!done)
            {
                var h = _stats.Find(LoadHistograms.Latency);
                double p95 = h is null ? 0 : h.GetValueAtPercentile(95) / 1000.0;
                int pct = endTicks == long.MaxValue ? (_o.Iterations is { } it ? (int)(100.0 * req / it) : -1) : (int)(100 * Math.Min(1, elapsed / durationSec));
                _reporter.Progress(new ProgressInfo($"Start-LoadTest {_o.Name}",
                    $"{TimeSpan.FromSeconds(Math.Round(elapsed)):hh\\:mm\\:ss} | {(second > 0 ? _stats.Series[^1].RequestsPerSecond : 0):0} req/s | p95 {p95:0.##} ms | errors {fail} ({(req == 0 ? 0 : 100.0 * fail / req):0.##}%) | in flight {Interlocked.Read(ref _metrics.InFlight)}",
                    pct, null, endTicks == long.MaxValue ? -1 : (int)Math.Max(0, durationSec - elapsed)));
                // Graceful end: once the run time is over, in-flight requests get up to -Timeout (at most 10 s) to finish.
                if (now >= endTicks + _scheduler.LateTicks && !_scheduler.StopRequested) Stop(null, hard: false);
                if (_scheduler.StopRequested && _hardStopTicks == long.MaxValue)
                    _hardStopTicks = now + (long)(Math.Min(_o.Timeout.TotalSeconds, 10) * Stopwatch.Frequency);
                if (now >= _hardStopTicks) Stop(null, hard: true);
                continue;
            }
            break;
        }
        await all.ConfigureAwait(false);
        engine.Dispose();

        long end = Stopwatch.GetTimestamp();
        double runSec = Math.Min((end - t0) / (double)Stopwatch.Frequency, endTicks == long.MaxValue ? double.MaxValue : durationSec);
        if (_abortReason is not null) runSec = (end - t0) / (double)Stopwatch.Frequency;
        _stats.DurationSeconds = Math.Max(runSec, 1e-3);
        long requests = _metrics.Requests, lateAll = _scheduler.Late, lateGenerator = _scheduler.LateGenerator;
        _stats.Requests = requests; _stats.Failed = _metrics.Failed; _stats.Late = lateAll;
        CopyCounters();
        if (_o.IsOpen)
        {
            // Everything scheduled before the end (or the abort) and never sent is dropped.
            long scheduled = _scheduler.ScheduledBy(runSec);
            _stats.Scheduled = scheduled;
            _stats.Dropped = Math.Max(_scheduler.Dropped, scheduled - requests - Interlocked.Read(ref _scheduler.Abandoned));
        }
        else _stats.Scheduled = requests;

        proc.Refresh();
        var cpuAll = (proc.TotalProcessorTime - cpu0).TotalSeconds / Math.Max(runSec, 1e-3) / Environment.ProcessorCount * 100;
        var meta = new LoadTestResult
        {
            Name = UriRedaction.Redact(_o.Name)!,
            Uri = UriRedaction.Redact(_o.Requests[0].Uri.ToString())! + (_o.Requests.Count > 1 ? $" (+{_o.Requests.Count - 1} more)" : ""),
            Model = _o.IsOpen ? "Open" : "Closed",
            Engine = engine.Name,
            StartTime = started,
            EndTime = DateTime.UtcNow,
            Duration = TimeSpan.FromSeconds(Math.Round(runSec, 3)),
            TargetRate = _o.IsOpen ? _o.PeakLevel : 0,
            MaxConcurrency = n,
            Aborted = _abortReason is not null,
            AbortReason = UriRedaction.Redact(_abortReason),
            BreakingPoint = breaking,
        };
        var usage = new LoadMetrics.GeneratorUsage(cpuAll, cpuMax, proc.PeakWorkingSet64 / 1048576.0, GC.CollectionCount(2) - gen2);
        return _metrics.Assemble(_stats, meta, lateAll, lateGenerator, n, usage);
    }

    private void CopyCounters()
    {
        _metrics.CopyCountersTo(_stats);
        _run.Checks.CopyCountersTo(_stats);
    }

    private static double Ms(HistogramBase h, double p) => h.TotalCount == 0 ? 0 : Math.Round(h.GetValueAtPercentile(p) / 1000.0, 3);

    private void Stop(string? reason, bool hard)
    {
        if (reason is not null && _abortReason is null) _abortReason = reason;
        if (_scheduler.Stop(hard)) _engine?.Stop(hard: true);
    }
}
