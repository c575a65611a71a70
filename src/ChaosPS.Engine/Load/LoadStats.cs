using HdrHistogram;
using HdrHistogram.Utilities;
using Newtonsoft.Json;

namespace ChaosPS.Load;

/// <summary>Histogram helpers: µs, 3 significant digits, 1 µs .. 1 hour; shipped as base64 of the UNCOMPRESSED V2 encoding.</summary>
public static class HistogramCodec
{
    public const long Highest = 3_600_000_000L; // 1 hour in µs
    public const int Digits = 3;

    public static LongHistogram New() => new(1, Highest, Digits);

    public static string Encode(HistogramBase h)
    {
        var buf = ByteBuffer.Allocate(h.GetNeededByteBufferCapacity());
        int len = h.Encode(buf, HdrHistogram.Encoding.HistogramEncoderV2.Instance);
        var bytes = new byte[len];
        buf.Position = 0;
        for (int i = 0; i < len; i++) bytes[i] = buf.Get();
        return Convert.ToBase64String(bytes);
    }

    public static LongHistogram Decode(string base64)
    {
        var bytes = Convert.FromBase64String(base64);
        var decoded = HistogramEncoding.DecodeFromByteBuffer(ByteBuffer.Allocate(bytes), Highest, null);
        var h = New();
        h.Add(decoded);
        return h;
    }

    public static long Clamp(long us) => us < 1 ? 1 : us > Highest ? Highest : us;
}

/// <summary>Percentiles of one timing, in milliseconds.</summary>
public sealed class LatencySummary
{
    public long Count { get; set; }
    public double Min { get; set; }
    public double Mean { get; set; }
    public double P50 { get; set; }
    public double P90 { get; set; }
    public double P95 { get; set; }
    public double P99 { get; set; }
    public double P999 { get; set; }
    public double Max { get; set; }
    public double StdDev { get; set; }

    public static LatencySummary? From(HistogramBase? h)
    {
        if (h is null || h.TotalCount == 0) return null;
        return new LatencySummary
        {
            Count = h.TotalCount,
            Min = Ms(LoadStats.MinOf(h)),
            Mean = Math.Round(h.GetMean() / 1000.0, 3),
            P50 = Ms(h.GetValueAtPercentile(50)),
            P90 = Ms(h.GetValueAtPercentile(90)),
            P95 = Ms(h.GetValueAtPercentile(95)),
            P99 = Ms(h.GetValueAtPercentile(99)),
            P999 = Ms(h.GetValueAtPercentile(99.9)),
            Max = Ms(h.GetMaxValue()),
            StdDev = Math.Round(h.GetStdDeviation() / 1000.0, 3),
        };
    }

    private static double Ms(long us) => Math.Round(us / 1000.0, 3);

    public override string ToString() => $"p50 {P50:0.##}ms p95 {P95:0.##}ms p99 {P99:0.##}ms max {Max:0.##}ms (n={Count})";
}

/// <summary>One second of a run.</summary>
public sealed class LoadTimePoint
{
    public int Second { get; set; }
    public long Requests { get; set; }
    public long Failed { get; set; }
    public double RequestsPerSecond { get; set; }
    public long BytesReceived { get; set; }
    public double P50 { get; set; }
    public double P95 { get; set; }
    public double P99 { get; set; }
    public double Max { get; set; }
    /// <summary>Requested rate (open) or virtual users (closed) at this second.</summary>
    public double Target { get; set; }
    public long InFlight { get; set; }
    public long Late { get; set; }
    public double CpuPercent { get; set; }
}

