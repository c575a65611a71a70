using System.Globalization;

namespace ChaosPS.Load;

/// <summary>Latency of the requests that share one name.</summary>
public sealed class NamedLatency
{
    public string Name { get; set; } = "";
    public long Requests { get; set; }
    public long Failed { get; set; }
    public LatencySummary? Latency { get; set; }
    public override string ToString() => $"{Name}: {Requests} req, {Failed} failed, {Latency}";
}

/// <summary>Pass/fail counts of one response check.</summary>
public sealed class CheckOutcome
{
    public string Name { get; set; } = "";
    public long Passes { get; set; }
    public long Fails { get; set; }
    public override string ToString() => $"{(Fails == 0 ? "✓" : "✗")} {Name}: {Passes} passed, {Fails} failed";
}

/// <summary>Was the load generator itself the bottleneck? (CPU, late sends, dropped requests.)</summary>
public sealed class GeneratorHealth
{
    public int Cores { get; set; }
    public double CpuAvgPercent { get; set; }
    public double CpuMaxPercent { get; set; }
    public double PeakWorkingSetMB { get; set; }
    /// <summary>Requests sent late although a connection was free: the generator's own lateness.</summary>
    public long LateSends { get; set; }
    public double LateRatio { get; set; }
    public long Dropped { get; set; }
    public int Gen2Collections { get; set; }
    public bool Saturated { get; set; }
    public string Notes { get; set; } = "";
    public override string ToString() => $"cpu avg {CpuAvgPercent:0}% max {CpuMaxPercent:0}%, rss {PeakWorkingSetMB:0} MB, late {LateSends}, dropped {Dropped}{(Saturated ? " — SATURATED" : "")}";
}

/// <summary>One generator host's share of a multi-host run, and how that host did.</summary>
public sealed class LoadHostResult
{
    public string HostName { get; set; } = "";
    public int SessionId { get; set; }
    /// <summary>Completed, Failed or Stopped.</summary>
    public string Status { get; set; } = "";
    public double Weight { get; set; }
    /// <summary>This host's share: requests per second (open model) or virtual users (closed model).</summary>
    public double Share { get; set; }
    public string ModuleVersion { get; set; } = "";
    /// <summary>The host's clock minus this machine's (measured over the session, half the round trip taken off).</summary>
    public TimeSpan ClockOffset { get; set; }
    public TimeSpan RoundTrip { get; set; }
    /// <summary>From the Start-LoadTest call to this host's load start (its clock, offset corrected).</summary>
    public TimeSpan? StartLatency { get; set; }
    public long Requests { get; set; }
    public long Failed { get; set; }
    public double RequestsPerSecond { get; set; }
    public Dictionary<string, long> ErrorsByKind { get; set; } = [];
    public LatencySummary? Latency { get; set; }
    public GeneratorHealth? Generator { get; set; }
    public string? Error { get; set; }
    /// <summary>The host's own result (its histograms travel in the hidden MergeState).</summary>
    public LoadTestResult? Result { get; set; }
    public override string ToString() => Status == "Completed"
        ? $"{HostName}: {Requests} req, {RequestsPerSecond:0} req/s, {Failed} failed, {Latency}"
        : $"{HostName}: {Status}: {Error}";
}

/// <summary>The outcome of Start-LoadTest (or of Merge-LoadTestResult over several).</summary>
public sealed class LoadTestResult
{
    public string Name { get; set; } = "";
    public string Uri { get; set; } = "";
    public string Model { get; set; } = "";
    public string Engine { get; set; } = "";
    public DateTime StartTime { get; set; }
    public DateTime EndTime { get; set; }
    public TimeSpan Duration { get; set; }
    public double TargetRate { get; set; }
    public int MaxConcurrency { get; set; }
    public long Requests { get; set; }
    public long Succeeded { get; set; }
    public long Failed { get; set; }
    public double ErrorRate { get; set; }
    public double RequestsPerSecond { get; set; }
    public long BytesReceived { get; set; }
    public long BytesSent { get; set; }
    /// <summary>Failures by kind: refused, reset, timeout, status_503, ..., other.</summary>
    public Dictionary<string, long> ErrorsByKind { get; set; } = [];
    public Dictionary<string, long> StatusCodes { get; set; } = [];
    /// <summary>Latency: in the open model from each request's intended send time (coordinated omission corrected).</summary>
    public LatencySummary? Latency { get; set; }
    /// <summary>From the actual send to the end of the response.</summary>
    public LatencySummary? ServiceTime { get; set; }
    public LatencySummary? Connect { get; set; }
    public LatencySummary? TlsHandshake { get; set; }
    public LatencySummary? TimeToFirstByte { get; set; }
    public LatencySummary? Receive { get; set; }
    public LatencySummary? TimeToFirstEvent { get; set; }
    public LatencySummary? InterEventLatency { get; set; }
    public long Events { get; set; }
    public double EventsPerSecond { get; set; }
    public long StreamingResponses { get; set; }
    public List<NamedLatency> ByName { get; set; } = [];
    public List<CheckOutcome> Checks { get; set; } = [];
    public long ChecksPassed { get; set; }
    public long ChecksFailed { get; set; }
    public List<ThresholdOutcome> Thresholds { get; set; } = [];
    /// <summary>
    /// Passed: thresholds were given and every one held. Failed: one did not hold (or a host of a multi-host run
    /// failed). Inconclusive: no threshold was given, so nothing was judged: a run without criteria is never a pass.
    /// </summary>
    public string Verdict { get; set; } = "Inconclusive";
    /// <summary>True only when <see cref="Verdict"/> is Passed.</summary>
    public bool Passed { get; set; }
    public long Scheduled { get; set; }
    public long Late { get; set; }
    public long Dropped { get; set; }
    public List<LoadTimePoint> TimeSeries { get; set; } = [];
    public GeneratorHealth Generator { get; set; } = new();
    public bool Aborted { get; set; }
    public string? AbortReason { get; set; }
    /// <summary>How many runs were merged into this one (1 for a single run).</summary>
    public int Sources { get; set; } = 1;
    /// <summary>True when some generator hosts of a multi-host run failed: the figures cover only the hosts in <see cref="Hosts"/> that completed.</summary>
    public bool Partial { get; set; }
    /// <summary>Per-host breakdown of a multi-host run (Start-LoadTest -Session/-HostName); empty for a single run.</summary>
    public List<LoadHostResult> Hosts { get; set; } = [];
    /// <summary>Breaking point (stress runs): the stage and level where thresholds first failed, if they did.</summary>
    public string? BreakingPoint { get; set; }
    // The two base64 blobs are not public properties, so Format-List * stays readable: ChaosPS.Types.ps1xml adds them
    // as HIDDEN properties (MergeState, LatencyHistogram), which PowerShell still serializes (Export-Clixml, jobs,
    // remoting) and Merge-LoadTestResult reads; Get-Member -Force shows them.
    /// <summary>Cumulative latency histogram, base64 of HdrHistogram's uncompressed V2 encoding (µs).</summary>
    internal string? LatencyHistogram { get; set; }
    /// <summary>Everything Merge-LoadTestResult needs (histograms as base64 uncompressed V2, counters), as JSON.</summary>
    internal string MergeState { get; set; } = "";
    /// <summary>The cumulative latency histogram: base64 of HdrHistogram's uncompressed V2 encoding (µs); null without data.</summary>
    public string? GetLatencyHistogram() => LatencyHistogram;
    /// <summary>Everything Merge-LoadTestResult needs (histograms as base64 uncompressed V2, counters), as JSON.</summary>
    public string GetMergeState() => MergeState;

