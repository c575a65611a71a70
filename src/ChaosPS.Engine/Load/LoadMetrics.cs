using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using HdrHistogram;

namespace ChaosPS.Load;

/// <summary>
/// What a run measures: wait-free HdrHistogram recorders (one per timing in <see cref="LoadHistograms.Names"/> and one
/// per request name) and Interlocked counters, written by the engines' threads; the ticker folds the recorders into the
/// run's cumulative <see cref="LoadStats"/> once a second. Also the error classification (<see cref="Classify"/>), what
/// counts as a success status, and the assembly of the result with the generator's health.
/// </summary>
internal sealed class LoadMetrics
{
    // Histogram slots, in the order of LoadHistograms.Names.
    internal const int HLatency = 0, HService = 1, HTtfb = 2, HConnect = 3, HTls = 4, HReceive = 5, HFirstEvent = 6, HInterEvent = 7, HCount = 8;

    /// <summary>Fewest generator-late requests that can mark a run SATURATED (with more than 1% of requests late).</summary>
    internal const int MinLateForSaturation = 5;

    private readonly LoadTestOptions _o;
    private readonly Recorder[] _rec = new Recorder[HCount];
    private readonly HistogramBase?[] _recycle = new HistogramBase?[HCount];
    private readonly Recorder[] _nameRec;
    private readonly HistogramBase?[] _nameRecycle;
    private readonly string[] _names;
    private readonly int[] _nameOfRequest;
    private readonly long[] _nameReq, _nameFail;
    // One request name (the common case): its histogram is the latency histogram and its counts are Requests and
    // Failed, so nothing per name is recorded per request; Fold and CopyCountersTo derive them.
    private readonly bool _singleName;
    private readonly double _usPerTick = 1_000_000.0 / Stopwatch.Frequency;
    private readonly bool[] _ok;

    // Counters (Interlocked).
    internal long Requests, Failed, BytesIn, BytesOut, Events, Streaming, Clamped, InFlight;
    internal long Refused, Reset, Timeouts, Unreachable, Protocol, Tls, Other;
    internal readonly long[] Status = new long[600];

    public LoadMetrics(LoadTestOptions options)
    {
        _o = options;
        for (int i = 0; i < HCount; i++) _rec[i] = NewRecorder();
        _names = options.Requests.Select(r => r.Name).Distinct(StringComparer.Ordinal).ToArray();
        _nameOfRequest = options.Requests.Select(r => Array.IndexOf(_names, r.Name)).ToArray();
        _nameRec = _names.Select(_ => NewRecorder()).ToArray();
        _nameRecycle = new HistogramBase?[_names.Length];
        _nameReq = new long[_names.Length];
        _nameFail = new long[_names.Length];
        _ok = OkStatuses(options);
        _singleName = _names.Length == 1;
    }

    /// <summary>Which status codes (0..599) count as success: -ExpectStatus, or 200..399.</summary>
    internal static bool[] OkStatuses(LoadTestOptions o)
    {
        var ok = new bool[600];
        for (int s = 0; s < 600; s++) ok[s] = o.ExpectStatus?.Contains(s) ?? (s >= 200 && s < 400);
        return ok;
    }

    internal bool[] Ok => _ok;

    private static Recorder NewRecorder() => (Recorder)HistogramFactory.With64BitBucketSize().WithValuesFrom(1).WithValuesUpTo(HistogramCodec.Highest)
        .WithPrecisionOf(HistogramCodec.Digits).WithThreadSafeWrites().WithThreadSafeReads().Create();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Record(int slot, long ticks)
    {
        long us = (long)(ticks * _usPerTick);
        if (us > HistogramCodec.Highest) { us = HistogramCodec.Highest; Interlocked.Increment(ref Clamped); }
        _rec[slot].RecordValue(us < 1 ? 1 : us);
    }

    /// <summary>Records a finished request (success or HTTP-level failure); the checks run after it (<see cref="LoadRunContext.Complete"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal void Complete(int request, int status, long intended, long sent, long firstByte, long end, Http1ResponseParser body)
    {
        Record(HLatency, end - intended);
        Record(HService, end - sent);
        if (firstByte > 0) { Record(HTtfb, firstByte - sent); Record(HReceive, end - firstByte); }
        Interlocked.Increment(ref Status[status]);
        if (body.BodyBytes != 0) Interlocked.Add(ref BytesIn, body.BodyBytes);
        if (body.Events > 0) Interlocked.Add(ref Events, body.Events);
        if (body.IsStreaming) Interlocked.Increment(ref Streaming);
        bool ok = _ok[status];
        if (!_singleName) PerName(request, end - intended, !ok);
        if (!ok) Interlocked.Increment(ref Failed);
        Interlocked.Increment(ref Requests);
    }

