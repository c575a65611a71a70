using System.Text.Json.Nodes;
using ChaosPS.Experiments;

namespace ChaosPS.Engine.Tests.Experiments;

/// <summary>A provider whose outputs and failures a test scripts: {type: "fake", value: any, fail: "message", delay: seconds}.</summary>
internal sealed class FakeProvider : IActivityProvider
{
    public string Type => "fake";
    public List<string> Calls { get; } = [];
    public void Validate(JsonObject provider, string path, ExperimentValidation v)
    {
        if (provider["bad"] is not null) v.Add("ChaosPS.FakeBad", path + ".bad", "bad on purpose");
    }
    public Task<string> PlanAsync(JsonObject provider, string path, CancellationToken ct) => Task.FromResult("fake");
    public async Task<object?> RunAsync(ActivityCall call, CancellationToken ct)
    {
        lock (Calls) Calls.Add(call.Name);
        if (Json.Num(call.Provider["delay"]) is { } d) await Task.Delay(TimeSpan.FromSeconds(d), ct);
        if (call.Provider["fail"]?.ToString() is { } f) throw new ActivityFailedException(f);
        // "sequence": a list of outputs, one per call of this activity (for continuous hypotheses).
        if (call.Provider["sequence"] is JsonArray seq)
        {
            int n; lock (Calls) n = Calls.Count(c => c == call.Name) - 1;
            return seq[Math.Min(n, seq.Count - 1)]?.DeepClone();
        }
        return call.Provider["value"]?.DeepClone();
    }
}

public class ExperimentLoaderTests
{
    private static readonly Dictionary<string, IActivityProvider> Providers = new(ExperimentRunner.BuiltIn()) { ["fake"] = new FakeProvider() };

    internal static JsonObject Doc(string json) => ExperimentLoader.ParseJson(json, "test.json");

    private static ExperimentException Fails(string json, Func<string, string?>? env = null, Dictionary<string, object?>? overrides = null)
        => Assert.Throws<ExperimentException>(() => ExperimentLoader.Prepare(Doc(json), "test.json", "json", Providers, overrides, env ?? (_ => null)));

    [Fact]
    public void Invalid_json_names_the_file_and_position()
    {
        var e = Assert.Throws<ExperimentException>(() => ExperimentLoader.ParseJson("{ \"title\": ", "x.json"));
        Assert.Equal(ExperimentException.Ids.InvalidJson, e.ErrorId);
        Assert.Contains("x.json", e.Message);
        Assert.Contains("line 1", e.Message);
    }

    [Fact]
    public void Missing_title_description_and_method_are_each_reported_with_their_path()
    {
        var e = Fails("{}");
        Assert.Contains(e.Issues, i => i.JsonPath == "$.title");
        Assert.Contains(e.Issues, i => i.JsonPath == "$.description");
        Assert.Contains(e.Issues, i => i.JsonPath == "$.method");
    }

    [Fact]
    public void Hypothesis_probe_without_tolerance_is_refused()
    {
        var e = Fails("""{"title":"t","description":"d","steady-state-hypothesis":{"title":"h","probes":[{"type":"probe","name":"p","provider":{"type":"fake"}}]},"method":[]}""");
        var i = Assert.Single(e.Issues);
        Assert.Equal(ExperimentException.Ids.MissingTolerance, i.ErrorId);
        Assert.Equal("$.steady-state-hypothesis.probes[0].tolerance", i.JsonPath);
    }

    [Fact]
    public void Python_provider_is_not_supported_and_names_the_activity_path()
    {
        var e = Fails("""{"title":"t","description":"d","method":[{"type":"action","name":"a","provider":{"type":"fake"}},{"type":"action","name":"py","provider":{"type":"python","module":"chaosk8s.pod.actions","func":"terminate_pods"}}]}""");
        var i = Assert.Single(e.Issues);
        Assert.Equal(ExperimentException.Ids.UnsupportedProvider, i.ErrorId);
        Assert.Equal(ChaosErrorCategory.NotImplemented, i.Category);
        Assert.Equal("$.method[1].provider.type", i.JsonPath);
        Assert.Contains("chaosk8s.pod.actions.terminate_pods", i.Message);
    }