    public string ThresholdSummary => Thresholds.Count == 0 ? "(none)" : string.Join("; ", Thresholds.Select(t => $"{t.Mark} {t.Metric}: {t.Expression}"));
    public double P95 => Latency?.P95 ?? 0;
    public double P99 => Latency?.P99 ?? 0;

    public override string ToString() => $"{Name}: {Requests} req, {RequestsPerSecond:0} req/s, errors {ErrorRate:P2}, p95 {P95:0.##} ms, {Verdict.ToUpperInvariant()}";

    /// <summary>Builds the public view of a (possibly merged) state.</summary>
    public static LoadTestResult From(LoadStats s, LoadTestResult? meta = null)
    {
        var r = meta ?? new LoadTestResult();
        r.Requests = s.Requests;
        r.Failed = s.Failed;
        r.Succeeded = s.Requests - s.Failed;
        r.ErrorRate = s.Requests == 0 ? 0 : Math.Round((double)s.Failed / s.Requests, 6);
        double dur = Math.Max(s.DurationSeconds, 1e-6);
        r.RequestsPerSecond = Math.Round(s.Requests / dur, 1);
        r.BytesReceived = s.BytesReceived;
        r.BytesSent = s.BytesSent;
        r.ErrorsByKind = new(s.Errors);
        r.StatusCodes = new(s.StatusCodes);
        r.Latency = LatencySummary.From(s.Find(LoadHistograms.Latency));
        r.ServiceTime = LatencySummary.From(s.Find(LoadHistograms.Service));
        r.Connect = LatencySummary.From(s.Find(LoadHistograms.Connect));
        r.TlsHandshake = LatencySummary.From(s.Find(LoadHistograms.Tls));
        r.TimeToFirstByte = LatencySummary.From(s.Find(LoadHistograms.Ttfb));
        r.Receive = LatencySummary.From(s.Find(LoadHistograms.Receive));
        r.TimeToFirstEvent = LatencySummary.From(s.Find(LoadHistograms.FirstEvent));
        r.InterEventLatency = LatencySummary.From(s.Find(LoadHistograms.InterEvent));
        r.Events = s.Events;
        r.EventsPerSecond = Math.Round(s.Events / dur, 1);
        r.StreamingResponses = s.StreamingResponses;
        r.ByName = s.PerName.Select(kv => new NamedLatency { Name = kv.Key, Requests = kv.Value[0], Failed = kv.Value[1], Latency = LatencySummary.From(s.Find(LoadHistograms.NamePrefix + kv.Key)) })
            .OrderBy(n => n.Name, StringComparer.Ordinal).ToList();
        r.Checks = s.CheckCounts.Select(kv => new CheckOutcome { Name = kv.Key, Passes = kv.Value[0], Fails = kv.Value[1] }).ToList();
        r.ChecksPassed = s.ChecksPassed;
        r.ChecksFailed = s.ChecksFailed;
        r.Scheduled = s.Scheduled;
        r.Late = s.Late;
        r.Dropped = s.Dropped;
        r.TimeSeries = s.Series.ToList();
        r.Sources = s.Sources;
        r.Thresholds = ThresholdEvaluator.Evaluate(s.Thresholds.SelectMany(ThresholdSpec.ParseMany), s);
        r.Verdict = r.Thresholds.Count == 0 ? "Inconclusive" : r.Thresholds.All(t => t.Passed) ? "Passed" : "Failed";
        r.Passed = r.Verdict == "Passed";
        r.LatencyHistogram = s.Find(LoadHistograms.Latency) is { } lh ? HistogramCodec.Encode(lh) : null;
        r.MergeState = s.ToJson();
        if (r.Duration == TimeSpan.Zero) r.Duration = TimeSpan.FromSeconds(s.DurationSeconds);
        return r;
    }

    internal static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);
}
