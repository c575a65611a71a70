using System.Globalization;
using System.Text.RegularExpressions;

namespace ChaosPS.Load;

/// <summary>The metrics a threshold can name, k6-style: Trend (ms), Rate (fraction 0..1) or Counter.</summary>
public static class LoadMetricCatalog
{
    public const string Trend = "Trend", Rate = "Rate", Counter = "Counter";

    public static readonly IReadOnlyDictionary<string, string> Metrics = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["http_req_duration"] = Trend,      // latency: from the intended send time in the open model
        ["service_time"] = Trend,           // from the actual send
        ["http_req_waiting"] = Trend,       // time to first byte
        ["ttfb"] = Trend,
        ["http_req_connecting"] = Trend,
        ["http_req_tls_handshaking"] = Trend,
        ["http_req_receiving"] = Trend,
        ["time_to_first_event"] = Trend,
        ["inter_event_latency"] = Trend,
        ["http_req_failed"] = Rate,
        ["checks"] = Rate,
        ["late_requests"] = Rate,
        ["http_reqs"] = Counter,
        ["iterations"] = Counter,
        ["dropped_iterations"] = Counter,
        ["data_received"] = Counter,
        ["data_sent"] = Counter,
        ["events"] = Counter,
    };

    /// <summary>Canonical name of the histogram behind a trend metric.</summary>
    public static string HistogramOf(string metric) => metric switch
    {
        "http_req_duration" => LoadHistograms.Latency,
        "service_time" => LoadHistograms.Service,
        "http_req_waiting" or "ttfb" => LoadHistograms.Ttfb,
        "http_req_connecting" => LoadHistograms.Connect,
        "http_req_tls_handshaking" => LoadHistograms.Tls,
        "http_req_receiving" => LoadHistograms.Receive,
        "time_to_first_event" => LoadHistograms.FirstEvent,
        "inter_event_latency" => LoadHistograms.InterEvent,
        _ => metric,
    };
}

/// <summary>One parsed threshold expression: metric, aggregation (avg min med max p(N) count rate), operator, limit.</summary>
public sealed record ThresholdSpec(string Text, string Metric, string Aggregation, double Percentile, string Operator, double Limit)
{
    private static readonly Regex Expr = new(@"^\s*(?<agg>avg|min|med|max|count|rate|value|p\(\s*(?<p>\d+(?:\.\d+)?)\s*\))\s*(?<op><=|>=|==|!=|<|>)\s*(?<v>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*(?<unit>ms|s|us|%)?\s*$",
        RegexOptions.CultureInvariant);

    public string Expression => Text[(Text.IndexOf(':') + 1)..].Trim();

    /// <summary>Parses 'metric: expr' (one expression). Several expressions in one string ('a: p(95)&lt;500, p(99)&lt;900') go through <see cref="ParseMany"/>.</summary>
    public static ThresholdSpec Parse(string text) => ParseMany(text).Single();

    public static List<ThresholdSpec> ParseMany(string text)
    {
        var s = (text ?? "").Trim();
        int colon = s.IndexOf(':');
        if (colon <= 0)
            throw Bad("InvalidThreshold", $"Threshold '{text}' is not 'metric: expression' (for example 'http_req_duration: p(95)<500').", text);
        var metric = s[..colon].Trim();
        if (!LoadMetricCatalog.Metrics.TryGetValue(metric, out var type))
            throw Bad("UnknownThresholdMetric", $"Threshold '{text}': unknown metric '{metric}'. Known: {string.Join(", ", LoadMetricCatalog.Metrics.Keys)}.", metric);
        var list = new List<ThresholdSpec>();
        foreach (var part in s[(colon + 1)..].Split([",", "&&"], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var m = Expr.Match(part);
            if (!m.Success)
                throw Bad("InvalidThreshold", $"Threshold '{text}': '{part}' is not an expression such as p(95)<500, avg<200, rate<0.01 or count>0.", part);
            var agg = m.Groups["agg"].Value;
            double p = 0;
            if (agg.StartsWith('p'))
            {
                p = double.Parse(m.Groups["p"].Value, CultureInfo.InvariantCulture);
                if (p <= 0 || p > 100) throw Bad("InvalidThreshold", $"Threshold '{text}': percentile {p} is not in (0, 100].", part);
                agg = "p";
            }
            if (agg == "value") agg = type == Trend() ? "avg" : type == LoadMetricCatalog.Rate ? "rate" : "count";
            bool ok = type switch
            {
                LoadMetricCatalog.Trend => agg is "avg" or "min" or "med" or "max" or "p" or "count",
                LoadMetricCatalog.Rate => agg is "rate" or "count",
                _ => agg is "count" or "rate",
            };
            if (!ok)
                throw Bad("InvalidThreshold", $"Threshold '{text}': '{m.Groups["agg"].Value}' does not apply to {metric} (a {type}).", part);
            double v = double.Parse(m.Groups["v"].Value, NumberStyles.Float, CultureInfo.InvariantCulture);
            switch (m.Groups["unit"].Value)
            {
                case "s": v *= 1000; break;
                case "us": v /= 1000; break;
                case "%": v /= 100; break;
            }
            list.Add(new ThresholdSpec($"{metric}: {part}", metric, agg, p, m.Groups["op"].Value, v));
        }
        if (list.Count == 0) throw Bad("InvalidThreshold", $"Threshold '{text}' has no expression after the colon.", text);
        return list;

        static string Trend() => LoadMetricCatalog.Trend;
    }

    private static ChaosException Bad(string id, string msg, object? target) =>
        ChaosException.InvalidArgument(id, msg, target, "Use k6 syntax: 'http_req_duration: p(95)<500', 'http_req_failed: rate<0.01', 'ttfb: p(99)<200'.");

    public bool Compare(double actual) => Operator switch
    {
        "<" => actual < Limit,
        "<=" => actual <= Limit,
        ">" => actual > Limit,
        ">=" => actual >= Limit,
        "==" => Math.Abs(actual - Limit) < 1e-9,
        "!=" => Math.Abs(actual - Limit) >= 1e-9,
        _ => false,
    };
}

/// <summary>The outcome of one threshold on a finished (or merged) run.</summary>
public sealed class ThresholdOutcome
{
    public string Metric { get; set; } = "";
    public string Expression { get; set; } = "";
    /// <summary>The measured value the expression was evaluated on (ms for trends, fraction for rates); null when there was no data.</summary>
    public double? Actual { get; set; }
    public bool Passed { get; set; }
    public string Mark => Passed ? "✓" : "✗";
    public string Text => $"{Mark} {Metric}: {Expression}  (actual {(Actual is { } a ? a.ToString("0.###", CultureInfo.InvariantCulture) : "no data")})";
    public override string ToString() => Text;
}

/// <summary>What thresholds are evaluated against: aggregated values of a run.</summary>
public interface ILoadMetricSource
{
    /// <summary>Value of <paramref name="spec"/>'s aggregation for its metric, or null when nothing was recorded.</summary>
    double? Aggregate(ThresholdSpec spec);
}

public static class ThresholdEvaluator
{
    public static List<ThresholdOutcome> Evaluate(IEnumerable<ThresholdSpec> specs, ILoadMetricSource source)
    {
        var list = new List<ThresholdOutcome>();
        foreach (var s in specs)
        {
            var actual = source.Aggregate(s);
            // No data fails a threshold (a p95 of nothing is not "under 500 ms"), except counters/rates which are 0.
            list.Add(new ThresholdOutcome { Metric = s.Metric, Expression = s.Expression, Actual = actual, Passed = actual is { } a && s.Compare(a) });
        }
        return list;
    }
}
