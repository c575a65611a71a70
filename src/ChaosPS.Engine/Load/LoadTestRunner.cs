using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using HdrHistogram;

namespace ChaosPS.Load;

/// <summary>
/// Runs a load test. Open model (-Rate): request n is due at its intended time from the rate profile; a pool of
/// connections sends them, latency counts from the intended time (coordinated omission), service time from the
/// actual send; late and never-sent requests are counted. Closed model (-Concurrency): N virtual users loop
/// request → response → think time. http:// goes over a raw-socket HTTP/1.1 keep-alive client (epoll or async), https://
/// over the async one with TLS (TlsWorker), HTTP/2 over SocketsHttpHandler. Metrics go to wait-free HdrHistogram recorders; a 1 s ticker folds them into the run's
/// cumulative histograms, the per-second series, progress, threshold checks (AbortOnFail) and the breaking point.
/// </summary>
public sealed class LoadTestRunner
{
    // Histogram slots.
    internal const int HLatency = 0, HService = 1, HTtfb = 2, HConnect = 3, HTls = 4, HReceive = 5, HFirstEvent = 6, HInterEvent = 7, HCount = 8;
    internal static readonly string[] HNames = ["latency", "service", "ttfb", "connect", "tls", "receive", "first_event", "inter_event"];

    private readonly LoadTestOptions _o;
    private readonly IChaosReporter _reporter;
    private readonly Recorder[] _rec = new Recorder[HCount];
    private readonly HistogramBase?[] _recycle = new HistogramBase?[HCount];
    private readonly Recorder[] _nameRec;
    private readonly HistogramBase?[] _nameRecycle;
    private readonly string[] _names;
    private readonly int[] _nameOfRequest;
    private readonly double _usPerTick = 1_000_000.0 / Stopwatch.Frequency;
    private readonly LoadProfile _profile;
    private readonly double _durationSec;
    private readonly LoadStats _stats = new();

    // Counters (Interlocked).
    internal long Requests, Failed, BytesIn, BytesOut, Late, LateGenerator, Events, ChecksPassed, ChecksFailed, Streaming, Clamped, InFlight, Dropped;
    internal long Refused, Reset, Timeouts, Unreachable, Protocol, Tls, Other;
    internal readonly long[] Status = new long[600];
    private readonly long[] _nameReq, _nameFail;
    private readonly long[,] _checkCounts;
    private long _ticket;

    private long _t0, _endTicks, _hardStopTicks;
    private volatile bool _stopping;     // no new requests
    private volatile bool _hardStop;     // abort in-flight requests too
    private readonly CancellationTokenSource _stopCts = new();
    private string? _abortReason;
    private readonly List<IConnectionWorker> _raw = [];
    private bool[] _ok = new bool[600];

    public LoadTestRunner(LoadTestOptions options, IChaosReporter? reporter = null)
    {
        options.Validate();
        _o = options;
        _reporter = reporter ?? NullReporter.Instance;
        for (int i = 0; i < HCount; i++) _rec[i] = NewRecorder();
        _names = options.Requests.Select(r => r.Name).Distinct(StringComparer.Ordinal).ToArray();
        _nameOfRequest = options.Requests.Select(r => Array.IndexOf(_names, r.Name)).ToArray();
        _nameRec = _names.Select(_ => NewRecorder()).ToArray();
        _nameRecycle = new HistogramBase?[_names.Length];
        _nameReq = new long[_names.Length];
        _nameFail = new long[_names.Length];
        _checkCounts = new long[options.Checks.Count, 2];
        for (int s = 0; s < 600; s++) _ok[s] = options.ExpectStatus?.Contains(s) ?? (s >= 200 && s < 400);
        _durationSec = options.PlannedDuration.TotalSeconds;
        _profile = new LoadProfile(options.IsOpen ? options.Rate!.Value : options.Concurrency!.Value, options.Stages, _durationSec);
        _stats.Thresholds.AddRange(options.Thresholds);
    }

    private static Recorder NewRecorder() => (Recorder)HistogramFactory.With64BitBucketSize().WithValuesFrom(1).WithValuesUpTo(HistogramCodec.Highest)
        .WithPrecisionOf(HistogramCodec.Digits).WithThreadSafeWrites().WithThreadSafeReads().Create();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Record(int slot, long ticks)
    {
        long us = (long)(ticks * _usPerTick);
        if (us > HistogramCodec.Highest) { us = HistogramCodec.Highest; Interlocked.Increment(ref Clamped); }
        _rec[slot].RecordValue(us < 1 ? 1 : us);
    }

