using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;

namespace ChaosPS.Stress;

/// <summary>Only loopback targets: ChaosPS's stress and probe traffic never leaves the machine.</summary>
public static class LoopbackGuard
{
    public static void Check(Uri uri)
    {
        if (!uri.IsAbsoluteUri || uri.Scheme is not ("http" or "https"))
            throw ChaosException.InvalidArgument("InvalidUri", $"'{uri}' is not an absolute http(s) URI.", uri);
        if (Loopback.AddressOf(uri) is null)
            throw new ChaosException("NonLoopbackTarget", ChaosErrorCategory.SecurityError,
                $"'{uri.Host}' is not a loopback address; ChaosPS probes only 127.0.0.0/8, ::1 and localhost.", uri, "Aim at a target on this machine.");
    }
}

public sealed class ProbeOptions
{
    public Uri Uri { get; init; } = new("http://127.0.0.1/");
    public string Method { get; init; } = "GET";
    public string? Body { get; init; }
    public string ContentType { get; init; } = "application/json";
    /// <summary>Requests per second, started on a fixed schedule (open model): a slow target does not slow the probe.</summary>
    public double Rate { get; init; } = 10;
    public int MaxConcurrency { get; init; } = 32;
    /// <summary>A request still unanswered after this counts as a hang (and is cancelled).</summary>
    public TimeSpan HangTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

public sealed class DegradationCriteria
{
    public int[] AcceptableStatus { get; init; } = [200, 429, 503, 507];
    public int[] HealthyStatus { get; init; } = [200];
    /// <summary>Largest share of requests (stress + recovery phases) that may fail: an unacceptable status, a connection error or a hang.</summary>
    public double MaxErrorRate { get; init; } = 0.05;
    /// <summary>Hangs tolerated (default none).</summary>
    public int MaxHangs { get; init; }
    /// <summary>After the stress ends the target must be healthy again within this.</summary>
    public TimeSpan RecoveryTimeout { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Healthy answers in a row that count as recovered.</summary>
    public int RecoveryConsecutive { get; init; } = 3;
}

/// <summary>One probe request.</summary>
public sealed class ProbeRecord
{
    public TimeSpan At { get; init; }
    public string Phase { get; init; } = "";
    public int? Status { get; set; }
    public string? Error { get; set; }
    public double LatencyMs { get; set; }
    public bool Hang { get; set; }
    public override string ToString() => $"{At.TotalSeconds:0.00}s {Phase} {(Status?.ToString() ?? Error)} {LatencyMs:0}ms";
}

/// <summary>What the probe saw in one phase.</summary>
public sealed class PhaseSummary
{
    public string Phase { get; init; } = "";
    public int Requests { get; init; }
    public Dictionary<string, int> Statuses { get; init; } = [];
    public int Errors { get; init; }
    public int Hangs { get; init; }
    /// <summary>Probe requests that could not be started on time because MaxConcurrency were still in flight.</summary>
    public int Skipped { get; init; }
    public double ErrorRate { get; init; }
    public double P50Ms { get; init; }
    public double P99Ms { get; init; }
    public double MaxMs { get; init; }
    public TimeSpan Duration { get; init; }
    public override string ToString() => $"{Phase}: {Requests} req, {string.Join(' ', Statuses.Select(kv => $"{kv.Key}x{kv.Value}"))}, errors {Errors}, hangs {Hangs}, p99 {P99Ms:0}ms";
}

/// <summary>The verdict of Test-GracefulDegradation, with its evidence.</summary>
public sealed class DegradationVerdict
{
    public string Uri { get; init; } = "";
    /// <summary>Graceful (every criterion met), NotGraceful, or Inconclusive (the target was not healthy before the stress, nothing was measured during it, the stress script failed, or a stressor never reached its target).</summary>
    public string Verdict { get; set; } = "";
    public bool Passed { get; set; }
    public List<string> Reasons { get; } = [];
    public PhaseSummary? Baseline { get; set; }
    public PhaseSummary? Stress { get; set; }
    public PhaseSummary? Recovery { get; set; }
    /// <summary>Time from the end of the stress to the first of the healthy answers in a row; null when it never recovered.</summary>
    public TimeSpan? TimeToRecover { get; set; }
    /// <summary>True when the stress visibly changed the answers (a non-healthy status, an error, or p99 latency at least doubled).</summary>
    public bool DegradationObserved { get; set; }
    public double ErrorRate { get; set; }
    public int Hangs { get; set; }
    public DegradationCriteria Criteria { get; init; } = new();
    /// <summary>What the stressors returned (StressResult objects).</summary>
    public object[] StressResults { get; set; } = [];
    public string? StressError { get; set; }
    /// <summary>False when a stressor in StressResults never reached its target (a busy machine): the verdict is then Inconclusive.</summary>
    public bool StressReached { get; set; } = true;
    public DateTimeOffset StartedAt { get; init; } = DateTimeOffset.UtcNow;
    public DateTimeOffset EndedAt { get; set; }
    public List<ProbeRecord> Timeline { get; init; } = [];
}

/// <summary>
/// The engine's own probe: an open-model request loop against one loopback URI, tagging every answer with the phase it
/// fell in (Baseline, Stress, Recovery), and the judge that turns the records into a verdict.
/// </summary>
public sealed class DegradationProbe : IAsyncDisposable
{
    private readonly ProbeOptions _o;
    private readonly HttpClient _http;
    private readonly ConcurrentQueue<ProbeRecord> _records = new();
    private readonly ConcurrentDictionary<string, int> _skipped = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _clock = new();
    private volatile string _phase = "Baseline";
    private readonly ConcurrentDictionary<string, TimeSpan> _phaseStart = new();
    private Task? _loop;
    private int _inflight;