    [Fact]
    public void Unknown_provider_and_provider_field_errors_carry_their_paths()
    {
        var e = Fails("""{"title":"t","description":"d","method":[{"type":"action","name":"a","provider":{"type":"nope"}},{"type":"probe","name":"b","provider":{"type":"http"}},{"type":"probe","name":"c","provider":{"type":"fake","bad":1}}]}""");
        Assert.Contains(e.Issues, i => i.ErrorId == ExperimentException.Ids.UnknownProvider && i.JsonPath == "$.method[0].provider.type");
        Assert.Contains(e.Issues, i => i.JsonPath == "$.method[1].provider.url");
        Assert.Contains(e.Issues, i => i.ErrorId == "ChaosPS.FakeBad" && i.JsonPath == "$.method[2].provider.bad");
    }

    [Fact]
    public void Controls_are_refused_not_ignored()
    {
        var e = Fails("""{"title":"t","description":"d","controls":[{"name":"tracing","provider":{"type":"python","module":"chaostracing.control"}}],"method":[]}""");
        var i = Assert.Single(e.Issues);
        Assert.Equal(ExperimentException.Ids.UnsupportedControls, i.ErrorId);
        Assert.Equal("$.controls", i.JsonPath);
    }

    [Fact]
    public void Configuration_is_substituted_with_types_kept_env_and_overrides()
    {
        var json = """
        {"title":"${name} test","description":"d","configuration":{"name":"svc","port":{"type":"env","key":"PORT","default":80},"n":{"type":"env","key":"N","env_var_type":"int"}},
         "method":[{"type":"probe","name":"p","provider":{"type":"fake","value":"${port}","n":"${n}","url":"http://h:${port}/x","o":"${name}"}}]}
        """;
        var exp = ExperimentLoader.Prepare(Doc(json), "t", "json", Providers, new Dictionary<string, object?> { ["name"] = "over" }, k => k == "N" ? "7" : null);
        Assert.Equal("over test", exp.Title);
        var p = exp.Document["method"]![0]!["provider"]!;
        Assert.Equal(80, Json.Num(p["value"]));
        Assert.Equal(7, Json.Num(p["n"]));
        Assert.Equal("http://h:80/x", p["url"]!.ToString());
        Assert.Equal("over", p["o"]!.ToString());
        // The experiment's own configuration block is kept as written.
        Assert.Equal("env", exp.Document["configuration"]!["port"]!["type"]!.ToString());
    }

    [Fact]
    public void Secrets_env_and_inline_are_substituted_after_configuration_and_masked()
    {
        var json = """
        {"title":"t","description":"d","configuration":{"name":"from-config"},
         "secrets":{"auth":{"token":{"type":"env","key":"TOK"},"user":"alice-inline","name":"from-secret","pin":1234}},
         "method":[{"type":"probe","name":"p","secrets":["auth"],"provider":{"type":"fake","value":"Bearer ${token}","u":"${user}","n":"${name}","pin":"${pin}"}}]}
        """;
        var exp = ExperimentLoader.Prepare(Doc(json), "t", "json", Providers, null, k => k == "TOK" ? "tok-from-env" : null);
        var p = exp.Document["method"]![0]!["provider"]!;
        Assert.Equal("Bearer tok-from-env", p["value"]!.ToString());
        Assert.Equal("alice-inline", p["u"]!.ToString());
        Assert.Equal("from-config", p["n"]!.ToString()); // configuration wins, as in Chaos Toolkit
        Assert.Equal(1234, Json.Num(p["pin"]));          // a whole-string ${pin} keeps its type
        Assert.Equal("Bearer ***", exp.Redactor.Redact("Bearer tok-from-env"));
        var masked = exp.Redactor.Redact(exp.Document)!.ToJsonString();
        Assert.DoesNotContain("tok-from-env", masked);
        Assert.DoesNotContain("alice-inline", masked);
        Assert.DoesNotContain("1234", masked);
        // A short secret is masked where a whole string is it, never inside other words.
        var shortOne = new SecretRedactor(["ab"]);
        Assert.Equal("***", shortOne.Redact("ab"));
        Assert.Equal("table", shortOne.Redact("table"));
    }

