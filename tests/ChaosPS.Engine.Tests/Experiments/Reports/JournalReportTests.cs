using System.Text.RegularExpressions;
using System.Xml;
using System.Xml.Linq;
using System.Xml.Schema;
using ChaosPS.Experiments.Reports;

namespace ChaosPS.Engine.Tests.Experiments.Reports;

/// <summary>Journal fixtures (Journals/*.json) rendered as JUnit, NUnit 3 and HTML, validated against the XSDs Pester ships.</summary>
public class JournalReportTests
{
    public static readonly TheoryData<string> AllJournals = new() { "passed", "deviated", "failed", "interrupted", "inconclusive" };

    private static readonly string Here = FindSourceDir();

    private static string FindSourceDir()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var p = Path.Combine(d.FullName, "tests", "ChaosPS.Engine.Tests", "Experiments", "Reports");
            if (Directory.Exists(p)) return p;
        }
        throw new DirectoryNotFoundException("tests/ChaosPS.Engine.Tests/Experiments/Reports above " + AppContext.BaseDirectory);
    }

    internal static string RepoRoot => Path.GetFullPath(Path.Combine(Here, "..", "..", "..", ".."));

    internal static JournalDocument Journal(string name) => JournalDocument.Load(Path.Combine(Here, "Journals", name + ".json"));

    /// <summary>Pester's schemas folder: NUGET_PACKAGES or ~/.nuget/packages, the Pester version pinned in build/Tools.csproj.</summary>
    internal static string SchemaDir()
    {
        var tools = XDocument.Load(Path.Combine(RepoRoot, "build", "Tools.csproj"));
        var version = tools.Descendants("PackageDownload").First(e => (string?)e.Attribute("Include") == "Pester").Attribute("Version")!.Value.Trim('[', ']');
        var nuget = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } n ? n : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        var dir = Path.Combine(nuget, "pester", version, "tools", "schemas");
        Assert.True(Directory.Exists(dir), $"Pester {version}'s schemas are not at {dir}: run `dotnet restore build/Tools.csproj` (build.ps1 test does).");
        return dir;
    }

    /// <summary>Validates <paramref name="xml"/> against a schema; returns the validation errors (empty when valid).</summary>
    internal static List<string> Validate(string xml, params string[] schemaFiles)
    {
        var set = new XmlSchemaSet { XmlResolver = new XmlUrlResolver() };
        foreach (var f in schemaFiles)
            using (var r = XmlReader.Create(f, new XmlReaderSettings { DtdProcessing = DtdProcessing.Ignore, XmlResolver = new XmlUrlResolver() }))
                set.Add(null, r);
        set.Compile();
        var errors = new List<string>();
        var settings = new XmlReaderSettings { ValidationType = ValidationType.Schema, Schemas = set };
        settings.ValidationEventHandler += (_, e) => errors.Add($"{e.Severity} line {e.Exception?.LineNumber}: {e.Message}");
        using var reader = XmlReader.Create(new StringReader(xml), settings);
        while (reader.Read()) { }
        return errors;
    }

    internal static List<string> ValidateJUnit(string xml) => Validate(xml, Path.Combine(SchemaDir(), "JUnit4", "junit_schema_4.xsd"));

    internal static List<string> ValidateNUnit(string xml) => Validate(xml, Path.Combine(SchemaDir(), "NUnit3", "TestResult.xsd"));

    [Theory, MemberData(nameof(AllJournals))]
    public void JUnit_is_valid_against_the_JUnit4_schema(string name)
    {
        var xml = JournalReport.Render(Journal(name), "JUnit");
        Assert.Empty(ValidateJUnit(xml));
    }

    [Theory, MemberData(nameof(AllJournals))]
    public void NUnit_is_valid_against_the_NUnit3_schema(string name)
    {
        var xml = JournalReport.Render(Journal(name), "NUnit");
        Assert.Empty(ValidateNUnit(xml));
    }

    [Fact]
    public void The_validation_catches_a_broken_report()
    {
        // The check must be able to fail: a test-case without its required attributes is rejected.
        var xml = JournalReport.Render(Journal("passed"), "NUnit").Replace(" seed=\"0\"", "");
        Assert.NotEmpty(ValidateNUnit(xml));
        var junit = JournalReport.Render(Journal("passed"), "JUnit").Replace("<testcase name=", "<testcase nom=");
        Assert.NotEmpty(ValidateJUnit(junit));
    }

    [Fact]
    public void A_passed_journal_is_all_green_with_one_test_per_probe_threshold_rollback_and_fault()
    {
        var j = Journal("passed");
        var cases = JournalTestCase.From(j);
        Assert.All(cases, c => Assert.Equal("Passed", c.Result));
        Assert.Equal(2 * 6, cases.Count(c => c.Kind == "Hypothesis")); // before, 4 during, after; 2 probes each
        Assert.Equal(2, cases.Count(c => c.Kind == "Threshold"));
        Assert.Single(cases, c => c.Kind == "Rollback");
        Assert.Equal(3, cases.Count(c => c.Kind == "Fault"));
        var doc = XDocument.Parse(JournalReport.Render(j, "JUnit"));
        Assert.Equal(cases.Count.ToString(), doc.Root!.Attribute("tests")!.Value);
        Assert.Equal("0", doc.Root.Attribute("failures")!.Value);
        Assert.Equal("0", doc.Root.Attribute("errors")!.Value);
        var nunit = XDocument.Parse(JournalReport.Render(j, "NUnit"));
        Assert.Equal("Passed", nunit.Root!.Attribute("result")!.Value);
    }

    [Fact]
    public void Recovery_is_measured_from_the_last_fault_end_to_the_first_met_steady_state()
    {
        // Last fault ends at +40.0 s; the during-check at +48 s is met and its last probe ends at +51.05 s.
        var rec = JournalTestCase.From(Journal("passed")).Single(c => c.Kind == "Recovery");
        Assert.Equal("Passed", rec.Result);
        Assert.Equal(11.05, rec.Observed!.Value, 3);
        Assert.Contains("continuous hypothesis", rec.Message);
    }

    [Fact]
    public void A_deviated_journal_fails_the_after_probe_and_the_threshold_and_quotes_the_evidence()
    {
        var cases = JournalTestCase.From(Journal("deviated"));
        var after = cases.Single(c => c.Phase == "After" && c.Kind == "Hypothesis" && c.Name == "router-health-ok");
        Assert.Equal("Failed", after.Result);
        Assert.Contains("status 503", after.Message);
        Assert.Contains("tolerance 200", after.Message);
        Assert.Equal(503, after.Observed);
        var p95 = cases.Single(c => c.Kind == "Threshold" && c.Name.StartsWith("http_req_duration"));
        Assert.Equal("Failed", p95.Result);
        Assert.Contains("observed 572.1", p95.Message);
        Assert.Equal("Failed", cases.Single(c => c.Kind == "Verdict").Result);
        Assert.Equal("Failed", cases.Single(c => c.Kind == "Recovery").Result);

        var doc = XDocument.Parse(JournalReport.Render(Journal("deviated"), "JUnit"));
        var failure = doc.Descendants("testcase").Single(t => t.Attribute("name")!.Value == "http_req_duration: p(95)<500").Element("failure")!;
        Assert.Contains("572.1", failure.Attribute("message")!.Value);
    }

    [Fact]
    public void A_failed_journal_reports_the_exception_the_failed_rollback_and_the_fault_left_behind()
    {
        var cases = JournalTestCase.From(Journal("failed"));
        var method = cases.Single(c => c.Kind == "Method");
        Assert.Equal("Error", method.Result);
        Assert.Contains("ChaosPS.ProxyNotFound", method.Message);
        Assert.Equal("Error", cases.Single(c => c.Kind == "Rollback").Result);
        var fault = cases.Single(c => c.Kind == "Fault" && c.Result != "Passed");
        Assert.Equal("Failed", fault.Result);
        Assert.Contains("f-7c2a93", fault.Message);
        Assert.Contains("NOT restored", fault.Message);
        var doc = XDocument.Parse(JournalReport.Render(Journal("failed"), "JUnit"));
        Assert.True(int.Parse(doc.Root!.Attribute("errors")!.Value) >= 2);
        var err = doc.Descendants("error").First();
        Assert.Contains("at ChaosPS.", err.Value); // the exception lines travel with the failure
    }

    [Fact]
    public void An_interrupted_journal_leaves_the_missing_after_hypothesis_inconclusive_never_passed()
    {
        var j = Journal("interrupted");
        var cases = JournalTestCase.From(j);
        var after = cases.Where(c => c.Phase == "After" && c.Kind == "Hypothesis").ToList();
        Assert.Equal(2, after.Count);
        Assert.All(after, c => Assert.Equal("Inconclusive", c.Result));
        Assert.All(after, c => Assert.Contains("interrupted", c.Message));
        Assert.Equal("Failed", cases.Single(c => c.Kind == "Verdict").Result);
        var junit = XDocument.Parse(JournalReport.Render(j, "JUnit"));
        Assert.Contains(junit.Descendants("failure"), f => f.Attribute("type")!.Value == "Inconclusive");
        var nunit = XDocument.Parse(JournalReport.Render(j, "NUnit"));
        Assert.Contains(nunit.Descendants("test-case"), t => t.Attribute("result")!.Value == "Inconclusive");
        Assert.Contains("id=\"partial\"", JournalReport.Render(j, "Html"));
    }

    [Fact]
    public void A_journal_with_nothing_measured_is_inconclusive_and_not_green()
    {
        var j = Journal("inconclusive");
        var cases = JournalTestCase.From(j);
        Assert.DoesNotContain(cases, c => c.Kind is "Hypothesis" or "Threshold");
        Assert.Equal("Inconclusive", cases.Single(c => c.Kind == "Verdict").Result);
        var doc = XDocument.Parse(JournalReport.Render(j, "JUnit"));
        Assert.Equal("1", doc.Root!.Attribute("failures")!.Value);
    }

    [Theory]
    [InlineData("Json"), InlineData("JUnit"), InlineData("NUnit"), InlineData("Html")]
    public void Credentials_never_reach_a_report(string format)
    {
        var text = JournalReport.Render(Journal("failed"), format);
        Assert.DoesNotContain("s3cret-pa55", text);
        Assert.DoesNotContain("hunter2", text);
        Assert.DoesNotContain("eyJhbGciOiJIUzI1NiJ9", text);
        if (format is "Json" or "Html") Assert.Contains("admin:***@127.0.0.1", text);
    }

    [Theory]
    [InlineData("http://u:p@host/x", "http://u:***@host/x")]
    [InlineData("see https://svc:hunter2@127.0.0.1:9000/a and ftp://a:b@c", "see https://svc:***@127.0.0.1:9000/a and ftp://a:***@c")]
    [InlineData("Authorization: Bearer abc.def", "Authorization: ***")]
    [InlineData("{\"authorization\":\"Basic dXNlcjpwYXNz\"}", "{\"authorization\":\"***\"}")]
    [InlineData("mail me at a@b.c", "mail me at a@b.c")]
    [InlineData("http://host/path?x=a:b@c", "http://host/path?x=a:b@c")]
    public void Redaction(string input, string expected) => Assert.Equal(expected, Redactor.RedactText(input));

    [Fact]
    public void Html_is_self_contained_escaped_and_draws_the_timeline()
    {
        var html = JournalReport.Render(Journal("failed"), "Html");
        Assert.DoesNotContain("<script", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("<img", html, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("&lt;script&gt;alert(", html);
        Assert.DoesNotMatch(new Regex(@"(src|href)\s*=\s*[""']?(https?:)?//", RegexOptions.IgnoreCase), html);
        Assert.DoesNotContain("@import", html);
        Assert.Contains("id=\"verdict\">FAILED<", html);
        Assert.Equal(3, Regex.Matches(html, "class=\"fault-band\"").Count / 2); // 3 faults, on 2 charts
        Assert.Contains("data-name=\"req/s\"", html);
        Assert.Contains("data-name=\"p95\"", html);
        Assert.Contains("data-name=\"errors/s (right axis)\"", html);
        Assert.Contains("never restored", html);
        // The page parses as XML-ish markup would not; at least every <svg> is closed.
        Assert.Equal(Regex.Matches(html, "<svg").Count, Regex.Matches(html, "</svg>").Count);
    }

    [Fact]
    public void Not_a_journal_is_a_clear_error()
    {
        var e = Assert.Throws<ChaosException>(() => JournalDocument.Parse("{\"title\":\"x\"}"));
        Assert.Equal("InvalidJournal", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.InvalidData, e.Category);
        e = Assert.Throws<ChaosException>(() => JournalDocument.Parse("{ not json"));
        Assert.Equal("InvalidJournal", e.ErrorId);
        e = Assert.Throws<ChaosException>(() => JournalDocument.Load("/nonexistent/journal.json"));
        Assert.Equal("JournalNotReadable", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.ObjectNotFound, e.Category);
    }

    [Fact]
    public void Ci_annotations_are_one_line_and_escaped()
    {
        Assert.Equal(CiAnnotation.AzureDevOps, CiAnnotation.Detect(k => k == "TF_BUILD" ? "True" : null));
        Assert.Equal(CiAnnotation.GitHubActions, CiAnnotation.Detect(k => k == "GITHUB_ACTIONS" ? "true" : null));
        Assert.Null(CiAnnotation.Detect(_ => null));
        Assert.Null(CiAnnotation.Detect(k => k switch { "TF_BUILD" => "True", "CHAOSPS_ANNOTATIONS" => "Off", _ => null }));
        var ado = CiAnnotation.Format("AzureDevOps", "error", "p95 100%\nover ]limit; ##vso[task.complete result=Succeeded]");
        Assert.Equal("##vso[task.logissue type=error]p95 100%AZP25%0Aover ]limit; ##vso[task.complete result=Succeeded]", ado);
        Assert.DoesNotContain('\n', ado);
        var gh = CiAnnotation.Format("GitHubActions", "warning", "a\r\nb 5%", "t:i,tle");
        Assert.Equal("::warning title=t%3Ai%2Ctle::a%0D%0Ab 5%25", gh);
        Assert.Contains(CiAnnotation.ForJournal(Journal("deviated"), "AzureDevOps"), l => l.StartsWith("##vso[task.logissue type=error]") && l.Contains("572.1"));
        Assert.Empty(CiAnnotation.ForJournal(Journal("passed"), "GitHubActions"));
    }
}