    /// <summary>Records a transport failure by kind (one of <see cref="Classify"/>'s answers).</summary>
    internal void Fail(int request, string kind, long intended, long end)
    {
        Record(HLatency, end - intended);
        if (!_singleName) PerName(request, end - intended, failed: true);
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

    /// <summary>Several request names: the request's name histogram (latency, µs) and counts.</summary>
    private void PerName(int request, long latencyTicks, bool failed)
    {
        int name = _nameOfRequest[request];
        _nameRec[name].RecordValue(HistogramCodec.Clamp((long)(latencyTicks * _usPerTick)));
        Interlocked.Increment(ref _nameReq[name]);
        if (failed) Interlocked.Increment(ref _nameFail[name]);
    }

    /// <summary>The kind of a transport failure: refused, reset, timeout, unreachable, protocol, tls or other.</summary>
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

    /// <summary>
    /// Swaps the recorders' interval histograms into <paramref name="cumulative"/> (and each timing into
    /// <paramref name="window"/>, the second just ended); returns that second's latency histogram.
    /// </summary>
    internal HistogramBase Fold(LoadStats cumulative, LoadStats window)
    {
        for (int i = 0; i < HCount; i++)
        {
            _recycle[i] = _rec[i].GetIntervalHistogram(_recycle[i]);
            cumulative.Hist(LoadHistograms.Names[i]).Add(_recycle[i]!);
            window.Histograms[LoadHistograms.Names[i]] = _recycle[i]!;
        }
        if (_singleName) cumulative.Hist(LoadHistograms.NamePrefix + _names[0]).Add(_recycle[HLatency]!);
        else
            for (int i = 0; i < _names.Length; i++)
            {
                _nameRecycle[i] = _nameRec[i].GetIntervalHistogram(_nameRecycle[i]);
                cumulative.Hist(LoadHistograms.NamePrefix + _names[i]).Add(_nameRecycle[i]!);
            }
        return _recycle[HLatency]!;
    }

    /// <summary>The counters into <paramref name="s"/> (errors by kind, status codes, per name); not Requests/Failed.</summary>
    internal void CopyCountersTo(LoadStats s)
    {
        s.BytesReceived = BytesIn; s.BytesSent = BytesOut; s.Events = Events;
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
        if (_singleName) s.PerName[_names[0]] = [Interlocked.Read(ref Requests), Interlocked.Read(ref Failed)];
        else for (int i = 0; i < _names.Length; i++) s.PerName[_names[i]] = [Interlocked.Read(ref _nameReq[i]), Interlocked.Read(ref _nameFail[i])];
    }

    internal static bool LateIsSaturation(long lateGenerator, long requests)
        => requests > 0 && (double)lateGenerator / requests > 0.01 && lateGenerator >= MinLateForSaturation;

    /// <summary>What the generator itself used during the run (its process's figures).</summary>
    internal readonly record struct GeneratorUsage(double CpuAvgPercent, double CpuMaxPercent, double PeakWorkingSetMB, int Gen2Collections);

    /// <summary>
    /// The result: the public view of <paramref name="stats"/> on <paramref name="meta"/>, plus the generator's health
    /// (saturation needs evidence; waiting for a busy connection and never-sent requests are noted apart).
    /// </summary>
    internal LoadTestResult Assemble(LoadStats stats, LoadTestResult meta, long late, long lateGenerator, int connections, GeneratorUsage usage)
    {
        var result = LoadTestResult.From(stats, meta);
        long requests = stats.Requests;
        double lateRatio = requests + stats.Dropped == 0 ? 0 : (double)lateGenerator / (requests + stats.Dropped);
        var notes = new List<string>();
        if (usage.CpuAvgPercent > 90) notes.Add($"generator CPU averaged {usage.CpuAvgPercent:0}% of {Environment.ProcessorCount} cores");
        // Saturation needs evidence: more than 1% of requests AND at least MinLateForSaturation of them late (one late
        // request in 40 is 2.5%, but it is a scheduling hiccup on a busy host, not a generator that cannot keep up).
        if (LateIsSaturation(lateGenerator, requests + stats.Dropped)) notes.Add($"{lateRatio:P1} of requests were sent more than {_o.LateThreshold.TotalMilliseconds:0} ms after their intended time although a connection was free");
        bool saturated = notes.Count > 0;
        if (late - lateGenerator > 0)
            notes.Add($"{late - lateGenerator} requests waited for a free connection (all {connections} busy: the target answered slower than the rate needs; raise -Connections for a fully open model)");
        if (stats.Dropped > 0) notes.Add($"{stats.Dropped} scheduled requests were never sent");
        result.Generator = new GeneratorHealth
        {
            Cores = Environment.ProcessorCount,
            CpuAvgPercent = Math.Round(usage.CpuAvgPercent, 1),
            CpuMaxPercent = Math.Round(usage.CpuMaxPercent, 1),
            PeakWorkingSetMB = Math.Round(usage.PeakWorkingSetMB, 1),
            LateSends = lateGenerator,
            LateRatio = Math.Round(lateRatio, 5),
            Dropped = stats.Dropped,
            Gen2Collections = usage.Gen2Collections,
            Saturated = saturated,
            Notes = notes.Count == 0 ? "ok" : string.Join("; ", notes),
        };
        return result;
    }
}