    [Theory]
    [InlineData("""{"s":{"x":{"type":"vault","path":"secret/x"}}}""", "ChaosPS.UnsupportedSecretType", "$.secrets.s.x.type")]
    [InlineData("""{"s":{"x":{"type":"env","key":"NOT_SET_ANYWHERE"}}}""", "ChaosPS.ExperimentSecretNotSet", "$.secrets.s.x")]
    [InlineData("""{"s":{"x":{"type":"env"}}}""", "ChaosPS.InvalidExperimentSecret", "$.secrets.s.x.key")]
    [InlineData("""{"s":{"x":{"key":"K"}}}""", "ChaosPS.InvalidExperimentSecret", "$.secrets.s.x")]
    [InlineData("""{"s":{"x":null}}""", "ChaosPS.InvalidExperimentSecret", "$.secrets.s.x")]
    [InlineData("""{"s":"flat"}""", "ChaosPS.InvalidExperimentSecret", "$.secrets.s")]
    [InlineData("""["s"]""", "ChaosPS.InvalidExperimentSecret", "$.secrets")]
    public void Bad_or_unsupported_secrets_are_refused_before_anything_runs(string secrets, string id, string path)
    {
        var e = Fails($$$"""{"title":"t","description":"d","secrets":{{{secrets}}},"method":[{"type":"probe","name":"p","provider":{"type":"fake"}}]}""");
        var i = Assert.Single(e.Issues);
        Assert.Equal(id, i.ErrorId);
        Assert.Equal(path, i.JsonPath);
    }

    [Fact]
    public void An_activity_naming_an_undeclared_secret_scope_is_refused()
    {
        var e = Fails("""{"title":"t","description":"d","secrets":{"a":{"x":"1"}},"method":[{"type":"probe","name":"p","secrets":["b"],"provider":{"type":"fake","secrets":"a"}}]}""");
        Assert.Contains(e.Issues, i => i.ErrorId == "ChaosPS.UnknownSecretScope" && i.JsonPath == "$.method[0].secrets");
        Assert.Contains(e.Issues, i => i.ErrorId == "ChaosPS.InvalidExperimentSecret" && i.JsonPath == "$.method[0].provider.secrets");
    }

    [Fact]
    public void Variable_without_a_value_is_refused_with_its_path()
    {
        var e = Fails("""{"title":"t","description":"d","configuration":{"u":{"type":"env","key":"NOT_SET_ANYWHERE"}},"method":[{"type":"probe","name":"p","provider":{"type":"http","url":"${u}/health"}}]}""");
        var i = Assert.Single(e.Issues);
        Assert.Equal(ExperimentException.Ids.UndefinedVariable, i.ErrorId);
        Assert.Equal("$.method[0].provider.url", i.JsonPath);
        Assert.Contains("${u}", i.Message);
    }

    [Fact]
    public void Refs_are_resolved_and_unknown_refs_refused()
    {
        var ok = ExperimentLoader.Prepare(Doc("""{"title":"t","description":"d","method":[{"type":"probe","name":"p","provider":{"type":"fake","value":1}},{"ref":"p"}]}"""), "t", "json", Providers);
        Assert.Equal("p", ok.Document["method"]![1]!["name"]!.ToString());
        var e = Fails("""{"title":"t","description":"d","method":[{"ref":"nope"}]}""");
        Assert.Equal("$.method[0].ref", Assert.Single(e.Issues).JsonPath);
    }

    [Fact]
    public void Bad_strategy_pauses_and_tolerance_are_refused()
    {
        var e = Fails("""
            {"title":"t","description":"d","runtime":{"hypothesis":{"strategy":"sometimes"},"rollbacks":{"strategy":"maybe"}},
            "steady-state-hypothesis":{"title":"h","probes":[{"type":"probe","name":"p","tolerance":{"type":"regex","pattern":"("},"provider":{"type":"fake"}}]},
            "method":[{"type":"action","name":"a","pauses":{"before":"soon"},"provider":{"type":"fake"}}]}
            """);
        Assert.Contains(e.Issues, i => i.JsonPath == "$.runtime.hypothesis.strategy");
        Assert.Contains(e.Issues, i => i.JsonPath == "$.runtime.rollbacks.strategy");
        Assert.Contains(e.Issues, i => i.JsonPath == "$.steady-state-hypothesis.probes[0].tolerance.pattern");
        Assert.Contains(e.Issues, i => i.JsonPath == "$.method[0].pauses.before");
    }
}

