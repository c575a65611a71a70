using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using static ChaosPS.Experiments.Reports.JournalDocument;

namespace ChaosPS.Experiments.Reports;

/// <summary>
/// One self-contained HTML page for a journal: inline CSS and inline SVG, no script, no external font or image.
/// Every value from the journal is HTML-encoded (and was redacted when the journal was read).
/// </summary>
public static class JournalHtml
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    private static string E(object? o) => WebUtility.HtmlEncode(Convert.ToString(o, Inv) ?? "");

    private static string F(double v) => v.ToString("0.#", Inv);

    private const string Css =
        "*{box-sizing:border-box}body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;color:#1d2433;background:#f6f8fa;font-size:14px}" +
        "main{max-width:1180px;margin:0 auto;padding:0 20px 40px}h2{font-size:17px;margin:28px 0 10px}h3{font-size:14px;margin:16px 0 6px;color:#424a53}" +
        "header.verdict{padding:18px 24px;color:#fff}header.verdict h1{font-size:22px;margin:6px 0 4px}header.verdict p{margin:2px 0;opacity:.95}" +
        ".v-pass{background:#1a7f37}.v-fail{background:#cf222e}.v-warn{background:#9a6700}.v-none{background:#57606a}" +
        ".badge{display:inline-block;padding:3px 12px;border-radius:12px;font-weight:700;letter-spacing:.04em;background:rgba(255,255,255,.22);border:1px solid rgba(255,255,255,.5)}" +
        ".cards{display:flex;flex-wrap:wrap;gap:10px;margin-top:16px}.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:10px 14px;min-width:140px}" +
        ".card b{display:block;font-size:20px}.card span{font-size:12px;color:#57606a}" +
        "table{border-collapse:collapse;background:#fff;width:100%;font-size:13px;table-layout:auto}td,th{border:1px solid #d0d7de;padding:5px 8px;text-align:left;vertical-align:top}" +
        "th{background:#f0f3f6;font-weight:600}td.num{text-align:right;white-space:nowrap}" +
        ".r-Passed{color:#1a7f37;font-weight:600}.r-Failed,.r-Error{color:#cf222e;font-weight:600}.r-Inconclusive,.r-Skipped{color:#9a6700;font-weight:600}" +
        "pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:12px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;max-height:220px;overflow:auto}" +
        "details summary{cursor:pointer;color:#0969da}.note{color:#57606a;font-size:12px}.warnbox{background:#fff8c5;border:1px solid #d4a72c;border-radius:6px;padding:8px 12px;margin-top:12px}" +
        "svg{background:#fff;border:1px solid #d0d7de;border-radius:8px;display:block;margin-bottom:10px;max-width:100%;height:auto}" +
        ".legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12px;margin:4px 0 14px}.legend i{display:inline-block;width:14px;height:10px;margin-right:5px;vertical-align:middle}";

    public static string Render(JournalDocument j)
    {
        var sb = new StringBuilder(64 * 1024);
        var cases = JournalTestCase.From(j);
        var verdict = j.Verdict;
        string vclass = verdict switch { "Passed" => "v-pass", "Inconclusive" => "v-none", "Interrupted" or "Aborted" => "v-warn", _ => "v-fail" };
        sb.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">")
          .Append("<title>").Append(E($"{verdict}: {j.Title}")).Append("</title><style>").Append(Css).Append("</style></head><body>");

        // Verdict header.
        sb.Append("<header class=\"verdict ").Append(vclass).Append("\"><span class=\"badge\" id=\"verdict\">").Append(E(verdict.ToUpperInvariant())).Append("</span>")
          .Append("<h1>").Append(E(j.Title)).Append("</h1>");
        if (Str(j.Experiment["description"]) is { Length: > 0 } desc) sb.Append("<p>").Append(E(desc)).Append("</p>");
        sb.Append("<p>").Append(E($"status {j.Status} · deviated {(j.Deviated ? "yes" : "no")} · started {j.Start?.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", Inv) ?? "?"} UTC · {j.Duration.ToString("0.0", Inv)} s · node {Str(j.Root["node"]) ?? "?"}"))
          .Append("</p></header><main>");

        if (j.Partial || j.End is null)
            sb.Append("<div class=\"warnbox\" id=\"partial\">This journal is partial: the run ended (").Append(E(j.Status))
              .Append(") before every phase was recorded. What is missing below is inconclusive, not passed.</div>");

        // Summary cards.
        sb.Append("<div class=\"cards\" id=\"summary\">");
        void Card(string label, string value) => sb.Append("<div class=\"card\"><b>").Append(E(value)).Append("</b><span>").Append(E(label)).Append("</span></div>");
        string Count(string kind) { var c = cases.Where(x => x.Kind == kind).ToList(); return c.Count == 0 ? "–" : $"{c.Count(x => x.Passed)}/{c.Count}"; }
        Card("steady-state probes met", Count("Hypothesis"));
        Card("load thresholds passed", Count("Threshold"));
        Card("faults restored", Count("Fault"));
        Card("rollbacks succeeded", Count("Rollback"));
        var rec = cases.FirstOrDefault(c => c.Kind == "Recovery");
        Card("time to steady state", rec?.Observed is { } o ? $"{o.ToString("0.0", Inv)} s" : rec?.Result ?? "–");
        foreach (var l in Objects(j.ChaosPS?["load"]).Take(1))
        {
            var s = l["summary"] as JsonObject;
            if (Num(s?["rps"]) is { } rps) Card("req/s (load)", rps.ToString("N0", Inv));
            if (Num(s?["p95_ms"]) is { } p95) Card("p95 latency", $"{p95.ToString("0.#", Inv)} ms");
            if (Num(s?["error_rate"]) is { } er) Card("error rate", er.ToString("P2", Inv));
        }
        sb.Append("</div>");

        var failing = cases.Where(c => c.Result is "Failed" or "Error" or "Inconclusive").ToList();
        if (failing.Count > 0)
        {
            sb.Append("<h2>What did not pass</h2><table id=\"failures\"><tr><th>Where</th><th>What</th><th>Result</th><th>Evidence</th></tr>");
            foreach (var c in failing)
                sb.Append("<tr><td>").Append(E(c.Suite)).Append("</td><td>").Append(E(c.Name)).Append("</td><td class=\"r-").Append(E(c.Result)).Append("\">")
                  .Append(E(c.Result)).Append("</td><td>").Append(E(c.Message)).Append("</td></tr>");
            sb.Append("</table>");
        }

        Timeline(sb, j);

        // Steady states.
        sb.Append("<h2>Steady-state hypothesis</h2>");
        if (j.Experiment["steady-state-hypothesis"] is JsonObject ssh)
            sb.Append("<p>").Append(E(Str(ssh["title"]) ?? "")).Append("</p>");
        var hyp = cases.Where(c => c.Kind == "Hypothesis").ToList();
        if (hyp.Count == 0) sb.Append("<p class=\"note\">The experiment has no steady-state hypothesis: nothing was verified.</p>");
        foreach (var group in hyp.GroupBy(c => c.Suite))
        {
            sb.Append("<h3>").Append(E(group.Key)).Append("</h3><table class=\"steady\"><tr><th>Probe</th><th>Result</th><th>Evidence</th><th>Output</th></tr>");
            foreach (var c in group)
                sb.Append("<tr><td>").Append(E(c.Name)).Append("</td><td class=\"r-").Append(E(c.Result)).Append("\">").Append(E(c.Result))
                  .Append("</td><td>").Append(E(c.Message)).Append("</td><td>").Append(Output(c.Output)).Append("</td></tr>");
            sb.Append("</table>");
        }

        // Thresholds.
        var th = cases.Where(c => c.Kind == "Threshold").ToList();
        if (th.Count > 0)
        {
            sb.Append("<h2>Load thresholds</h2><table id=\"thresholds\"><tr><th>Load</th><th>Threshold</th><th>Observed</th><th>Result</th></tr>");
            foreach (var c in th)
                sb.Append("<tr><td>").Append(E(c.Suite)).Append("</td><td>").Append(E(c.Name)).Append("</td><td class=\"num\">")
                  .Append(E(c.Observed is { } ob ? JournalTestCase.Fmt(ob) : "no data")).Append("</td><td class=\"r-").Append(E(c.Result)).Append("\">").Append(E(c.Result)).Append("</td></tr>");
            sb.Append("</table>");
        }

        Runs(sb, j, "Method", "method", Objects(j.Root["run"]).ToList());
        Runs(sb, j, "Rollbacks", "rollbacks", Objects(j.Root["rollbacks"]).ToList());
        var skippedRb = cases.Where(c => c.Kind == "Rollback" && c.Result == "Skipped").ToList();
        foreach (var c in skippedRb) sb.Append("<p class=\"note\">").Append(E($"Rollback '{c.Name}': {c.Message}")).Append("</p>");

        // Faults.
        var faults = Objects(j.ChaosPS?["faults"]).ToList();
        sb.Append("<h2>Faults</h2>");
        if (faults.Count == 0) sb.Append("<p class=\"note\">No fault was recorded.</p>");
        else
        {
            sb.Append("<table id=\"faults\"><tr><th>Id</th><th>Kind</th><th>Target</th><th>Activity</th><th>From</th><th>To</th><th>Restored</th></tr>");
            foreach (var f in faults)
            {
                var restored = Bool(f["restored"]);
                sb.Append("<tr><td>").Append(E(Str(f["id"]))).Append("</td><td>").Append(E(Str(f["kind"]))).Append("</td><td>").Append(E(Str(f["target"])))
                  .Append("</td><td>").Append(E(Str(f["activity"]))).Append("</td><td class=\"num\">").Append(E(Rel(j, f["start"]))).Append("</td><td class=\"num\">")
                  .Append(E(Rel(j, f["end"]))).Append("</td><td class=\"r-").Append(restored == true ? "Passed" : "Failed").Append("\">")
                  .Append(restored switch { true => "yes", false => "NO — still active", null => "unknown" }).Append("</td></tr>");
            }
            sb.Append("</table>");
        }

        sb.Append("<p class=\"note\">Journal: ").Append(E(j.JournalPath ?? "(not from a file)")).Append(" · ChaosPS ").Append(E(Str(j.Root["chaosps-version"]) ?? ""))
          .Append(" · times are seconds from the experiment's start · credentials in URIs and Authorization headers are redacted.</p>");
        sb.Append("</main></body></html>");
        return sb.ToString();
    }

    private static string Rel(JournalDocument j, JsonNode? t) => Time(t) is { } x && j.Offset(x) is { } o ? $"+{o.ToString("0.0", Inv)} s" : "–";

    private static string Output(string? text) =>
        string.IsNullOrEmpty(text) ? "" : text.Length <= 160 ? $"<pre>{E(text)}</pre>" : $"<details><summary>{E(text[..80])}…</summary><pre>{E(text)}</pre></details>";

    private static void Runs(StringBuilder sb, JournalDocument j, string title, string id, List<JsonObject> runs)
    {
        sb.Append("<h2>").Append(E(title)).Append("</h2>");
        if (runs.Count == 0) { sb.Append("<p class=\"note\">Nothing ran.</p>"); return; }
        sb.Append("<table id=\"").Append(id).Append("\"><tr><th>Activity</th><th>Type</th><th>Status</th><th>Start</th><th>Duration</th><th>Output / exception</th></tr>");
        foreach (var r in runs)
        {
            var act = r["activity"] as JsonObject;
            var status = Str(r["status"]) ?? "?";
            var exc = r["exception"] is JsonArray a && a.Count > 0 ? string.Join("\n", a.Select(x => Str(x) ?? Show(x))) : null;
            sb.Append("<tr><td>").Append(E(Str(act?["name"]))).Append(Provider(act?["provider"])).Append("</td><td>").Append(E(Str(act?["type"]))).Append("</td><td class=\"r-")
              .Append(status == "succeeded" ? "Passed" : "Failed").Append("\">").Append(E(status)).Append("</td><td class=\"num\">").Append(E(Rel(j, r["start"])))
              .Append("</td><td class=\"num\">").Append(E($"{(Num(r["duration"]) ?? 0).ToString("0.###", Inv)} s")).Append("</td><td>")
              .Append(exc is not null ? $"<pre class=\"exception\">{E(exc)}</pre>" : Output(r.ContainsKey("output") ? Show(r["output"], 4000) : null)).Append("</td></tr>");
        }
        sb.Append("</table>");
    }

    /// <summary>What an activity called, in one line: the URL of an http provider, the cmdlet of a chaosps one, the path of a process.</summary>
    private static string Provider(JsonNode? p)
    {
        if (p is not JsonObject o) return "";
        var type = Str(o["type"]);
        var what = type switch
        {
            "http" => $"{Str(o["method"]) ?? "GET"} {Str(o["url"])}",
            "process" => Str(o["path"]),
            "python" => $"{Str(o["module"])}.{Str(o["func"])}",
            _ => Str(o["cmdlet"]) ?? Str(o["func"]) ?? Str(o["path"]),
        };
        return string.IsNullOrEmpty(what) ? "" : $"<div class=\"note\">{E(type)}: {E(what)}</div>";
    }

    // ---------- timeline ----------

    private sealed record Band(double From, double To, string Label, bool Open);
    private sealed record Mark(double At, bool? Met, string Label);

    private static void Timeline(StringBuilder sb, JournalDocument j)
    {
        sb.Append("<h2>Timeline</h2>");
        var loads = Objects(j.ChaosPS?["load"]).ToList();
        double xMax = Math.Max(j.Duration, 1);
        foreach (var l in loads)
            foreach (var p in Objects(l["series"])) xMax = Math.Max(xMax, Num(p["t"]) ?? 0);

        // Fault bands: from chaosps.faults, else from fault-start/fault-end events.
        var bands = new List<Band>();
        foreach (var f in Objects(j.ChaosPS?["faults"]))
        {
            var from = j.Offset(Time(f["start"])); if (from is null) continue;
            var to = j.Offset(Time(f["end"]));
            bands.Add(new Band(from.Value, to ?? xMax, $"{Str(f["kind"])} {Str(f["target"])}", to is null));
        }
        if (bands.Count == 0)
        {
            var open = new Dictionary<string, double>();
            foreach (var ev in Objects(j.ChaosPS?["events"]).OrderBy(e => Num(e["t"]) ?? 0))
            {
                var name = Str(ev["name"]) ?? "fault"; var t = Num(ev["t"]) ?? 0;
                if (Str(ev["kind"]) == "fault-start") open[name] = t;
                else if (Str(ev["kind"]) == "fault-end" && open.Remove(name, out var s)) bands.Add(new Band(s, t, name, false));
            }
            foreach (var (name, s) in open) bands.Add(new Band(s, xMax, name, true));
        }
        // Steady-state checks as marks.
        var marks = new List<Mark>();
        var ss = j.Root["steady_states"] as JsonObject;
        void AddMark(JsonNode? s, string label)
        {
            if (s is not JsonObject o) return;
            var at = j.Offset(Objects(o["probes"]).Select(p => Time(p["start"])).FirstOrDefault(t => t is not null));
            if (at is { } a) marks.Add(new Mark(a, Bool(o["steady_state_met"]), label));
        }
        AddMark(ss?["before"], "before");
        int k = 0; foreach (var d in Objects(ss?["during"])) AddMark(d, $"during #{++k}");
        AddMark(ss?["after"], "after");

        if (loads.Count == 0)
        {
            sb.Append("<p class=\"note\">No load ran during this experiment: the timeline shows the faults and the steady-state checks only.</p>");
            sb.Append(Chart("timeline-chart", "", xMax, [], bands, marks, 160));
        }
        foreach (var (l, i) in loads.Select((l, i) => (l, i)))
        {
            var pts = Objects(l["series"]).Select(p => (T: Num(p["t"]) ?? 0, Rps: Num(p["rps"]) ?? 0, Err: Num(p["errors"]) ?? 0, P50: Num(p["p50_ms"]), P95: Num(p["p95_ms"]), P99: Num(p["p99_ms"]))).OrderBy(p => p.T).ToList();
            sb.Append("<h3>").Append(E($"Load '{Str(l["activity"])}' on {Str(l["uri"])}")).Append("</h3>");
            if (pts.Count == 0) { sb.Append("<p class=\"note\">No per-second series was recorded for this load.</p>"); continue; }
            var xs = pts.Select(p => p.T).ToArray();
            sb.Append(Chart($"throughput-chart-{i}", "req/s", xMax, [
                new("req/s", "#1a7f37", xs, pts.Select(p => p.Rps).ToArray(), false),
                new("errors/s (right axis)", "#cf222e", xs, pts.Select(p => p.Err).ToArray(), true),
            ], bands, marks, 260));
            sb.Append(Chart($"latency-chart-{i}", "ms", xMax, [
                new("p50", "#0969da", xs, pts.Select(p => p.P50 ?? double.NaN).ToArray(), false),
                new("p95", "#bf8700", xs, pts.Select(p => p.P95 ?? double.NaN).ToArray(), false),
                new("p99", "#8250df", xs, pts.Select(p => p.P99 ?? double.NaN).ToArray(), false),
            ], bands, marks, 260));
        }
        // Legend for bands and marks (HTML, so long names wrap instead of overlapping in the SVG).
        sb.Append("<div class=\"legend\">");
        for (int b = 0; b < bands.Count; b++)
            sb.Append("<span><i style=\"background:").Append(BandColor(b)).Append(";opacity:.55\"></i>").Append(E($"F{b + 1}: {bands[b].Label} (+{bands[b].From.ToString("0.0", Inv)} s → {(bands[b].Open ? "never restored" : $"+{bands[b].To.ToString("0.0", Inv)} s")})")).Append("</span>");
        if (marks.Count > 0)
            sb.Append("<span><i style=\"background:#1a7f37;border-radius:50%\"></i>steady state met</span><span><i style=\"background:#cf222e;border-radius:50%\"></i>steady state not met</span>");
        sb.Append("</div>");
    }

    private sealed record Series(string Name, string Color, double[] Xs, double[] Ys, bool Right);

    private static string BandColor(int i) => new[] { "#ff8c8c", "#ffb366", "#d9a3ff", "#8cc8ff", "#ffd966" }[i % 5];

    private static string Chart(string id, string unit, double xMax, IReadOnlyList<Series> series, List<Band> bands, List<Mark> marks, int H)
    {
        const int W = 1120, L = 64, R = 64, T = 34, B = 34;
        var sb = new StringBuilder();
        sb.Append($"<svg id=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\">");
        double X(double x) => L + Math.Clamp(x / xMax, 0, 1) * (W - L - R);
        var left = series.Where(s => !s.Right).SelectMany(s => s.Ys).Where(double.IsFinite).DefaultIfEmpty(0).Max();
        var right = series.Where(s => s.Right).SelectMany(s => s.Ys).Where(double.IsFinite).DefaultIfEmpty(0).Max();
        double yMaxL = Nice(Math.Max(left, 1e-3)), yMaxR = Nice(Math.Max(right, 1));
        double Y(double y, bool r) => H - B - y / (r ? yMaxR : yMaxL) * (H - T - B);

        // Fault bands under everything, each with a short label row of its own.
        for (int b = 0; b < bands.Count; b++)
        {
            double x1 = X(bands[b].From), x2 = Math.Max(X(bands[b].To), x1 + 2);
            sb.Append($"<rect class=\"fault-band\" x=\"{F(x1)}\" y=\"{T}\" width=\"{F(x2 - x1)}\" height=\"{H - T - B}\" fill=\"{BandColor(b)}\" fill-opacity=\".28\" stroke=\"{BandColor(b)}\" stroke-opacity=\".8\"{(bands[b].Open ? " stroke-dasharray=\"4 3\"" : "")}><title>{E(bands[b].Label)}</title></rect>");
            sb.Append($"<text x=\"{F(x1 + 3)}\" y=\"{T + 12 + 12 * (b % 3)}\" font-size=\"11\" fill=\"#6e3500\">F{b + 1}</text>");
        }
        if (series.Count > 0)
        {
            for (int i = 0; i <= 5; i++)
            {
                double v = yMaxL * i / 5, y = Y(v, false);
                sb.Append($"<line x1=\"{L}\" x2=\"{W - R}\" y1=\"{F(y)}\" y2=\"{F(y)}\" stroke=\"#eaeef2\"/>");
                sb.Append($"<text x=\"{L - 6}\" y=\"{F(y + 4)}\" text-anchor=\"end\" font-size=\"11\" fill=\"#57606a\">{E(v.ToString(v >= 100 ? "0" : "0.##", Inv))}</text>");
                if (series.Any(s => s.Right))
                {
                    double vr = yMaxR * i / 5;
                    sb.Append($"<text x=\"{W - R + 6}\" y=\"{F(y + 4)}\" font-size=\"11\" fill=\"#cf222e\">{E(vr.ToString(vr >= 100 ? "0" : "0.##", Inv))}</text>");
                }
            }
            sb.Append($"<text x=\"8\" y=\"{T - 12}\" font-size=\"12\" fill=\"#1d2433\">{E(unit)}</text>");
        }
        // x axis: ticks every "nice" step of seconds.
        double step = Nice(xMax / 10);
        for (double t = 0; t <= xMax + 1e-9; t += step)
        {
            double x = X(t);
            sb.Append($"<line x1=\"{F(x)}\" x2=\"{F(x)}\" y1=\"{H - B}\" y2=\"{H - B + 4}\" stroke=\"#57606a\"/>");
            sb.Append($"<text x=\"{F(x)}\" y=\"{H - B + 16}\" text-anchor=\"middle\" font-size=\"11\" fill=\"#57606a\">{E(t.ToString("0.#", Inv))} s</text>");
        }
        sb.Append($"<line x1=\"{L}\" x2=\"{W - R}\" y1=\"{H - B}\" y2=\"{H - B}\" stroke=\"#57606a\"/><line x1=\"{L}\" x2=\"{L}\" y1=\"{T}\" y2=\"{H - B}\" stroke=\"#57606a\"/>");

        // Series and their legend along the top.
        int lx = L + 40;
        foreach (var s in series)
        {
            var pts = s.Xs.Zip(s.Ys).Where(p => double.IsFinite(p.Second)).Select(p => $"{F(X(p.First))},{F(Y(p.Second, s.Right))}");
            sb.Append($"<polyline class=\"series\" data-name=\"{E(s.Name)}\" fill=\"none\" stroke=\"{s.Color}\" stroke-width=\"{(s.Right ? 1.5 : 2)}\"{(s.Right ? " stroke-dasharray=\"5 2\"" : "")} points=\"{string.Join(" ", pts)}\"/>");
            sb.Append($"<rect x=\"{lx}\" y=\"{T - 20}\" width=\"14\" height=\"4\" fill=\"{s.Color}\"/><text x=\"{lx + 18}\" y=\"{T - 15}\" font-size=\"12\" fill=\"#1d2433\">{E(s.Name)}</text>");
            lx += 40 + s.Name.Length * 7;
        }
        // Steady-state checks: a dot on the top edge, green when met, red when not.
        foreach (var m in marks)
        {
            string c = m.Met switch { true => "#1a7f37", false => "#cf222e", null => "#9a6700" };
            sb.Append($"<circle class=\"steady-mark\" cx=\"{F(X(m.At))}\" cy=\"{T}\" r=\"5\" fill=\"{c}\" stroke=\"#fff\"><title>{E($"steady state {m.Label} at +{m.At.ToString("0.0", Inv)} s: {(m.Met == true ? "met" : m.Met == false ? "NOT met" : "unknown")}")}</title></circle>");
        }
        sb.Append("</svg>");
        return sb.ToString();
    }

    private static double Nice(double v)
    {
        if (v <= 0 || !double.IsFinite(v)) return 1;
        double e = Math.Pow(10, Math.Floor(Math.Log10(v)));
        foreach (var m in new[] { 1, 2, 2.5, 5, 10 }) if (m * e >= v) return m * e;
        return 10 * e;
    }
}
