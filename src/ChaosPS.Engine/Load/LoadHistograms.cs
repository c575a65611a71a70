namespace ChaosPS.Load;

/// <summary>
/// The names of a run's timing histograms (µs), written once: the runner's recorders, <see cref="LoadTestResult.From"/>,
/// the report export's -Histogram choices and the thresholds' metric map all take them from here.
/// </summary>
public static class LoadHistograms
{
    /// <summary>From the intended send time (open model: coordinated omission corrected).</summary>
    public const string Latency = "latency";
    /// <summary>From the actual send.</summary>
    public const string Service = "service";
    public const string Ttfb = "ttfb";
    public const string Connect = "connect";
    public const string Tls = "tls";
    public const string Receive = "receive";
    public const string FirstEvent = "first_event";
    public const string InterEvent = "inter_event";
    /// <summary>Per request name: this prefix and the name.</summary>
    public const string NamePrefix = "name:";

    /// <summary>Every timing histogram, in the recorder slot order of <see cref="LoadMetrics"/> (HLatency .. HInterEvent).</summary>
    public static IReadOnlyList<string> Names { get; } = [Latency, Service, Ttfb, Connect, Tls, Receive, FirstEvent, InterEvent];
}