/// <summary>
/// The mergeable state of a run: cumulative histograms (µs) and counters. Two runs' states add up exactly, so
/// percentiles of merged runs are exact (to the histograms' 3 significant digits).
/// </summary>
public sealed class LoadStats : ILoadMetricSource
{
    public Dictionary<string, HistogramBase> Histograms { get; } = new(StringComparer.Ordinal);
    public long Requests, Failed, BytesReceived, BytesSent, Late, Dropped, Scheduled, Events, ChecksPassed, ChecksFailed, StreamingResponses, Clamped;
    public double DurationSeconds;
    public Dictionary<string, long> Errors { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, long> StatusCodes { get; } = new(StringComparer.Ordinal);
    public Dictionary<string, long[]> CheckCounts { get; } = new(StringComparer.Ordinal); // [passes, fails]
    public Dictionary<string, long[]> PerName { get; } = new(StringComparer.Ordinal); // [requests, failed]
    public List<LoadTimePoint> Series { get; } = [];
    public List<string> Thresholds { get; } = [];
    public int Sources = 1;

    public HistogramBase Hist(string name)
    {
        if (!Histograms.TryGetValue(name, out var h)) Histograms[name] = h = HistogramCodec.New();
        return h;
    }

    public HistogramBase? Find(string name) => Histograms.TryGetValue(name, out var h) && h.TotalCount > 0 ? h : null;

    internal static long MinOf(HistogramBase h)
    {
        foreach (var v in h.RecordedValues()) return h.LowestEquivalentValue(v.ValueIteratedTo);
        return 0;
    }

    public double? Aggregate(ThresholdSpec s)
    {
        double dur = Math.Max(DurationSeconds, 1e-9);
        switch (LoadMetricCatalog.Metrics[s.Metric])
        {
            case LoadMetricCatalog.Trend:
                var h = Find(LoadMetricCatalog.HistogramOf(s.Metric));
                if (s.Aggregation == "count") return h?.TotalCount ?? 0;
                if (h is null) return null;
                return s.Aggregation switch
                {
                    "avg" => h.GetMean() / 1000.0,
                    "min" => MinOf(h) / 1000.0,
                    "max" => h.GetMaxValue() / 1000.0,
                    "med" => h.GetValueAtPercentile(50) / 1000.0,
                    _ => h.GetValueAtPercentile(s.Percentile) / 1000.0,
                };
            case LoadMetricCatalog.Rate:
                (long num, long den) = s.Metric switch
                {
                    "http_req_failed" => (Failed, Requests),
                    "checks" => (ChecksPassed, ChecksPassed + ChecksFailed),
                    _ => (Late, Requests + Dropped),
                };
                if (s.Aggregation == "count") return num;
                // No data is no evidence: a rate over zero requests is undefined, and an undefined value fails its threshold.
                return den == 0 ? null : (double)num / den;
            default:
                long c = s.Metric switch
                {
                    "http_reqs" or "iterations" => Requests,
                    "dropped_iterations" => Dropped,
                    "data_received" => BytesReceived,
                    "data_sent" => BytesSent,
                    "events" => Events,
                    _ => 0,
                };
                return s.Aggregation == "rate" ? c / dur : c;
        }
    }

    /// <summary>Adds another run's state (histograms add count-wise; counters sum; the duration is the longest).</summary>
    public void Merge(LoadStats o)
    {
        foreach (var (k, h) in o.Histograms) Hist(k).Add(h);
        Requests += o.Requests; Failed += o.Failed; BytesReceived += o.BytesReceived; BytesSent += o.BytesSent;
        Late += o.Late; Dropped += o.Dropped; Scheduled += o.Scheduled; Events += o.Events;
        ChecksPassed += o.ChecksPassed; ChecksFailed += o.ChecksFailed; StreamingResponses += o.StreamingResponses; Clamped += o.Clamped;
        DurationSeconds = Math.Max(DurationSeconds, o.DurationSeconds);
        Sources += o.Sources;
        foreach (var (k, v) in o.Errors) Errors[k] = Errors.GetValueOrDefault(k) + v;
        foreach (var (k, v) in o.StatusCodes) StatusCodes[k] = StatusCodes.GetValueOrDefault(k) + v;
        foreach (var (k, v) in o.CheckCounts)
        {
            var mine = CheckCounts.TryGetValue(k, out var m) ? m : CheckCounts[k] = new long[2];
            mine[0] += v[0]; mine[1] += v[1];
        }
        foreach (var (k, v) in o.PerName)
        {
            var mine = PerName.TryGetValue(k, out var m) ? m : PerName[k] = new long[2];
            mine[0] += v[0]; mine[1] += v[1];
        }
        foreach (var t in o.Thresholds) if (!Thresholds.Contains(t)) Thresholds.Add(t);
        // Per-second series: counts add; per-second percentiles of the merged run are the worse of the two (approximate).
        foreach (var p in o.Series)
        {
            var mine = Series.FirstOrDefault(x => x.Second == p.Second);
            if (mine is null) { Series.Add(Clone(p)); continue; }
            mine.Requests += p.Requests; mine.Failed += p.Failed; mine.RequestsPerSecond += p.RequestsPerSecond; mine.BytesReceived += p.BytesReceived;
            mine.P50 = Math.Max(mine.P50, p.P50); mine.P95 = Math.Max(mine.P95, p.P95); mine.P99 = Math.Max(mine.P99, p.P99); mine.Max = Math.Max(mine.Max, p.Max);
            mine.Target += p.Target; mine.InFlight += p.InFlight; mine.Late += p.Late; mine.CpuPercent = Math.Max(mine.CpuPercent, p.CpuPercent);
        }
        Series.Sort((a, b) => a.Second.CompareTo(b.Second));
    }

    private static LoadTimePoint Clone(LoadTimePoint p) => (LoadTimePoint)typeof(LoadTimePoint).GetMethod("MemberwiseClone", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.Invoke(p, null)!;

    private sealed class State
    {
        public int Version = 1;
        public Dictionary<string, string> Histograms = [];
        public Dictionary<string, long> Counters = [];
        public double DurationSeconds;
        public int Sources;
        public Dictionary<string, long> Errors = [], StatusCodes = [];
        public Dictionary<string, long[]> CheckCounts = [];
        public Dictionary<string, long[]> PerName = [];
        public List<LoadTimePoint> Series = [];
        public List<string> Thresholds = [];
    }

    /// <summary>JSON with the histograms as base64 (uncompressed V2). Survives Export-Clixml, jobs and remoting as a plain string.</summary>
    public string ToJson()
    {
        var s = new State
        {
            DurationSeconds = DurationSeconds, Sources = Sources, Errors = Errors, StatusCodes = StatusCodes, CheckCounts = CheckCounts,
            PerName = PerName, Series = Series, Thresholds = Thresholds,
            Counters = new()
            {
                ["Requests"] = Requests, ["Failed"] = Failed, ["BytesReceived"] = BytesReceived, ["BytesSent"] = BytesSent, ["Late"] = Late,
                ["Dropped"] = Dropped, ["Scheduled"] = Scheduled, ["Events"] = Events, ["ChecksPassed"] = ChecksPassed, ["ChecksFailed"] = ChecksFailed,
                ["StreamingResponses"] = StreamingResponses, ["Clamped"] = Clamped,
            },
        };
        foreach (var (k, h) in Histograms) if (h.TotalCount > 0) s.Histograms[k] = HistogramCodec.Encode(h);
        return JsonConvert.SerializeObject(s);
    }

    public static LoadStats FromJson(string json)
    {
        var s = JsonConvert.DeserializeObject<State>(json) ?? throw new InvalidDataException("empty load state");
        var st = new LoadStats { DurationSeconds = s.DurationSeconds, Sources = Math.Max(1, s.Sources) };
        foreach (var (k, b) in s.Histograms) st.Histograms[k] = HistogramCodec.Decode(b);
        long C(string n) => s.Counters.GetValueOrDefault(n);
        st.Requests = C("Requests"); st.Failed = C("Failed"); st.BytesReceived = C("BytesReceived"); st.BytesSent = C("BytesSent");
        st.Late = C("Late"); st.Dropped = C("Dropped"); st.Scheduled = C("Scheduled"); st.Events = C("Events");
        st.ChecksPassed = C("ChecksPassed"); st.ChecksFailed = C("ChecksFailed"); st.StreamingResponses = C("StreamingResponses"); st.Clamped = C("Clamped");
        foreach (var (k, v) in s.Errors) st.Errors[k] = v;
        foreach (var (k, v) in s.StatusCodes) st.StatusCodes[k] = v;
        foreach (var (k, v) in s.CheckCounts) st.CheckCounts[k] = v;
        foreach (var (k, v) in s.PerName) st.PerName[k] = v;
        st.Series.AddRange(s.Series);
        st.Thresholds.AddRange(s.Thresholds);
        return st;
    }
}
