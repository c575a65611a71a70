using System.Globalization;
using System.Net;
using System.Text;
using System.Xml.Linq;
using Newtonsoft.Json;
using Newtonsoft.Json.Linq;

namespace ChaosPS.Load.Reports;

/// <summary>Writes a LoadTestResult as k6-like JSON, JUnit or NUnit XML (one test case per threshold), an HdrHistogram spectrum (.hgrm) or a self-contained HTML page.</summary>
public static class LoadTestReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>The report in one format. Every format goes through <see cref="UriRedaction"/>: no password or token
    /// written into a URI reaches a report, whatever field it hides in (URI, name, error text).</summary>
    public static string Render(LoadTestResult r, string format, string histogram = LoadHistograms.Latency) => UriRedaction.Redact(RenderRaw(r, format, histogram))!;

    private static string RenderRaw(LoadTestResult r, string format, string histogram) => format.ToLowerInvariant() switch
    {
        "json" => ToJson(r),
        "junit" => ToJUnit(r),
        "nunit" => ToNUnit(r),
        "hgrm" => ToHgrm(r, histogram),
        "html" => ToHtml(r),
        _ => throw ChaosException.InvalidArgument("InvalidFormat", $"Unknown report format '{format}'. Use Json, JUnit, NUnit, Hgrm or Html.", format),
    };

    // ---------- JSON (close to k6's summary export) ----------

    public static string ToJson(LoadTestResult r)
    {
        var metrics = new JObject();
        JObject Trend(LatencySummary? s, string metric)
        {
            var o = s is null ? new JObject { ["count"] = 0 } : new JObject
            {
                ["avg"] = s.Mean, ["min"] = s.Min, ["med"] = s.P50, ["max"] = s.Max, ["p(90)"] = s.P90, ["p(95)"] = s.P95, ["p(99)"] = s.P99, ["p(99.9)"] = s.P999, ["count"] = s.Count,
            };
            AddThresholds(o, metric);
            return o;
        }
        void AddThresholds(JObject o, string metric)
        {
            var th = r.Thresholds.Where(t => t.Metric == metric).ToList();
            if (th.Count == 0) return;
            var j = new JObject();
            foreach (var t in th) j[t.Expression] = new JObject { ["ok"] = t.Passed, ["actual"] = t.Actual is { } a ? a : null };
            o["thresholds"] = j;
        }
        JObject Counter(string metric, double count)
        {
            var o = new JObject { ["count"] = count, ["rate"] = r.Duration.TotalSeconds > 0 ? Math.Round(count / r.Duration.TotalSeconds, 3) : 0 };
            AddThresholds(o, metric);
            return o;
        }
        JObject Rate(string metric, long trues, long falses)
        {
            var o = new JObject { ["passes"] = trues, ["fails"] = falses, ["value"] = trues + falses == 0 ? 0 : Math.Round((double)trues / (trues + falses), 6) };
            AddThresholds(o, metric);
            return o;
        }
        metrics["http_req_duration"] = Trend(r.Latency, "http_req_duration");
        metrics["service_time"] = Trend(r.ServiceTime, "service_time");
        metrics["http_req_waiting"] = Trend(r.TimeToFirstByte, "http_req_waiting");
        if (r.Thresholds.Any(t => t.Metric == "ttfb")) metrics["ttfb"] = Trend(r.TimeToFirstByte, "ttfb");
        metrics["http_req_connecting"] = Trend(r.Connect, "http_req_connecting");
        if (r.TlsHandshake is not null) metrics["http_req_tls_handshaking"] = Trend(r.TlsHandshake, "http_req_tls_handshaking");
        metrics["http_req_receiving"] = Trend(r.Receive, "http_req_receiving");
        if (r.TimeToFirstEvent is not null) metrics["time_to_first_event"] = Trend(r.TimeToFirstEvent, "time_to_first_event");
        if (r.InterEventLatency is not null) metrics["inter_event_latency"] = Trend(r.InterEventLatency, "inter_event_latency");
        metrics["http_reqs"] = Counter("http_reqs", r.Requests);
        metrics["iterations"] = Counter("iterations", r.Requests);
        metrics["http_req_failed"] = Rate("http_req_failed", r.Failed, r.Requests - r.Failed);
        if (r.ChecksPassed + r.ChecksFailed > 0) metrics["checks"] = Rate("checks", r.ChecksPassed, r.ChecksFailed);
        metrics["data_received"] = Counter("data_received", r.BytesReceived);
        metrics["data_sent"] = Counter("data_sent", r.BytesSent);
        if (r.Model == "Open" || r.Dropped > 0) metrics["dropped_iterations"] = Counter("dropped_iterations", r.Dropped);
        if (r.Model == "Open") metrics["late_requests"] = Rate("late_requests", r.Late, Math.Max(0, r.Requests + r.Dropped - r.Late));
        if (r.Events > 0) metrics["events"] = Counter("events", r.Events);

        var checks = new JObject();
        foreach (var c in r.Checks) checks[c.Name] = new JObject { ["name"] = c.Name, ["path"] = "::" + c.Name, ["passes"] = c.Passes, ["fails"] = c.Fails };
        var root = new JObject
        {
            ["metrics"] = metrics,
            ["root_group"] = new JObject { ["name"] = "", ["path"] = "", ["groups"] = new JObject(), ["checks"] = checks },
            ["state"] = new JObject { ["isStdOutTTY"] = false, ["isStdErrTTY"] = false, ["testRunDurationMs"] = Math.Round(r.Duration.TotalMilliseconds, 3) },
            ["chaosps"] = JObject.FromObject(new
            {
                r.Name, r.Uri, r.Model, r.Engine, r.StartTime, r.EndTime, r.TargetRate, r.MaxConcurrency, r.Verdict, r.Passed, r.Aborted, r.AbortReason, r.BreakingPoint,
                r.Requests, r.Failed, r.ErrorRate, r.RequestsPerSecond, r.ErrorsByKind, r.StatusCodes, r.Scheduled, r.Late, r.Dropped, r.Sources,
                Thresholds = r.Thresholds.Select(t => new { t.Metric, t.Expression, t.Actual, t.Passed }),
                r.ByName, r.Generator, r.TimeSeries, r.LatencyHistogram,
            }),
        };
        return root.ToString(Formatting.Indented);
    }

    // ---------- JUnit / NUnit: one test case per threshold ----------

    // Result: Passed, Failed or Inconclusive (a run without thresholds: nothing was judged, so it is never a pass).
    private static List<(string Name, string Result, string Message)> Cases(LoadTestResult r)
    {
        var list = r.Thresholds.Select(t => ($"{t.Metric}: {t.Expression}", t.Passed ? "Passed" : "Failed", t.Text)).ToList();
        if (list.Count == 0)
            list.Add(("load test judged (no thresholds configured)", r.Aborted ? "Failed" : "Inconclusive",
                $"no thresholds were configured, so nothing was judged ({r.Requests} requests, error rate {r.ErrorRate.ToString("P2", Inv)}{(r.Aborted ? $", aborted: {r.AbortReason}" : "")}); add -Threshold, e.g. 'http_req_failed: rate<0.01'"));
        return list;
    }

    public static string ToJUnit(LoadTestResult r)
    {
        var cases = Cases(r);
        var suite = new XElement("testsuite",
            new XAttribute("name", $"ChaosPS load test: {r.Name}"),
            new XAttribute("tests", cases.Count),
            new XAttribute("failures", cases.Count(c => c.Result != "Passed")),
            new XAttribute("errors", 0),
            new XAttribute("time", r.Duration.TotalSeconds.ToString("0.###", Inv)),
            new XAttribute("timestamp", r.StartTime.ToString("s", Inv)),
            new XElement("properties",
                new XElement("property", new XAttribute("name", "requests"), new XAttribute("value", r.Requests)),
                new XElement("property", new XAttribute("name", "rps"), new XAttribute("value", r.RequestsPerSecond.ToString(Inv))),
                new XElement("property", new XAttribute("name", "p95_ms"), new XAttribute("value", r.P95.ToString(Inv)))),
            cases.Select(c => new XElement("testcase",
                new XAttribute("name", c.Name),
                new XAttribute("classname", $"ChaosPS.LoadTest.{Safe(r.Name)}"),
                new XAttribute("time", "0"),
                c.Result == "Passed" ? null : c.Result == "Inconclusive"
                    ? new XElement("failure", new XAttribute("message", "inconclusive: " + c.Message), new XAttribute("type", "Inconclusive"), c.Message)
                    : new XElement("failure", new XAttribute("message", c.Message), new XAttribute("type", "ThresholdFailed"), c.Message))));
        var doc = new XDocument(new XDeclaration("1.0", "utf-8", null),
            new XElement("testsuites", new XAttribute("name", "ChaosPS"), new XAttribute("tests", cases.Count), new XAttribute("failures", cases.Count(c => c.Result != "Passed")), suite));
        return doc.Declaration + "\n" + doc.Root;
    }

    public static string ToNUnit(LoadTestResult r)
    {
        var cases = Cases(r);
        int failed = cases.Count(c => c.Result == "Failed"), inconclusive = cases.Count(c => c.Result == "Inconclusive");
        string result = failed > 0 ? "Failed" : inconclusive > 0 ? "Inconclusive" : "Passed";
        string start = r.StartTime.ToString("u", Inv), end = r.EndTime.ToString("u", Inv), dur = r.Duration.TotalSeconds.ToString("0.###", Inv);
        int id = 1000;
        var suite = new XElement("test-suite",
            new XAttribute("type", "TestSuite"), new XAttribute("id", "1"), new XAttribute("name", r.Name), new XAttribute("fullname", $"ChaosPS.LoadTest.{Safe(r.Name)}"),
            new XAttribute("runstate", "Runnable"), new XAttribute("testcasecount", cases.Count), new XAttribute("result", result),
            new XAttribute("start-time", start), new XAttribute("end-time", end), new XAttribute("duration", dur),
            new XAttribute("total", cases.Count), new XAttribute("passed", cases.Count - failed - inconclusive), new XAttribute("failed", failed),
            new XAttribute("inconclusive", inconclusive), new XAttribute("skipped", 0), new XAttribute("warnings", 0), new XAttribute("asserts", cases.Count),
            cases.Select(c => new XElement("test-case",
                new XAttribute("id", (id++).ToString(Inv)), new XAttribute("name", c.Name), new XAttribute("fullname", $"ChaosPS.LoadTest.{Safe(r.Name)}.{c.Name}"),
                new XAttribute("runstate", "Runnable"), new XAttribute("seed", 0), new XAttribute("result", c.Result),
                new XAttribute("start-time", start), new XAttribute("end-time", end), new XAttribute("duration", "0"), new XAttribute("asserts", 1),
                c.Result == "Failed" ? new XElement("failure", new XElement("message", new XCData(c.Message)))
                    : c.Result == "Inconclusive" ? new XElement("reason", new XElement("message", new XCData(c.Message))) : null)));
        // NUnit 3's TestResult.xsd: test-run needs name, fullname, warnings and random-seed, and a <filter> before the suites.
        var run = new XElement("test-run",
            new XAttribute("id", "0"), new XAttribute("name", r.Name), new XAttribute("fullname", $"ChaosPS.LoadTest.{Safe(r.Name)}"),
            new XAttribute("testcasecount", cases.Count), new XAttribute("result", result),
            new XAttribute("start-time", start), new XAttribute("end-time", end), new XAttribute("duration", dur),
            new XAttribute("total", cases.Count), new XAttribute("passed", cases.Count - failed - inconclusive), new XAttribute("failed", failed),
            new XAttribute("inconclusive", inconclusive), new XAttribute("skipped", 0), new XAttribute("warnings", 0), new XAttribute("asserts", cases.Count),
            new XAttribute("random-seed", 0),
            new XElement("filter"),
            suite);
        return new XDeclaration("1.0", "utf-8", null) + "\n" + run;
    }

    private static string Safe(string s) => new(s.Select(c => char.IsLetterOrDigit(c) ? c : '_').ToArray());

    // ---------- HdrHistogram percentile spectrum ----------

    public static string ToHgrm(LoadTestResult r, string histogram = LoadHistograms.Latency)
    {
        var st = LoadStats.FromJson(r.MergeState);
        var h = st.Find(histogram) ?? throw new ChaosException("NoHistogram", ChaosErrorCategory.ObjectNotFound,
            $"The result has no '{histogram}' histogram (recorded: {string.Join(", ", st.Histograms.Where(x => x.Value.TotalCount > 0).Select(x => x.Key))}).", histogram);
        using var w = new StringWriter(Inv);
        HdrHistogram.HistogramExtensions.OutputPercentileDistribution(h, w, 5, 1000.0, false);
        return w.ToString();
    }

    // ---------- HTML ----------

    public static string ToHtml(LoadTestResult r)
    {
        var sb = new StringBuilder();
        string E(object? o) => WebUtility.HtmlEncode(Convert.ToString(o, Inv) ?? "");
        string Ms(double? v) => v is { } x ? x.ToString("0.##", Inv) + " ms" : "–";
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E($"Load test: {r.Name}")).Append("</title><style>")
          .Append("body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2433;background:#fafbfc}h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}")
          .Append(".badge{display:inline-block;padding:3px 10px;border-radius:12px;font-weight:600;color:#fff}.pass{background:#1a7f37}.fail{background:#cf222e}.none{background:#6e7781}")
          .Append("table{border-collapse:collapse;background:#fff;font-size:13px}td,th{border:1px solid #d0d7de;padding:4px 10px;text-align:right}th{background:#f0f3f6}td:first-child,th:first-child{text-align:left}")
          .Append(".cards{display:flex;flex-wrap:wrap;gap:10px}.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;min-width:120px}.card b{display:block;font-size:20px}.card span{font-size:12px;color:#57606a}")
          .Append("svg{background:#fff;border:1px solid #d0d7de;border-radius:8px}.ok{color:#1a7f37}.bad{color:#cf222e}</style></head><body>");
        sb.Append("<h1>").Append(E(r.Name)).Append("</h1><div>").Append(E(r.Uri)).Append(" · ").Append(E(r.Model)).Append(" model · ").Append(E(r.Engine))
          .Append(" · ").Append(E(r.StartTime.ToString("u", Inv))).Append(" · ").Append(E(r.Duration.TotalSeconds.ToString("0.#", Inv))).Append(" s ")
          .Append(r.Verdict switch
          {
              "Passed" => "<span class=\"badge pass\" id=\"verdict\">PASSED</span>",
              "Inconclusive" => "<span class=\"badge none\" id=\"verdict\" title=\"no thresholds were configured, so nothing was judged\">INCONCLUSIVE</span>",
              _ => "<span class=\"badge fail\" id=\"verdict\">FAILED</span>",
          })
          .Append(r.Aborted ? $" <span class=\"badge fail\">aborted: {E(r.AbortReason)}</span>" : "").Append("</div>");
        sb.Append("<h2>Summary</h2><div class=\"cards\">");
        void Card(string label, string value) => sb.Append("<div class=\"card\"><b>").Append(E(value)).Append("</b><span>").Append(E(label)).Append("</span></div>");
        Card("requests", r.Requests.ToString("N0", Inv));
        Card("req/s", r.RequestsPerSecond.ToString("N0", Inv));
        Card("error rate", r.ErrorRate.ToString("P2", Inv));
        Card("p50 latency", Ms(r.Latency?.P50));
        Card("p95 latency", Ms(r.Latency?.P95));
        Card("p99 latency", Ms(r.Latency?.P99));
        Card("max latency", Ms(r.Latency?.Max));
        if (r.Model == "Open") { Card("late sends", r.Late.ToString("N0", Inv)); Card("dropped", r.Dropped.ToString("N0", Inv)); }
        if (r.Events > 0) Card("events/s", r.EventsPerSecond.ToString("N0", Inv));
        sb.Append("</div>");

        sb.Append("<h2>Thresholds</h2>");
        if (r.Thresholds.Count == 0) sb.Append("<p>None configured.</p>");
        else
        {
            sb.Append("<table id=\"thresholds\"><tr><th>Threshold</th><th>Actual</th><th>Result</th></tr>");
            foreach (var t in r.Thresholds)
                sb.Append("<tr><td>").Append(E($"{t.Metric}: {t.Expression}")).Append("</td><td>").Append(E(t.Actual is { } a ? a.ToString("0.###", Inv) : "no data"))
                  .Append("</td><td class=\"").Append(t.Passed ? "ok" : "bad").Append("\">").Append(t.Mark).Append(t.Passed ? " pass" : " fail").Append("</td></tr>");
            sb.Append("</table>");
        }
        if (r.BreakingPoint is not null) sb.Append("<p><b>Breaking point:</b> ").Append(E(r.BreakingPoint)).Append("</p>");

        var xs = r.TimeSeries.Select(p => (double)p.Second).ToArray();
        sb.Append("<h2>Latency percentiles over time</h2>");
        sb.Append(LineChart("latency-chart", "ms", xs, [
            ("p50", "#0969da", r.TimeSeries.Select(p => p.P50).ToArray()),
            ("p95", "#bf8700", r.TimeSeries.Select(p => p.P95).ToArray()),
            ("p99", "#cf222e", r.TimeSeries.Select(p => p.P99).ToArray()),
        ]));
        sb.Append("<h2>Throughput over time</h2>");
        sb.Append(LineChart("throughput-chart", "req/s", xs, [
            ("req/s", "#1a7f37", r.TimeSeries.Select(p => p.RequestsPerSecond).ToArray()),
            ("errors/s", "#cf222e", r.TimeSeries.Select(p => (double)p.Failed).ToArray()),
            (r.Model == "Open" ? "target rate" : "virtual users", "#8250df", r.TimeSeries.Select(p => p.Target).ToArray()),
        ]));
        // Percentile spectrum of latency vs service time.
        var st = string.IsNullOrEmpty(r.MergeState) ? null : LoadStats.FromJson(r.MergeState);
        var pcts = new[] { 0.0, 50, 75, 90, 95, 99, 99.9, 99.99, 100 };
        if (st is not null)
        {
            var series = new List<(string, string, double[])>();
            if (st.Find(LoadHistograms.Latency) is { } lh) series.Add(("latency", "#cf222e", pcts.Select(p => lh.GetValueAtPercentile(p) / 1000.0).ToArray()));
            if (st.Find(LoadHistograms.Service) is { } sh) series.Add(("service time", "#0969da", pcts.Select(p => sh.GetValueAtPercentile(p) / 1000.0).ToArray()));
            if (series.Count > 0)
            {
                sb.Append("<h2>Latency by percentile (HdrHistogram)</h2>");
                sb.Append(LineChart("spectrum-chart", "ms", Enumerable.Range(0, pcts.Length).Select(i => (double)i).ToArray(), series,
                    pcts.Select(p => p.ToString("0.##", Inv) + "%").ToArray()));
            }
        }

        sb.Append("<h2>Timings</h2><table id=\"timings\"><tr><th>Timing</th><th>count</th><th>min</th><th>avg</th><th>p50</th><th>p90</th><th>p95</th><th>p99</th><th>p99.9</th><th>max</th></tr>");
        foreach (var (label, s) in new (string, LatencySummary?)[] { ("latency (from intended time)", r.Latency), ("service time", r.ServiceTime), ("connect", r.Connect), ("TLS handshake", r.TlsHandshake),
                     ("time to first byte", r.TimeToFirstByte), ("receive", r.Receive), ("time to first event", r.TimeToFirstEvent), ("inter-event", r.InterEventLatency) })
        {
            if (s is null) continue;
            sb.Append("<tr><td>").Append(E(label)).Append("</td><td>").Append(s.Count.ToString("N0", Inv));
            foreach (var v in new[] { s.Min, s.Mean, s.P50, s.P90, s.P95, s.P99, s.P999, s.Max }) sb.Append("</td><td>").Append(v.ToString("0.###", Inv));
            sb.Append("</td></tr>");
        }
        sb.Append("</table>");
        if (r.ByName.Count > 1)
        {
            sb.Append("<h2>By request</h2><table><tr><th>Name</th><th>requests</th><th>failed</th><th>p50</th><th>p95</th><th>p99</th></tr>");
            foreach (var n in r.ByName)
                sb.Append("<tr><td>").Append(E(n.Name)).Append("</td><td>").Append(n.Requests).Append("</td><td>").Append(n.Failed).Append("</td><td>")
                  .Append(Ms(n.Latency?.P50)).Append("</td><td>").Append(Ms(n.Latency?.P95)).Append("</td><td>").Append(Ms(n.Latency?.P99)).Append("</td></tr>");
            sb.Append("</table>");
        }
        sb.Append("<h2>Errors and status codes</h2><table id=\"errors\"><tr><th>Kind</th><th>count</th></tr>");
        foreach (var (k, v) in r.ErrorsByKind.OrderByDescending(x => x.Value)) sb.Append("<tr><td>").Append(E(k)).Append("</td><td>").Append(v).Append("</td></tr>");
        foreach (var (k, v) in r.StatusCodes.OrderBy(x => x.Key)) sb.Append("<tr><td>HTTP ").Append(E(k)).Append("</td><td>").Append(v).Append("</td></tr>");
        sb.Append("</table>");
        if (r.Checks.Count > 0)
        {
            sb.Append("<h2>Checks</h2><table><tr><th>Check</th><th>passes</th><th>fails</th></tr>");
            foreach (var c in r.Checks) sb.Append("<tr><td>").Append(E(c.Name)).Append("</td><td>").Append(c.Passes).Append("</td><td>").Append(c.Fails).Append("</td></tr>");
            sb.Append("</table>");
        }
        sb.Append("<h2>Load generator</h2><p>").Append(E(r.Generator.ToString())).Append(" — ").Append(E(r.Generator.Notes)).Append("</p>");
        sb.Append("<p style=\"color:#57606a;font-size:12px\">Generated by ChaosPS Export-LoadTestReport. Latency in the open model counts from each request's intended send time (coordinated omission corrected); service time counts from the actual send.</p>");
        sb.Append("</body></html>");
        return sb.ToString();
    }

    /// <summary>An inline SVG line chart with axes, grid, ticks and a legend.</summary>
    private static string LineChart(string id, string unit, double[] xs, IReadOnlyList<(string Name, string Color, double[] Ys)> series, string[]? xLabels = null)
    {
        const int W = 1100, H = 300, L = 70, R = 20, T = 30, B = 40;
        var sb = new StringBuilder();
        sb.Append($"<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\">");
        if (xs.Length == 0 || series.All(s => s.Ys.Length == 0))
        {
            sb.Append($"<text x=\"{W / 2}\" y=\"{H / 2}\" text-anchor=\"middle\" fill=\"#57606a\">no data</text></svg>");
            return sb.ToString();
        }
        double xMin = xs.Min(), xMax = Math.Max(xs.Max(), xMin + 1);
        double yMax = Math.Max(series.SelectMany(s => s.Ys).DefaultIfEmpty(0).Max(), 1e-3);
        yMax = Nice(yMax);
        double X(double x) => L + (x - xMin) / (xMax - xMin) * (W - L - R);
        double Y(double y) => H - B - y / yMax * (H - T - B);
        for (int i = 0; i <= 5; i++)
        {
            double v = yMax * i / 5, y = Y(v);
            sb.Append($"<line x1=\"{L}\" x2=\"{W - R}\" y1=\"{F(y)}\" y2=\"{F(y)}\" stroke=\"#eaeef2\"/>");
            sb.Append($"<text x=\"{L - 6}\" y=\"{F(y + 4)}\" text-anchor=\"end\" font-size=\"11\" fill=\"#57606a\">{WebUtility.HtmlEncode(v.ToString(v >= 100 ? "0" : "0.##", Inv))}</text>");
        }
        int ticks = Math.Min(xs.Length, 10);
        for (int i = 0; i < ticks; i++)
        {
            int k = ticks == 1 ? 0 : (int)Math.Round(i * (xs.Length - 1) / (double)(ticks - 1));
            double x = X(xs[k]);
            string label = xLabels is not null ? xLabels[k] : xs[k].ToString("0", Inv) + "s";
            sb.Append($"<line x1=\"{F(x)}\" x2=\"{F(x)}\" y1=\"{H - B}\" y2=\"{H - B + 4}\" stroke=\"#57606a\"/>");
            sb.Append($"<text x=\"{F(x)}\" y=\"{H - B + 16}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#57606a\">{WebUtility.HtmlEncode(label)}</text>");
        }
        sb.Append($"<line x1=\"{L}\" x2=\"{W - R}\" y1=\"{H - B}\" y2=\"{H - B}\" stroke=\"#57606a\"/><line x1=\"{L}\" x2=\"{L}\" y1=\"{T}\" y2=\"{H - B}\" stroke=\"#57606a\"/>");
        sb.Append($"<text x=\"14\" y=\"{T - 10}\" font-size=\"12\" fill=\"#1d2433\">{WebUtility.HtmlEncode(unit)}</text>");
        int lx = L + 10;
        foreach (var (name, color, ys) in series)
        {
            if (ys.Length == 0) continue;
            var pts = string.Join(" ", ys.Select((y, i) => $"{F(X(xs[Math.Min(i, xs.Length - 1)]))},{F(Y(y))}"));
            sb.Append($"<polyline class=\"series\" data-name=\"{WebUtility.HtmlEncode(name)}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{pts}\"/>");
            if (ys.Length <= 60) foreach (var (y, i) in ys.Select((y, i) => (y, i))) sb.Append($"<circle cx=\"{F(X(xs[Math.Min(i, xs.Length - 1)]))}\" cy=\"{F(Y(y))}\" r=\"2.5\" fill=\"{color}\"/>");
            sb.Append($"<rect x=\"{lx}\" y=\"{T - 20}\" width=\"12\" height=\"4\" fill=\"{color}\"/><text x=\"{lx + 16}\" y=\"{T - 15}\" font-size=\"12\" fill=\"#1d2433\">{WebUtility.HtmlEncode(name)}</text>");
            lx += 30 + name.Length * 8;
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    private static double Nice(double v)
    {
        double e = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (var m in new[] { 1, 2, 2.5, 5, 10 }) if (m * e >= v) return m * e;
        return 10 * e;
    }

    private static string F(double v) => v.ToString("0.#", Inv);
}