    internal EpollEngine? Epoll { get; private set; }

    internal bool UseEpoll => _o.UseRaw && _o.Engine != "Raw" && !_o.UsesTls && EpollEngine.Supported;

    internal int Connections => _o.IsOpen
        ? (_o.Connections > 0 ? _o.Connections : (int)Math.Clamp(Math.Ceiling(_o.PeakLevel / 20), 16, 512))
        : (int)Math.Ceiling(_o.PeakLevel);

    public async Task<LoadTestResult> RunAsync(CancellationToken ct)
    {
        var started = DateTime.UtcNow;
        var proc = Process.GetCurrentProcess();
        var cpu0 = proc.TotalProcessorTime;
        int gen2 = GC.CollectionCount(2);
        _t0 = Stopwatch.GetTimestamp();
        _endTicks = _o.PlannedDuration >= TimeSpan.FromDays(3000) ? long.MaxValue : _t0 + (long)(_durationSec * Stopwatch.Frequency);
        _hardStopTicks = long.MaxValue;
        using var reg = ct.Register(() => Stop("cancelled", hard: true));

        HttpMessageInvoker? client = null;
        var workers = new List<Task>();
        int n = Connections;
        if (_o.UseRaw)
        {
            var endpoints = new Dictionary<string, EndPoint>();
            foreach (var r in _o.Requests)
            {
                string key = r.Uri.Host + ":" + r.Uri.Port;
                if (endpoints.ContainsKey(key)) continue;
                IPAddress ip = IPAddress.TryParse(r.Uri.Host.Trim('[', ']'), out var a) ? a
                    : (await Dns.GetHostAddressesAsync(r.Uri.DnsSafeHost, ct).ConfigureAwait(false)).First();
                endpoints[key] = new IPEndPoint(ip, r.Uri.Port);
            }
            var eps = _o.Requests.Select(r => endpoints[r.Uri.Host + ":" + r.Uri.Port]).ToArray();
            if (UseEpoll)
            {
                int loops = int.TryParse(Environment.GetEnvironmentVariable("CHAOSPS_LOAD_THREADS"), out var lt) && lt > 0 ? lt : Math.Max(1, Environment.ProcessorCount / 2);
                Epoll = new EpollEngine(this, eps, n, loops);
                workers.AddRange(Epoll.Start());
            }
            else if (_o.UsesTls)
            {
                var tls = TlsWorker.OptionsFor(_o);
                for (int i = 0; i < n; i++) _raw.Add(new TlsWorker(this, i, eps, tls));
                foreach (var w in _raw) workers.Add(Task.Run(w.RunAsync));
            }
            else
            {
                for (int i = 0; i < n; i++) { var w = new RawWorker(this, i, eps); _raw.Add(w); }
                foreach (var w in _raw) workers.Add(Task.Run(w.RunAsync));
            }
        }
        else if (_o.UseHttp2Engine)
        {
            var h2 = new Http2Engine(this, n);
            _raw.AddRange(h2.Slots);
            foreach (var w in h2.Slots) workers.Add(Task.Run(w.RunAsync));
        }
        else
        {
            client = CreateClient(n);
            for (int i = 0; i < n; i++) { int id = i; workers.Add(Task.Run(() => ClientWorkerAsync(client, id))); }
        }

        using var timeoutTimer = _raw.Count == 0 ? null : new Timer(_ =>
        {
            long t = Stopwatch.GetTimestamp();
            foreach (var w in _raw) w.CheckTimeout(t);
        }, null, 50, 50);

        // Ticker: every second fold the recorders, report progress, check thresholds, detect the breaking point.
        var all = Task.WhenAll(workers);
        var cpuPrev = proc.TotalProcessorTime;
        long prevReq = 0, prevFail = 0, prevBytes = 0, prevLate = 0;
        var tickPrev = Stopwatch.GetTimestamp();
        double cpuMax = 0;
        string? breaking = null;
        var thresholdSpecs = _o.ParsedThresholds;
        int second = 0;
        while (true)
        {
            var done = await Task.WhenAny(all, Task.Delay(1000)).ConfigureAwait(false) == all;
            long now = Stopwatch.GetTimestamp();
            double elapsed = (now - _t0) / (double)Stopwatch.Frequency;
            double wall = (now - tickPrev) / (double)Stopwatch.Frequency;
            tickPrev = now;
            if (wall <= 0.05 && done) { /* final tick right after the last one */ }
            proc.Refresh();
            var cpuNow = proc.TotalProcessorTime;
            double cpuPct = wall > 0 ? (cpuNow - cpuPrev).TotalSeconds / wall / Environment.ProcessorCount * 100 : 0;
            cpuPrev = cpuNow;
            cpuMax = Math.Max(cpuMax, cpuPct);

            var window = new LoadStats { DurationSeconds = Math.Max(wall, 1e-3) };
            for (int i = 0; i < HCount; i++)
            {
                _recycle[i] = _rec[i].GetIntervalHistogram(_recycle[i]);
                _stats.Hist(HNames[i]).Add(_recycle[i]!);
                window.Histograms[HNames[i]] = _recycle[i]!;
            }
            for (int i = 0; i < _names.Length; i++)
            {
                _nameRecycle[i] = _nameRec[i].GetIntervalHistogram(_nameRecycle[i]);
                _stats.Hist("name:" + _names[i]).Add(_nameRecycle[i]!);
            }
            var lat = _recycle[HLatency]!;
            AfterFold?.Invoke(lat.TotalCount);
            long req = Interlocked.Read(ref Requests), fail = Interlocked.Read(ref Failed), bytes = Interlocked.Read(ref BytesIn), late = Interlocked.Read(ref Late);
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
                    Target = Math.Round(_profile.LevelAt(Math.Min(elapsed, _durationSec)), 1), InFlight = Interlocked.Read(ref InFlight),
                    Late = late - prevLate, CpuPercent = Math.Round(cpuPct, 1),
                });
                window.Requests = winReq; window.Failed = winFail; window.Late = late - prevLate; window.BytesReceived = bytes - prevBytes;
                if (breaking is null && thresholdSpecs.Count > 0 && !done && winReq > 0)
                {
                    // A threshold with no data in this second (e.g. ttfb when every request failed) is no evidence of a break.
                    var failedNow = ThresholdEvaluator.Evaluate(thresholdSpecs, window).Where(t => !t.Passed && t.Actual is not null).ToList();
                    if (failedNow.Count > 0)
                    {
                        double t = Math.Min(elapsed, _durationSec);
                        int st = _profile.StageAt(t);
                        string stageText = _o.Stages.Count > 0 ? $"stage {st + 1} ({_o.Stages[st]})" : "steady state";
                        breaking = $"{stageText} at {t:0}s, {(_o.IsOpen ? "rate" : "VUs")} {_profile.LevelAt(t):0} ({winReq} req in that second): " +
                                   string.Join("; ", failedNow.Select(f => $"{f.Metric}: {f.Expression} (was {(f.Actual is { } a ? a.ToString("0.###", CultureInfo.InvariantCulture) : "no data")})"));
                    }
                }
                prevReq = req; prevFail += winFail; prevBytes = bytes; prevLate = late;
            }
            if (_o.AbortOnFail && thresholdSpecs.Count > 0 && !done && !_stopping)
            {
                _stats.Requests = req; _stats.Failed = fail; _stats.Late = late; _stats.DurationSeconds = elapsed;
                CopyCountersTo(_stats);
                var failedCum = ThresholdEvaluator.Evaluate(thresholdSpecs, _stats).Where(t => !t.Passed && t.Actual is not null).ToList();
                if (failedCum.Count > 0) Stop("threshold failed: " + string.Join("; ", failedCum.Select(f => $"{f.Metric}: {f.Expression}")), hard: false);
            }
            if (!done)
            {
                var h = _stats.Find("latency");
                double p95 = h is null ? 0 : h.GetValueAtPercentile(95) / 1000.0;
                int pct = _endTicks == long.MaxValue ? (_o.Iterations is { } it ? (int)(100.0 * req / it) : -1) : (int)(100 * Math.Min(1, elapsed / _durationSec));
                _reporter.Progress(new ProgressInfo($"Start-LoadTest {_o.Name}",
                    $"{TimeSpan.FromSeconds(Math.Round(elapsed)):hh\\:mm\\:ss} | {(second > 0 ? _stats.Series[^1].RequestsPerSecond : 0):0} req/s | p95 {p95:0.##} ms | errors {fail} ({(req == 0 ? 0 : 100.0 * fail / req):0.##}%) | in flight {Interlocked.Read(ref InFlight)}",
                    pct, null, _endTicks == long.MaxValue ? -1 : (int)Math.Max(0, _durationSec - elapsed)));
                // Graceful end: once the run time is over, in-flight requests get up to -Timeout (at most 10 s) to finish.
                if (now >= _endTicks + LateTicks && !_stopping) Stop(null, hard: false);
                if (_stopping && _hardStopTicks == long.MaxValue)
                    _hardStopTicks = now + (long)(Math.Min(_o.Timeout.TotalSeconds, 10) * Stopwatch.Frequency);
                if (now >= _hardStopTicks) Stop(null, hard: true);
                continue;
            }
            break;
        }
        await all.ConfigureAwait(false);
        client?.Dispose();
        foreach (var w in _raw) w.Dispose();

