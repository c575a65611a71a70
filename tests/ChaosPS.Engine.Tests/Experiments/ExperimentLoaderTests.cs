using System.Text.Json.Nodes;
using ChaosPS.Experiments;

namespace ChaosPS.Engine.Tests.Experiments;

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
