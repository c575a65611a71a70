using System.Text.Json.Nodes;
using ChaosPS.Experiments;

namespace ChaosPS.Engine.Tests.Experiments;

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
        // Every piped fault acted on nothing (a crash the target survived, a network fault no traffic met): healthy,
        // but nothing was recovered from (no evidence, never a pass). One fault that took is evidence.
        var none = Eval(within, """{"Recovered":true,"TimeToRecover":0,"FaultCount":2,"FaultsWithoutEffect":["process 7: running (it handled or ignored SIGTERM)","latency on proxy api: no connection"]}""");
        Assert.Null(none.Met);
        Assert.Contains("no fault took effect", none.Detail);
        Assert.Contains("process 7: running", none.Detail);
        Assert.Null(Eval("""{"type":"recovered"}""", """{"Recovered":true,"TimeToRecover":0,"FaultCount":1,"FaultsWithoutEffect":["x"]}""").Met);
        Assert.True(Eval(within, """{"Recovered":true,"TimeToRecover":3,"FaultCount":2,"FaultsWithoutEffect":["x"]}""").Met);
        Assert.True(Eval(within, """{"Recovered":true,"TimeToRecover":3,"FaultCount":0,"FaultsWithoutEffect":[]}""").Met);
        Assert.False(Eval(within, """{"Recovered":false,"TimeToRecover":null,"FaultCount":1,"FaultsWithoutEffect":["x"],"LastProbe":"down"}""").Met);
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