    public DegradationProbe(ProbeOptions o)
    {
        LoopbackGuard.Check(o.Uri);
        if (!(o.Rate > 0 && o.Rate <= 10000)) throw ChaosException.InvalidArgument("RateOutOfRange", $"-Rate {o.Rate} must be between 0 and 10000 per second.", o.Rate);
        InputRules.Duration(o.HangTimeout, "HangTimeout", max: TimeSpan.FromHours(1));
        InputRules.HttpMethod(o.Method);
        _o = o;
        _http = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = o.MaxConcurrency, PooledConnectionLifetime = TimeSpan.FromSeconds(2), ConnectTimeout = o.HangTimeout, UseProxy = false,
        }) { Timeout = Timeout.InfiniteTimeSpan };
    }

    public IReadOnlyList<ProbeRecord> Records => _records.ToList();
    public TimeSpan Elapsed => _clock.Elapsed;
    public string Phase => _phase;

    public void Start()
    {
        _clock.Start();
        _phaseStart[_phase] = TimeSpan.Zero;
        _loop = Task.Run(LoopAsync);
    }

    public void SetPhase(string phase) { _phaseStart[phase] = _clock.Elapsed; _phase = phase; }
    public TimeSpan? PhaseStart(string phase) => _phaseStart.TryGetValue(phase, out var t) ? t : null;

