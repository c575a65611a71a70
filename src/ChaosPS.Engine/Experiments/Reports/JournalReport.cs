using System.Globalization;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace ChaosPS.Experiments.Reports;

/// <summary>
/// Renders an experiment journal as JSON (the journal itself, redacted), JUnit or NUnit 3 XML (one test per
/// steady-state probe, load threshold, rollback, failed method activity, fault and verdict) or a self-contained HTML page.
/// </summary>
public static class JournalReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static readonly IReadOnlyList<string> Formats = ["Json", "JUnit", "NUnit", "Html"];

    public static string Render(JournalDocument j, string format) => format.ToLowerInvariant() switch
    {
        "json" => j.ToJson(),
        "junit" => ToJUnit([j]),
        "nunit" => ToNUnit([j]),
        "html" => JournalHtml.Render(j),
        _ => throw ChaosException.InvalidArgument("InvalidFormat", $"Unknown experiment report format '{format}'. Use Json, JUnit, NUnit or Html.", format),
    };

    /// <summary>The format a file name implies (.json, .html/.htm, .xml = JUnit), or null.</summary>
    public static string? FormatFromPath(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".json" => "Json",
        ".html" or ".htm" => "Html",
        ".xml" => "JUnit",
        _ => null,
    };

    // ---------- JUnit ----------

    /// <summary>JUnit XML for one or more journals: a testsuite per journal and group (steady state before, load, ...).</summary>
    public static string ToJUnit(IReadOnlyList<JournalDocument> journals)
    {
        var suites = new List<XElement>();
        int tests = 0, failures = 0, errors = 0, skipped = 0;
        double time = 0;
        int id = 0;
        foreach (var j in journals)
        {
            var cases = JournalTestCase.From(j);
            bool first = true;
            foreach (var group in cases.GroupBy(c => c.Suite))
            {
                var g = group.ToList();
                int f = g.Count(c => c.Result is "Failed" or "Inconclusive"), e = g.Count(c => c.Result == "Error"), s = g.Count(c => c.Result == "Skipped");
                tests += g.Count; failures += f; errors += e; skipped += s;
                var classname = $"{Safe(j.Title)}.{Safe(group.Key)}";
                suites.Add(new XElement("testsuite",
                    new XAttribute("name", Clean($"{j.Title} / {group.Key}")),
                    new XAttribute("tests", g.Count), new XAttribute("failures", f), new XAttribute("errors", e), new XAttribute("skipped", s),
                    new XAttribute("time", Sec(g.Sum(c => c.DurationSeconds))),
                    new XAttribute("timestamp", (g.Select(c => c.Start).FirstOrDefault(t => t is not null) ?? j.Start ?? DateTimeOffset.UnixEpoch).UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss", Inv)),
                    new XAttribute("hostname", Clean(JournalDocument.Str(j.Root["node"]) ?? "localhost")),
                    new XAttribute("id", id++),
                    new XAttribute("package", "ChaosPS.Experiments"),
                    first ? Properties(j) : null,
                    g.Select(c => new XElement("testcase",
                        new XAttribute("name", Clean(c.Name)),
                        new XAttribute("classname", classname),
                        new XAttribute("assertions", 1),
                        new XAttribute("time", Sec(c.DurationSeconds)),
                        new XAttribute("status", c.Result),
                        c.Result switch
                        {
                            "Skipped" => new XElement("skipped", new XAttribute("message", Clean(c.Message))),
                            "Error" => new XElement("error", new XAttribute("message", Clean(c.Message)), new XAttribute("type", $"{c.Kind}Raised"), Clean(Details(c))),
                            "Failed" => new XElement("failure", new XAttribute("message", Clean(c.Message)), new XAttribute("type", $"{c.Kind}Failed"), Clean(Details(c))),
                            "Inconclusive" => new XElement("failure", new XAttribute("message", Clean("inconclusive: " + c.Message)), new XAttribute("type", "Inconclusive"), Clean(Details(c))),
                            _ => null,
                        },
                        c.Output is null ? null : new XElement("system-out", Clean(c.Output))))));
                time += g.Sum(c => c.DurationSeconds);
                first = false;
            }
        }
        var root = new XElement("testsuites",
            new XAttribute("name", journals.Count == 1 ? Clean(journals[0].Title) : "ChaosPS experiments"),
            new XAttribute("tests", tests), new XAttribute("failures", failures), new XAttribute("errors", errors),
            new XAttribute("time", Sec(journals.Sum(x => x.Duration))),
            suites);
        return Write(root);
    }

    private static XElement Properties(JournalDocument j) => new("properties",
        Prop("verdict", j.Verdict), Prop("status", j.Status), Prop("deviated", j.Deviated ? "true" : "false"),
        Prop("partial", j.Partial ? "true" : "false"), Prop("start", JournalDocument.Str(j.Root["start"]) ?? ""),
        Prop("node", JournalDocument.Str(j.Root["node"]) ?? ""), Prop("journal_path", j.JournalPath ?? ""),
        Prop("chaosps_version", JournalDocument.Str(j.Root["chaosps-version"]) ?? ""));

    private static XElement Prop(string name, string value) => new("property", new XAttribute("name", name), new XAttribute("value", Clean(value)));

    // ---------- NUnit 3 ----------

    /// <summary>NUnit 3 XML: a test-run, a test-suite per journal, a fixture per group, a test-case per case.</summary>
    public static string ToNUnit(IReadOnlyList<JournalDocument> journals)
    {
        int nextId = 1;
        var all = new List<JournalTestCase>();
        var experimentSuites = new List<XElement>();
        DateTimeOffset? runStart = journals.Select(j => j.Start).Where(t => t is not null).DefaultIfEmpty().Min();
        DateTimeOffset? runEnd = journals.Select(j => j.End ?? j.Start?.AddSeconds(j.Duration)).Where(t => t is not null).DefaultIfEmpty().Max();
        foreach (var j in journals)
        {
            var cases = JournalTestCase.From(j);
            all.AddRange(cases);
            var expId = nextId++;
            var fixtures = new List<XElement>();
            foreach (var group in cases.GroupBy(c => c.Suite))
            {
                var g = group.ToList();
                var fixtureId = nextId++;
                var fixtureName = $"{j.Title}.{group.Key}";
                fixtures.Add(Suite("TestFixture", fixtureId, group.Key, fixtureName, g, j.Start, j.End, g.Sum(c => c.DurationSeconds), null,
                    g.Select(c => TestCase(nextId++, c, fixtureName))));
            }
            experimentSuites.Add(Suite("TestSuite", expId, j.Title, j.Title, cases, j.Start, j.End, j.Duration, NUnitProps(j), fixtures));
        }
        var (result, passed, failed, inconclusive, skipped) = Tally(all);
        var run = new XElement("test-run",
            new XAttribute("id", "0"), new XAttribute("name", journals.Count == 1 ? Clean(journals[0].Title) : "ChaosPS experiments"),
            new XAttribute("fullname", journals.Count == 1 ? Clean(journals[0].Title) : "ChaosPS experiments"),
            new XAttribute("testcasecount", all.Count), new XAttribute("result", result),
            new XAttribute("start-time", Stamp(runStart)), new XAttribute("end-time", Stamp(runEnd)),
            new XAttribute("duration", Sec(journals.Sum(x => x.Duration))),
            new XAttribute("total", all.Count), new XAttribute("passed", passed), new XAttribute("failed", failed),
            new XAttribute("inconclusive", inconclusive), new XAttribute("skipped", skipped), new XAttribute("warnings", 0),
            new XAttribute("asserts", all.Count), new XAttribute("random-seed", 0),
            new XElement("command-line", "Export-ChaosExperimentReport -Format NUnit"),
            new XElement("filter"),
            experimentSuites);
        return Write(run);
    }

    private static XElement NUnitProps(JournalDocument j) => new("properties",
        NProp("verdict", j.Verdict), NProp("status", j.Status), NProp("deviated", j.Deviated ? "true" : "false"),
        NProp("partial", j.Partial ? "true" : "false"), NProp("node", JournalDocument.Str(j.Root["node"]) ?? ""),
        NProp("journal_path", j.JournalPath ?? ""));

    private static XElement NProp(string name, string value) => new("property", new XAttribute("name", name), new XAttribute("value", Clean(value)));

    private static (string Result, int Passed, int Failed, int Inconclusive, int Skipped) Tally(IReadOnlyCollection<JournalTestCase> cases)
    {
        int passed = cases.Count(c => c.Result == "Passed"), failed = cases.Count(c => c.Result is "Failed" or "Error"),
            inconclusive = cases.Count(c => c.Result == "Inconclusive"), skipped = cases.Count(c => c.Result == "Skipped");
        string result = failed > 0 ? "Failed" : inconclusive > 0 ? "Inconclusive" : passed > 0 ? "Passed" : "Skipped";
        return (result, passed, failed, inconclusive, skipped);
    }

    private static XElement Suite(string type, int id, string name, string fullname, IReadOnlyCollection<JournalTestCase> cases,
        DateTimeOffset? start, DateTimeOffset? end, double duration, XElement? properties, IEnumerable<XElement> children)
    {
        var (result, passed, failed, inconclusive, skipped) = Tally(cases);
        return new XElement("test-suite",
            new XAttribute("type", type), new XAttribute("id", id), new XAttribute("name", Clean(name)), new XAttribute("fullname", Clean(fullname)),
            new XAttribute("runstate", "Runnable"), new XAttribute("testcasecount", cases.Count), new XAttribute("result", result),
            result == "Failed" ? new XAttribute("site", "Child") : null,
            new XAttribute("start-time", Stamp(start)), new XAttribute("end-time", Stamp(end ?? start?.AddSeconds(duration))),
            new XAttribute("duration", Sec(duration)),
            new XAttribute("total", cases.Count), new XAttribute("passed", passed), new XAttribute("failed", failed), new XAttribute("warnings", 0),
            new XAttribute("inconclusive", inconclusive), new XAttribute("skipped", skipped), new XAttribute("asserts", cases.Count),
            properties,
            result == "Failed" ? new XElement("failure", new XElement("message", "One or more child tests had errors")) : null,
            children);
    }

    private static XElement TestCase(int id, JournalTestCase c, string fixture)
    {
        string result = c.Result switch { "Error" => "Failed", var r => r };
        var props = new List<XElement> { NProp("kind", c.Kind), NProp("phase", c.Phase) };
        if (c.Observed is { } o) props.Add(NProp("observed", o.ToString("R", Inv)));
        if (c.Expected is { } e) props.Add(NProp("expected", e));
        return new XElement("test-case",
            new XAttribute("id", id), new XAttribute("name", Clean(c.Name)), new XAttribute("fullname", Clean($"{fixture}.{c.Name}")),
            new XAttribute("methodname", Clean(c.Name)), new XAttribute("classname", Clean(fixture)),
            new XAttribute("runstate", "Runnable"), new XAttribute("seed", "0"), new XAttribute("result", result),
            c.Result == "Error" ? new XAttribute("label", "Error") : null,
            new XAttribute("start-time", Stamp(c.Start)), new XAttribute("end-time", Stamp(c.Start?.AddSeconds(c.DurationSeconds))),
            new XAttribute("duration", Sec(c.DurationSeconds)), new XAttribute("asserts", 1),
            new XElement("properties", props),
            result == "Failed" ? new XElement("failure", new XElement("message", Clean(c.Message)), c.Exception is null ? null : new XElement("stack-trace", Clean(c.Exception))) : null,
            result is "Skipped" or "Inconclusive" ? new XElement("reason", new XElement("message", Clean(c.Message))) : null,
            c.Output is null ? null : new XElement("output", Clean(c.Output)));
    }

    // ---------- helpers ----------

    private static string Details(JournalTestCase c)
    {
        var sb = new StringBuilder(c.Message);
        if (c.Expected is not null) sb.Append("\nexpected: ").Append(c.Expected);
        if (c.Observed is { } o) sb.Append("\nobserved: ").Append(JournalTestCase.Fmt(o));
        if (c.Exception is not null) sb.Append('\n').Append(c.Exception);
        if (c.JournalPath is not null) sb.Append("\njournal: ").Append(c.JournalPath);
        return sb.ToString();
    }

    private static string Write(XElement root)
    {
        var sb = new StringBuilder();
        using (var w = XmlWriter.Create(new StringWriter(sb, Inv), new XmlWriterSettings { Indent = true, Encoding = new UTF8Encoding(false), OmitXmlDeclaration = true }))
            root.WriteTo(w);
        return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n" + sb;
    }

    private static string Sec(double s) => Math.Max(0, s).ToString("0.###", Inv);

    private static string Stamp(DateTimeOffset? t) => (t ?? DateTimeOffset.UnixEpoch).UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss.fff'Z'", Inv);

    private static string Safe(string s) => new(s.Select(c => char.IsLetterOrDigit(c) ? c : '_').ToArray());

    /// <summary>Drops what XML 1.0 cannot carry (control characters, lone surrogates).</summary>
    internal static string Clean(string s)
    {
        if (s.All(XmlConvert.IsXmlChar)) return s;
        var sb = new StringBuilder(s.Length);
        for (int i = 0; i < s.Length; i++)
        {
            char c = s[i];
            if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { sb.Append(c).Append(s[++i]); continue; }
            sb.Append(XmlConvert.IsXmlChar(c) ? c : '\uFFFD');
        }
        return sb.ToString();
    }
}