public class ToleranceTests
{
    private static ToleranceResult Eval(string tol, string output) => Tolerance.Evaluate(JsonNode.Parse(tol), JsonNode.Parse(output));

    [Fact]
    public void All_tolerances_must_hold_and_each_is_reported()
    {
        const string both = """{"type":"all","of":[200,{"type":"jsonpath","path":"$.body.text","expect":"hi"}]}""";
        var ok = Eval(both, """{"status":200,"body":{"text":"hi"}}""");
        Assert.True(ok.Met);
        Assert.Contains("[2] met", ok.Detail);
        // A 200 with the wrong body: the status part holds, the body part does not, so the whole does not.
        var bad = Eval(both, """{"status":200,"body":{"text":""}}""");
        Assert.False(bad.Met);
        Assert.Contains("[1] met", bad.Detail);
        Assert.Contains("[2] NOT met", bad.Detail);
        // One part without evidence is never a pass; a miss elsewhere still makes it a miss.
        Assert.Null(Eval("""{"type":"all","of":[true,{"type":"thresholds"}]}""", "true").Met);
        Assert.False(Eval("""{"type":"all","of":[false,{"type":"thresholds"}]}""", "true").Met);
        // The single form keeps working as before.
        Assert.True(Eval("200", """{"status":200}""").Met);
    }

    [Fact]
    public void All_tolerance_is_checked_part_by_part_before_anything_runs()
    {
        var providers = new Dictionary<string, IActivityProvider>(ExperimentRunner.BuiltIn()) { ["fake"] = new FakeProvider() };
        ExperimentException Fails(string tol) => Assert.Throws<ExperimentException>(() => ExperimentLoader.Prepare(ExperimentLoaderTests.Doc(
            $$$"""{"title":"t","description":"d","method":[{"type":"probe","name":"p","tolerance":{{{tol}}},"provider":{"type":"fake"}}]}"""), "t", "json", providers, null, _ => null));
        foreach (var (tol, path) in new[]
        {
            ("""{"type":"all"}""", "$.method[0].tolerance.of"),
            ("""{"type":"all","of":[]}""", "$.method[0].tolerance.of"),
            ("""{"type":"all","of":"200"}""", "$.method[0].tolerance.of"),
            ("""{"type":"all","of":[200,{"type":"regex","pattern":"("}]}""", "$.method[0].tolerance.of[1].pattern"),
            ("""{"type":"all","of":[{"type":"nope"}]}""", "$.method[0].tolerance.of[0].type"),
            ("""{"type":"all","of":[null]}""", "$.method[0].tolerance.of[0]"),
        })
        {
            var i = Assert.Single(Fails(tol).Issues);
            Assert.Equal(ExperimentException.Ids.InvalidTolerance, i.ErrorId);
            Assert.Equal(path, i.JsonPath);
        }
    }