    private async Task LoopAsync()
    {
        var interval = TimeSpan.FromSeconds(1.0 / _o.Rate);
        long n = 0;
        var running = new List<Task>();
        while (!_stop.IsCancellationRequested)
        {
            var due = interval * n++;
            var wait = due - _clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                try { await Task.Delay(wait, _stop.Token).ConfigureAwait(false); } catch (OperationCanceledException) { break; }
            }
            if (Volatile.Read(ref _inflight) >= _o.MaxConcurrency) { _skipped.AddOrUpdate(_phase, 1, (_, v) => v + 1); continue; }
            running.RemoveAll(t => t.IsCompleted);
            running.Add(OneAsync(_phase));
        }
        await Task.WhenAll(running).ConfigureAwait(false);
    }

    private async Task OneAsync(string phase)
    {
        Interlocked.Increment(ref _inflight);
        var rec = new ProbeRecord { At = _clock.Elapsed, Phase = phase };
        var sw = Stopwatch.StartNew();
        using var cts = new CancellationTokenSource(_o.HangTimeout);
        try
        {
            using var req = new HttpRequestMessage(new HttpMethod(_o.Method), _o.Uri);
            if (_o.Body is not null) req.Content = new StringContent(_o.Body, Encoding.UTF8, _o.ContentType);
            using var resp = await _http.SendAsync(req, HttpCompletionOption.ResponseContentRead, cts.Token).ConfigureAwait(false);
            rec.Status = (int)resp.StatusCode;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested) { rec.Hang = true; rec.Error = $"no answer within {DurationParser.Format(_o.HangTimeout)}"; }
        catch (HttpRequestException e) { rec.Error = e.HttpRequestError.ToString(); }
        catch (Exception e) when (e is IOException or InvalidOperationException) { rec.Error = e.GetType().Name; }
        finally
        {
            rec.LatencyMs = Math.Round(sw.Elapsed.TotalMilliseconds, 2);
            _records.Enqueue(rec);
            Interlocked.Decrement(ref _inflight);
        }
    }

    /// <summary>Waits for <paramref name="duration"/> with progress (the baseline phase).</summary>
    public async Task HoldPhaseAsync(TimeSpan duration, IChaosReporter reporter, CancellationToken ct)
    {
        var end = _clock.Elapsed + duration;
        while (_clock.Elapsed < end)
        {
            ct.ThrowIfCancellationRequested();
            reporter.Progress(new ProgressInfo("Graceful degradation", $"{_phase}: {Summarise(_phase, null).ToString()}", -1, ActivityId: 3));
            await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(250, Math.Max(1, (end - _clock.Elapsed).TotalMilliseconds))), ct).ConfigureAwait(false);
        }
    }

    /// <summary>Waits until <see cref="DegradationCriteria.RecoveryConsecutive"/> healthy answers in a row arrive in the Recovery phase, or the timeout. Returns the time to recover.</summary>
    public async Task<TimeSpan?> WaitRecoveredAsync(DegradationCriteria c, IChaosReporter reporter, CancellationToken ct)
    {
        var start = PhaseStart("Recovery") ?? _clock.Elapsed;
        while (_clock.Elapsed - start < c.RecoveryTimeout + _o.HangTimeout)
        {
            ct.ThrowIfCancellationRequested();
            if (Recovered(c) is { } t) return t;
            reporter.Progress(new ProgressInfo("Graceful degradation", $"Recovery: waiting for {c.RecoveryConsecutive} healthy answers in a row ({(_clock.Elapsed - start).TotalSeconds:0}s)", -1, ActivityId: 3));
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
        return Recovered(c);
    }

    /// <summary>Time from the start of Recovery to the first of N healthy answers in a row (in send order).</summary>
    public TimeSpan? Recovered(DegradationCriteria c)
    {
        var start = PhaseStart("Recovery");
        if (start is null) return null;
        int run = 0; TimeSpan? first = null;
        foreach (var r in _records.Where(r => r.Phase == "Recovery").OrderBy(r => r.At))
        {
            if (r.Status is { } s && c.HealthyStatus.Contains(s)) { if (run++ == 0) first = r.At; if (run >= c.RecoveryConsecutive) return first - start; }
            else { run = 0; first = null; }
        }
        return null;
    }

    public async Task StopAsync()
    {
        if (!_stop.IsCancellationRequested) _stop.Cancel();
        if (_loop is not null) { try { await _loop.ConfigureAwait(false); } catch (OperationCanceledException) { } }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _http.Dispose();
        _stop.Dispose();
    }

    public PhaseSummary Summarise(string phase, DegradationCriteria? c)
    {
        var recs = _records.Where(r => r.Phase == phase).ToList();
        var acceptable = c?.AcceptableStatus ?? [200, 429, 503, 507];
        int errors = recs.Count(r => r.Status is null || !acceptable.Contains(r.Status.Value));
        var lat = recs.Select(r => r.LatencyMs).Order().ToList();
        double Q(double q) => lat.Count == 0 ? 0 : lat[Math.Min(lat.Count - 1, (int)Math.Ceiling(q * lat.Count) - 1 < 0 ? 0 : (int)Math.Ceiling(q * lat.Count) - 1)];
        var start = PhaseStart(phase) ?? TimeSpan.Zero;
        var next = _phaseStart.Values.Where(t => t > start).DefaultIfEmpty(_clock.Elapsed).Min();
        return new PhaseSummary
        {
            Phase = phase, Requests = recs.Count,
            Statuses = recs.GroupBy(r => r.Status?.ToString() ?? (r.Hang ? "hang" : r.Error ?? "error")).OrderBy(g => g.Key).ToDictionary(g => g.Key, g => g.Count()),
            Errors = errors, Hangs = recs.Count(r => r.Hang), Skipped = _skipped.GetValueOrDefault(phase),
            ErrorRate = recs.Count == 0 ? 0 : Math.Round((double)errors / recs.Count, 4),
            P50Ms = Q(0.5), P99Ms = Q(0.99), MaxMs = lat.Count == 0 ? 0 : lat[^1], Duration = next - start,
        };
    }

    /// <summary>
    /// Folds what the stress script returned into a verdict: a stress that failed, or a stressor that never reached its
    /// target, proves nothing about degradation under that load, so the verdict becomes Inconclusive (Passed false);
    /// a NotGraceful verdict stays NotGraceful when the stress merely fell short (it failed under less load).
    /// </summary>
    public static void ApplyStress(DegradationVerdict verdict, IReadOnlyList<object> outputs, string? stressError)
    {
        verdict.StressResults = outputs.ToArray();
        verdict.StressError = stressError;
        var unreached = outputs.OfType<StressResult>().Where(r => r.TimeToReach is null).ToList();
        verdict.StressReached = unreached.Count == 0;
        foreach (var r in unreached)
            verdict.Reasons.Insert(0, $"the {r.Kind} stressor never reached its target (mean {r.Reached:0.##}{r.Unit} of {r.TargetValue:0.##}{r.Unit}): the stress did not happen, so nothing was measured under it");
        if (stressError is not null)
            verdict.Reasons.Insert(0, $"the stress script failed: {stressError}");
        // A stress that did not run proves nothing; one that did not reach its load cannot prove graceful behaviour
        // under that load (a NotGraceful verdict stands: the target failed under less load than asked for).
        if (stressError is not null || unreached.Count > 0 && verdict.Verdict != "NotGraceful")
        {
            verdict.Verdict = "Inconclusive";
            verdict.Passed = false;
        }
    }

    /// <summary>Judges the run against the criteria.</summary>
    public DegradationVerdict Judge(DegradationCriteria c, TimeSpan? timeToRecover, DateTimeOffset startedAt)
    {
        var v = new DegradationVerdict { Uri = UriRedaction.Redact(_o.Uri.ToString())!, Criteria = c, StartedAt = startedAt, Timeline = _records.OrderBy(r => r.At).ToList() };
        v.Baseline = Summarise("Baseline", c);
        v.Stress = Summarise("Stress", c);
        v.Recovery = Summarise("Recovery", c);
        v.TimeToRecover = timeToRecover;
        int requests = v.Stress.Requests + v.Recovery.Requests;
        int errors = v.Stress.Errors + v.Recovery.Errors;
        v.Hangs = v.Stress.Hangs + v.Recovery.Hangs;
        v.ErrorRate = requests == 0 ? 0 : Math.Round((double)errors / requests, 4);
        var baseHealthy = v.Timeline.Where(r => r.Phase == "Baseline").Count(r => r.Status is { } s && c.HealthyStatus.Contains(s));
        v.DegradationObserved = v.Timeline.Any(r => r.Phase == "Stress" && !(r.Status is { } s && c.HealthyStatus.Contains(s)))
                                || v.Baseline.P99Ms > 0 && v.Stress.P99Ms >= 2 * v.Baseline.P99Ms;
        if (v.Baseline.Requests == 0 || baseHealthy < v.Baseline.Requests * 0.9)
        {
            v.Verdict = "Inconclusive";
            v.Reasons.Add($"the target was not healthy before the stress ({baseHealthy} of {v.Baseline.Requests} baseline answers were {string.Join('/', c.HealthyStatus)})");
            v.Passed = false;
            return v;
        }
        if (v.Stress.Requests == 0)
        {
            // Nothing was measured while the stress held: no verdict can be drawn from baseline and recovery alone.
            v.Verdict = "Inconclusive";
            v.Reasons.Add("no probe answer fell in the stress phase (the stress ended before any probe was sent, or every probe was skipped)");
            v.Passed = false;
            return v;
        }
        var bad = v.Timeline.Where(r => r.Phase != "Baseline" && r.Status is { } s && !c.AcceptableStatus.Contains(s)).GroupBy(r => r.Status).ToList();
        foreach (var g in bad) v.Reasons.Add($"{g.Count()} answer(s) with status {g.Key}, which is not acceptable ({string.Join(',', c.AcceptableStatus)})");
        var conn = v.Timeline.Count(r => r.Phase != "Baseline" && r.Status is null && !r.Hang);
        if (conn > 0) v.Reasons.Add($"{conn} request(s) failed without an answer (connection errors)");
        if (v.Hangs > c.MaxHangs) v.Reasons.Add($"{v.Hangs} request(s) hung past {DurationParser.Format(TimeSpanOf(v))} (allowed {c.MaxHangs})");
        if (v.ErrorRate > c.MaxErrorRate) v.Reasons.Add($"error rate {v.ErrorRate:P1} is above the bound {c.MaxErrorRate:P1}");
        if (timeToRecover is null) v.Reasons.Add($"the target did not answer {c.RecoveryConsecutive}x healthy in a row within {DurationParser.Format(c.RecoveryTimeout)} after the stress ended");
        else if (timeToRecover > c.RecoveryTimeout) v.Reasons.Add($"recovery took {DurationParser.Format(timeToRecover.Value)}, above {DurationParser.Format(c.RecoveryTimeout)}");
        // Unacceptable statuses and connection errors are reported above as evidence; they fail the verdict only through the error-rate bound.
        bool failed = v.Hangs > c.MaxHangs || v.ErrorRate > c.MaxErrorRate || timeToRecover is null || timeToRecover > c.RecoveryTimeout;
        v.Passed = !failed;
        v.Verdict = failed ? "NotGraceful" : "Graceful";
        if (!failed) v.Reasons.Insert(0, $"error rate {v.ErrorRate:P1} within {c.MaxErrorRate:P1}, {v.Hangs} hang(s), recovered in {DurationParser.Format(timeToRecover!.Value)}");
        return v;
        TimeSpan TimeSpanOf(DegradationVerdict _) => _o.HangTimeout;
    }
}