        long end = Stopwatch.GetTimestamp();
        double runSec = Math.Min((end - _t0) / (double)Stopwatch.Frequency, _endTicks == long.MaxValue ? double.MaxValue : _durationSec + (_hardStop ? 0 : 0));
        if (_abortReason is not null) runSec = (end - _t0) / (double)Stopwatch.Frequency;
        _stats.DurationSeconds = Math.Max(runSec, 1e-3);
        _stats.Requests = Requests; _stats.Failed = Failed; _stats.Late = Late;
        CopyCountersTo(_stats);
        if (_o.IsOpen)
        {
            // Everything scheduled before the end (or the abort) and never sent is dropped.
            double scheduled = Math.Ceiling(_profile.CountAt(Math.Min(runSec, _durationSec)));
            if (_o.Iterations is { } iters) scheduled = Math.Min(scheduled, iters);
            _stats.Scheduled = (long)scheduled;
            long sent = Requests;
            _stats.Dropped = Math.Max(Dropped, (long)scheduled - sent - Interlocked.Read(ref _abandoned));
        }
        else _stats.Scheduled = Requests;

        proc.Refresh();
        var cpuAll = (proc.TotalProcessorTime - cpu0).TotalSeconds / Math.Max(runSec, 1e-3) / Environment.ProcessorCount * 100;
        var meta = new LoadTestResult
        {
            Name = UriRedaction.Redact(_o.Name)!,
            Uri = UriRedaction.Redact(_o.Requests[0].Uri.ToString())! + (_o.Requests.Count > 1 ? $" (+{_o.Requests.Count - 1} more)" : ""),
            Model = _o.IsOpen ? "Open" : "Closed",
            Engine = _o.UseRaw ? (UseEpoll ? "Epoll" : _o.UsesTls ? "RawSocket/TLS" : "RawSocket") : _o.UseHttp2Engine ? (_o.UsesTls ? "HTTP2/TLS" : "HTTP2") : (_o.Http2 ? "HttpClient/HTTP2" : "HttpClient"),
            StartTime = started,
            EndTime = DateTime.UtcNow,
            Duration = TimeSpan.FromSeconds(Math.Round(runSec, 3)),
            TargetRate = _o.IsOpen ? _o.PeakLevel : 0,
            MaxConcurrency = n,
            Aborted = _abortReason is not null,
            AbortReason = UriRedaction.Redact(_abortReason),
            BreakingPoint = breaking,
        };
        var result = LoadTestResult.From(_stats, meta);
        double lateRatio = Requests + _stats.Dropped == 0 ? 0 : (double)LateGenerator / (Requests + _stats.Dropped);
        var notes = new List<string>();
        if (cpuAll > 90) notes.Add($"generator CPU averaged {cpuAll:0}% of {Environment.ProcessorCount} cores");
        // Saturation needs evidence: more than 1% of requests AND at least MinLateForSaturation of them late (one late
        // request in 40 is 2.5%, but it is a scheduling hiccup on a busy host, not a generator that cannot keep up).
        if (LateIsSaturation(LateGenerator, Requests + _stats.Dropped)) notes.Add($"{lateRatio:P1} of requests were sent more than {_o.LateThreshold.TotalMilliseconds:0} ms after their intended time although a connection was free");
        bool saturated = notes.Count > 0;
        if (Late - LateGenerator > 0)
            notes.Add($"{Late - LateGenerator} requests waited for a free connection (all {n} busy: the target answered slower than the rate needs; raise -Connections for a fully open model)");
        if (_stats.Dropped > 0) notes.Add($"{_stats.Dropped} scheduled requests were never sent");
        result.Generator = new GeneratorHealth
        {
            Cores = Environment.ProcessorCount,
            CpuAvgPercent = Math.Round(cpuAll, 1),
            CpuMaxPercent = Math.Round(cpuMax, 1),
            PeakWorkingSetMB = Math.Round(proc.PeakWorkingSet64 / 1048576.0, 1),
            LateSends = LateGenerator,
            LateRatio = Math.Round(lateRatio, 5),
            Dropped = _stats.Dropped,
            Gen2Collections = GC.CollectionCount(2) - gen2,
            Saturated = saturated,
            Notes = notes.Count == 0 ? "ok" : string.Join("; ", notes),
        };
        return result;
    }

    private long _abandoned;

    /// <summary>Fewest generator-late requests that can mark a run SATURATED (with more than 1% of requests late).</summary>
    internal const int MinLateForSaturation = 5;

    internal static bool LateIsSaturation(long lateGenerator, long requests)
        => requests > 0 && (double)lateGenerator / requests > 0.01 && lateGenerator >= MinLateForSaturation;

    /// <summary>Test hook: called on the ticker after the interval histograms are swapped, with that second's latency count.</summary>
    internal Action<long>? AfterFold;

    private void CopyCountersTo(LoadStats s)
    {
        s.BytesReceived = BytesIn; s.BytesSent = BytesOut; s.Events = Events; s.ChecksPassed = ChecksPassed; s.ChecksFailed = ChecksFailed;
        s.StreamingResponses = Streaming; s.Clamped = Clamped;
        s.Errors.Clear();
        void E(string k, long v) { if (v > 0) s.Errors[k] = v; }
        E("refused", Refused); E("reset", Reset); E("timeout", Timeouts); E("unreachable", Unreachable); E("protocol", Protocol); E("tls", Tls); E("other", Other);
        s.StatusCodes.Clear();
        for (int i = 0; i < 600; i++)
        {
            long v = Interlocked.Read(ref Status[i]);
            if (v == 0) continue;
            s.StatusCodes[i.ToString(CultureInfo.InvariantCulture)] = v;
            if (!_ok[i]) s.Errors["status_" + i.ToString(CultureInfo.InvariantCulture)] = v;
        }
        for (int i = 0; i < _names.Length; i++) s.PerName[_names[i]] = [Interlocked.Read(ref _nameReq[i]), Interlocked.Read(ref _nameFail[i])];
        for (int i = 0; i < _o.Checks.Count; i++) s.CheckCounts[_o.Checks[i].Name] = [_checkCounts[i, 0], _checkCounts[i, 1]];
    }

    private static double Ms(HistogramBase h, double p) => h.TotalCount == 0 ? 0 : Math.Round(h.GetValueAtPercentile(p) / 1000.0, 3);

    private void Stop(string? reason, bool hard)
    {
        if (reason is not null && _abortReason is null) _abortReason = reason;
        _stopping = true;
        if (hard && !_hardStop)
        {
            _hardStop = true;
            try { _stopCts.Cancel(); } catch (ObjectDisposedException) { }
            foreach (var w in _raw) w.Abort();
        }
    }

    // ---- Work acquisition (shared by both engines) ----

    /// <summary>Waits for the next request this worker should send. Returns false when the worker should end.</summary>
    internal async ValueTask<(bool Go, long Intended, int Request)> NextAsync(int worker)
    {
        long freeAt = Stopwatch.GetTimestamp(); // this connection is free from now on
        while (true)
        {
            if (_stopping) return (false, 0, 0);
            long now = Stopwatch.GetTimestamp();
            if (_o.IsOpen)
            {
                long ticket = Interlocked.Increment(ref _ticket) - 1;
                if (_o.Iterations is { } it && ticket >= it) return (false, 0, 0);
                double t = _profile.TimeOf(ticket);
                if (double.IsPositiveInfinity(t)) return (false, 0, 0);
                long intended = _t0 + (long)(t * Stopwatch.Frequency);
                if (intended >= _endTicks) return (false, 0, 0);
                while (intended > now)
                {
                    long waitMs = (intended - now) * 1000 / Stopwatch.Frequency;
                    try
                    {
                        if (waitMs >= 1) await Task.Delay((int)Math.Min(waitMs, 1000), _stopCts.Token).ConfigureAwait(false);
                        else Thread.Yield();
                    }
                    catch (OperationCanceledException) { }
                    if (_stopping) { Interlocked.Increment(ref _abandoned); return (false, 0, 0); }
                    now = Stopwatch.GetTimestamp();
                }
                if (now >= _endTicks + LateTicks) { Interlocked.Increment(ref Dropped); Interlocked.Increment(ref _abandoned); return (false, 0, 0); }
                CountLate(now, intended, freeAt);
                return (true, intended, (int)(ticket % _o.Requests.Count));
            }
            else
            {
                if (now >= _endTicks) return (false, 0, 0);
                double level = _profile.LevelAt((now - _t0) / (double)Stopwatch.Frequency);
                if (worker >= (int)Math.Round(level))
                {
                    if (worker < _raw.Count) _raw[worker].CloseIdle();
                    try { await Task.Delay(100, _stopCts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
                    continue;
                }
                long ticket = Interlocked.Increment(ref _ticket) - 1;
                if (_o.Iterations is { } it && ticket >= it) return (false, 0, 0);
                return (true, now, (int)(ticket % _o.Requests.Count));
            }
        }
    }

    internal enum Claim { Go, NotYet, Exit }

    /// <summary>
    /// Late = sent more than LateThreshold after the intended time. It is the generator's fault only when a connection
    /// was free by then (LateGenerator); otherwise the request waited for a free connection (the target was slow).
    /// </summary>
    private void CountLate(long now, long intended, long connectionFreeAt)
    {
        long thr = (long)(_o.LateThreshold.TotalSeconds * Stopwatch.Frequency);
        if (now - intended <= thr) return;
        Interlocked.Increment(ref Late);
        if (now - Math.Max(intended, connectionFreeAt) > thr) Interlocked.Increment(ref LateGenerator);
    }
    internal bool StopRequested => _stopping;

    /// <summary>Open model, without waiting: the next request if it is due by <paramref name="now"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal Claim TryClaimOpen(long now, long freeAt, out long intended, out int request, out long due)
    {
        intended = 0; request = 0; due = 0;
        while (true)
        {
            // Requests due before the end may still go out up to -LateThreshold after it (then they count as dropped).
            if (_stopping || now >= _endTicks + LateTicks) return Claim.Exit;
            long ticket = Volatile.Read(ref _ticket);
            if (_o.Iterations is { } it && ticket >= it) return Claim.Exit;
            double t = _profile.TimeOf(ticket);
            if (double.IsPositiveInfinity(t)) return Claim.Exit;
            long at = _t0 + (long)(t * Stopwatch.Frequency);
            if (at >= _endTicks) return Claim.Exit;
            if (at > now) { due = at; return Claim.NotYet; }
            if (Interlocked.CompareExchange(ref _ticket, ticket + 1, ticket) != ticket) continue;
            CountLate(now, at, freeAt);
            intended = at;
            request = (int)(ticket % _o.Requests.Count);
            return Claim.Go;
        }
    }

    /// <summary>Closed model, without waiting: may virtual user <paramref name="worker"/> send now?</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal Claim TryClaimClosed(int worker, long now, out int request)
    {
        request = 0;
        if (_stopping || now >= _endTicks) return Claim.Exit;
        double level = _profile.LevelAt((now - _t0) / (double)Stopwatch.Frequency);
        if (worker >= (int)Math.Round(level)) return Claim.NotYet;
        long ticket = Interlocked.Increment(ref _ticket) - 1;
        if (_o.Iterations is { } it && ticket >= it) return Claim.Exit;
        request = (int)(ticket % _o.Requests.Count);
        return Claim.Go;
    }

    internal async ValueTask ThinkAsync()
    {
        if (_o.IsOpen || _o.ThinkTime <= TimeSpan.Zero) return;
        try { await Task.Delay(_o.ThinkTime, _stopCts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
    }

    /// <summary>Records a finished request (success or HTTP-level failure) and runs the checks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Complete(int request, int status, long intended, long sent, long firstByte, long end, Http1ResponseParser body)
    {
        Record(HLatency, end - intended);
        Record(HService, end - sent);
        if (firstByte > 0) { Record(HTtfb, firstByte - sent); Record(HReceive, end - firstByte); }
        int name = _nameOfRequest[request];
        long us = (long)((end - intended) * _usPerTick);
        _nameRec[name].RecordValue(HistogramCodec.Clamp(us));
        Interlocked.Increment(ref Status[status]);
        Interlocked.Increment(ref _nameReq[name]);
        Interlocked.Add(ref BytesIn, body.BodyBytes);
        if (body.Events > 0) Interlocked.Add(ref Events, body.Events);
        if (body.IsStreaming) Interlocked.Increment(ref Streaming);
        bool ok = _ok[status];
        if (!ok) { Interlocked.Increment(ref Failed); Interlocked.Increment(ref _nameFail[name]); }
        Interlocked.Increment(ref Requests);
        if (_o.Checks.Count > 0) RunChecks(status, body);
    }

    internal bool NeedsBody => _o.Checks.Any(c => c.NeedsBody);

    private void RunChecks(int status, Http1ResponseParser body)
    {
        string? text = null;
        for (int i = 0; i < _o.Checks.Count; i++)
        {
            var c = _o.Checks[i];
            bool pass;
            switch (c.Kind)
            {
                case "Status": pass = _ok[status]; break;
                case "Contains": pass = body.Body.AsSpan(0, body.BodyLength).IndexOf(c.Needle) >= 0; break;
                case "Regex": pass = c.Regex!.IsMatch(text ??= body.BodyText()); break;
                case "JsonPath":
                    try
                    {
                        var tok = Newtonsoft.Json.Linq.JToken.Parse(text ??= body.BodyText()).SelectToken(c.JsonPath!);
                        var actual = tok is null ? null : tok.Type == Newtonsoft.Json.Linq.JTokenType.String ? (string?)tok : tok.ToString(Newtonsoft.Json.Formatting.None);
                        pass = string.Equals(actual, c.Expected, StringComparison.Ordinal)
                               || (tok is Newtonsoft.Json.Linq.JValue { Type: Newtonsoft.Json.Linq.JTokenType.Boolean } && string.Equals(actual, c.Expected, StringComparison.OrdinalIgnoreCase));
                    }
                    catch (Newtonsoft.Json.JsonException) { pass = false; }
                    break;
                default: pass = false; break;
            }
            Interlocked.Increment(ref _checkCounts[i, pass ? 0 : 1]);
            Interlocked.Increment(ref pass ? ref ChecksPassed : ref ChecksFailed);
        }
    }

    /// <summary>Records a transport failure by kind.</summary>
    internal void Fail(int request, string kind, long intended, long end)
    {
        Record(HLatency, end - intended);
        int name = _nameOfRequest[request];
        _nameRec[name].RecordValue(HistogramCodec.Clamp((long)((end - intended) * _usPerTick)));
        Interlocked.Increment(ref _nameReq[name]);
        Interlocked.Increment(ref _nameFail[name]);
        Interlocked.Increment(ref Failed);
        Interlocked.Increment(ref Requests);
        switch (kind)
        {
            case "refused": Interlocked.Increment(ref Refused); break;
            case "reset": Interlocked.Increment(ref Reset); break;
            case "timeout": Interlocked.Increment(ref Timeouts); break;
            case "unreachable": Interlocked.Increment(ref Unreachable); break;
            case "protocol": Interlocked.Increment(ref Protocol); break;
            case "tls": Interlocked.Increment(ref Tls); break;
            default: Interlocked.Increment(ref Other); break;
        }
    }

    internal static string Classify(Exception e) => e switch
    {
        SocketException s => s.SocketErrorCode switch
        {
            SocketError.ConnectionRefused => "refused",
            SocketError.ConnectionReset or SocketError.ConnectionAborted or SocketError.Shutdown or SocketError.Disconnecting => "reset",
            SocketError.TimedOut => "timeout",
            SocketError.HostUnreachable or SocketError.NetworkUnreachable or SocketError.HostNotFound or SocketError.NetworkDown => "unreachable",
            _ => "other",
        },
        HttpRequestException { HttpRequestError: HttpRequestError.SecureConnectionError } => "tls",
        System.Security.Authentication.AuthenticationException => "tls",
        IOException { InnerException: { } inner } => Classify(inner),
        HttpRequestException { InnerException: { } inner } => Classify(inner),
        HttpRequestException h when h.HttpRequestError == HttpRequestError.ResponseEnded => "reset",
        HttpRequestException h when h.HttpRequestError is HttpRequestError.InvalidResponse or HttpRequestError.HttpProtocolError => "protocol",
        InvalidDataException => "protocol",
        EndOfStreamException => "reset",
        _ => "other",
    };

    internal bool StoppingHard => _hardStop;
    private long LateTicks => _endTicks == long.MaxValue ? 0 : (long)(_o.LateThreshold.TotalSeconds * Stopwatch.Frequency);
    internal long TimeoutTicks => (long)(_o.Timeout.TotalSeconds * Stopwatch.Frequency);
    internal LoadTestOptions Options => _o;

    // ---- HttpClient engine (https, HTTP/2) ----

    private HttpMessageInvoker CreateClient(int connections)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = Math.Max(1, connections),
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            EnableMultipleHttp2Connections = true,
            AllowAutoRedirect = false,
            UseProxy = false,
            ConnectCallback = async (ctx, token) =>
            {
                long a = Stopwatch.GetTimestamp();
                var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try { await s.ConnectAsync(ctx.DnsEndPoint, token).ConfigureAwait(false); }
                catch { s.Dispose(); throw; }
                Record(HConnect, Stopwatch.GetTimestamp() - a);
                return new NetworkStream(s, ownsSocket: true);
            },
        };
        if (_o.SkipCertificateCheck) handler.SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true };
        return new HttpMessageInvoker(handler);
    }

    private async Task ClientWorkerAsync(HttpMessageInvoker client, int id)
    {
        var parser = new Http1ResponseParser { CaptureBody = NeedsBody };
        parser.OnEvent = (now, prev) => { };
        var buf = new byte[16384];
        long sentAt = 0;
        parser.OnEvent = (now, prev) => Record(prev == 0 ? HFirstEvent : HInterEvent, now - (prev == 0 ? sentAt : prev));
        while (true)
        {
            var (go, intended, ri) = await NextAsync(id).ConfigureAwait(false);
            if (!go) return;
            var r = _o.Requests[ri];
            using var msg = new HttpRequestMessage(new HttpMethod(r.Method), r.Uri)
            {
                Version = _o.Http2 ? HttpVersion.Version20 : HttpVersion.Version11,
                VersionPolicy = _o.Http2 ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
            };
            if (r.Body is { Length: > 0 }) msg.Content = new ByteArrayContent(r.Body);
            foreach (var (k, v) in r.Headers)
                if (!msg.Headers.TryAddWithoutValidation(k, v)) msg.Content?.Headers.TryAddWithoutValidation(k, v);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stopCts.Token);
            cts.CancelAfter(_o.Timeout);
            Interlocked.Increment(ref InFlight);
            sentAt = Stopwatch.GetTimestamp();
            parser.Reset(r.Method == "HEAD");
            try
            {
                using var resp = await client.SendAsync(msg, cts.Token).ConfigureAwait(false);
                long first = Stopwatch.GetTimestamp();
                parser.EventStream = resp.Content.Headers.ContentType?.MediaType == "text/event-stream";
                parser.Chunked = resp.Headers.TransferEncodingChunked == true;
                using var stream = await resp.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
                int got;
                while ((got = await stream.ReadAsync(buf, cts.Token).ConfigureAwait(false)) > 0)
                {
                    long now = Stopwatch.GetTimestamp();
                    if (parser.Chunked && !parser.EventStream) parser.Event(now);
                    parser.OnBody(buf.AsSpan(0, got), now);
                }
                Interlocked.Add(ref BytesOut, r.Wire.Length);
                Complete(ri, Math.Clamp((int)resp.StatusCode, 0, 599), intended, sentAt, first, Stopwatch.GetTimestamp(), parser);
            }
            catch (Exception e) when (_hardStop)
            {
                _ = e; // interrupted by Ctrl+C or the end of the grace period: not a server error
            }
            catch (OperationCanceledException)
            {
                Fail(ri, "timeout", intended, Stopwatch.GetTimestamp());
            }
            catch (Exception e)
            {
                Fail(ri, Classify(e), intended, Stopwatch.GetTimestamp());
            }
            finally { Interlocked.Decrement(ref InFlight); }
            await ThinkAsync().ConfigureAwait(false);
        }
    }
}