    [Theory]
    [InlineData("true", "true", true)]
    [InlineData("true", "false", false)]
    [InlineData("\"ok\"", "\"ok\"", true)]
    [InlineData("\"ok\"", "\"no\"", false)]
    [InlineData("200", "{\"status\":200,\"body\":\"\"}", true)]
    [InlineData("200", "{\"status\":503}", false)]
    [InlineData("0", "{\"status\":0,\"stdout\":\"\"}", true)]
    [InlineData("0", "{\"status\":1}", false)]
    [InlineData("5", "5", true)]
    [InlineData("[200, 204]", "{\"status\":201}", true)]
    [InlineData("[200, 204]", "{\"status\":500}", false)]
    [InlineData("[200, 204, 301]", "{\"status\":204}", true)]
    [InlineData("[200, 204, 301]", "{\"status\":201}", false)]
    [InlineData("{\"type\":\"regex\",\"pattern\":\"^hel+o\",\"target\":\"stdout\"}", "{\"status\":0,\"stdout\":\"hello\"}", true)]
    [InlineData("{\"type\":\"regex\",\"pattern\":\"^bye\",\"target\":\"stdout\"}", "{\"status\":0,\"stdout\":\"hello\"}", false)]
    [InlineData("{\"type\":\"regex\",\"pattern\":\"x\",\"target\":\"missing\"}", "{\"status\":0}", false)]
    [InlineData("{\"type\":\"jsonpath\",\"path\":\"$.data[*].ok\",\"expect\":true,\"target\":\"body\"}", "{\"body\":{\"data\":[{\"ok\":true},{\"ok\":true}]}}", true)]
    [InlineData("{\"type\":\"jsonpath\",\"path\":\"$.data[*].ok\",\"expect\":true,\"target\":\"body\"}", "{\"body\":{\"data\":[{\"ok\":true},{\"ok\":false}]}}", false)]
    [InlineData("{\"type\":\"jsonpath\",\"path\":\"$.data[*]\",\"count\":2,\"target\":\"body\"}", "{\"body\":\"{\\\"data\\\":[1,2]}\"}", true)]
    [InlineData("{\"type\":\"jsonpath\",\"path\":\"$.data[*]\",\"count\":3,\"target\":\"body\"}", "{\"body\":{\"data\":[1,2]}}", false)]
    [InlineData("{\"type\":\"jsonpath\",\"path\":\"$..healthy\"}", "{\"a\":{\"healthy\":1}}", true)]
    [InlineData("{\"type\":\"jsonpath\",\"path\":\"$.nothing\"}", "{\"a\":1}", false)]
    [InlineData("{\"type\":\"range\",\"range\":[1,10],\"target\":\"v\"}", "{\"v\":5}", true)]
    [InlineData("{\"type\":\"range\",\"range\":[1,10],\"target\":\"v\"}", "{\"v\":11}", false)]
    [InlineData("{\"type\":\"range\",\"range\":[200,299]}", "{\"status\":204}", true)]
    public void Chaos_Toolkit_tolerances(string tol, string output, bool met)
    {
        var r = Eval(tol, output);
        Assert.Equal(met, r.Met);
    }

    [Fact]
    public void Thresholds_pass_fail_and_no_evidence()
    {
        var tol = """{"type":"thresholds"}""";
        Assert.True(Eval(tol, """{"Requests":10,"Thresholds":[{"Metric":"http_req_failed","Expression":"rate<0.01","Actual":0,"Passed":true}]}""").Met);
        Assert.False(Eval(tol, """{"Requests":10,"Thresholds":[{"Metric":"http_req_failed","Expression":"rate<0.01","Actual":0.5,"Passed":false}]}""").Met);
        // Missing evidence is never a pass.
        Assert.Null(Eval(tol, """{"Requests":0,"Thresholds":[{"Metric":"http_req_failed","Expression":"rate<0.01","Actual":null,"Passed":false}]}""").Met);
        Assert.Null(Eval(tol, """{"Requests":10,"Thresholds":[]}""").Met);
        Assert.Null(Eval(tol, """{"status":200}""").Met);
        Assert.Null(Eval(tol, """{"Requests":10,"Thresholds":[{"Metric":"x","Expression":"p(95)<1","Actual":null,"Passed":false}]}""").Met);
    }

    [Fact]
    public void Recovered_within_and_verdict()
    {
        var within = """{"type":"recovered","within":"30s"}""";
        Assert.True(Eval(within, """{"Recovered":true,"TimeToRecover":2.5}""").Met);
        Assert.False(Eval(within, """{"Recovered":true,"TimeToRecover":45}""").Met);
        Assert.False(Eval(within, """{"Recovered":false,"TimeToRecover":null,"LastProbe":"down"}""").Met);
        Assert.Null(Eval(within, """{"something":1}""").Met);
        Assert.Null(Eval(within, """{"Recovered":true,"TimeToRecover":null}""").Met);
        var verdict = """{"type":"verdict","expect":"Graceful"}""";
        Assert.True(Eval(verdict, """{"Verdict":"Graceful"}""").Met);
        Assert.False(Eval(verdict, """{"Verdict":"NotGraceful"}""").Met);
        Assert.Null(Eval(verdict, """{"Verdict":"Inconclusive"}""").Met);
        Assert.Null(Eval(verdict, """{}""").Met);
    }

    [Fact]
    public void Process_arguments_split_like_a_shell()
    {
        Assert.Equal(["a", "b c", "d'e", "f"], ProcessActivityProvider.Split("a 'b c' \"d'e\"  f"));
    }
}
