using System.Text.Json.Nodes;
using ChaosPS.Experiments;

namespace ChaosPS.Engine.Tests.Experiments;

public class ExperimentRunnerTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("chaosps-exp-").FullName;
    private readonly FakeProvider _fake = new();
    public void Dispose() => Directory.Delete(_dir, true);

    private ExperimentRunner Runner() => new(new Dictionary<string, IActivityProvider>(ExperimentRunner.BuiltIn()) { ["fake"] = _fake });

    private static string Probe(string name, string value, string tolerance = "true", string extra = "")
        => $$$"""{"type":"probe","name":"{{{name}}}","tolerance":{{{tolerance}}},"provider":{"type":"fake","value":{{{value}}}{{{extra}}}}}""";
    private static string Action(string name, string extra = "") => $$$"""{"type":"action","name":"{{{name}}}","provider":{"type":"fake"{{{extra}}}}}""";

    private static string Exp(string probes, string method, string rollbacks = "", string runtime = "")
        => $$$"""{"title":"t","description":"d","tags":["x"],{{{(runtime.Length > 0 ? $"\"runtime\":{runtime}," : "")}}}"steady-state-hypothesis":{"title":"h","probes":[{{{probes}}}]},"method":[{{{method}}}],"rollbacks":[{{{rollbacks}}}]}""";

    private async Task<ExperimentJournal> Run(string json, CancellationToken ct = default, string? rollbackStrategy = null, double scale = 1.0)
    {
        var runner = Runner();
        var exp = ExperimentLoader.Prepare(ExperimentLoaderTests.Doc(json), "t.json", "json", runner.Providers);
        return await runner.RunAsync(exp, new ExperimentRunOptions { JournalPath = Path.Combine(_dir, "j.json"), RollbackStrategy = rollbackStrategy, Scale = scale }, ct);
    }

    [Fact]
    public async Task Scale_shortens_the_recovery_window_with_the_run()
    {
        // A recovery measured in 10 s is within 30 s at scale 1, and not within the 6 s window of a scale-0.2 run.
        string exp = Exp(Probe("p", "true"), """{"type":"probe","name":"recovers","tolerance":{"type":"recovered","within":30},"provider":{"type":"fake","value":{"Recovered":true,"TimeToRecover":10}}}""");
        Assert.Equal("Passed", (await Run(exp)).Verdict);
        var small = await Run(exp, scale: 0.2);
        Assert.Equal("Deviated", small.Verdict);
        Assert.Contains("later than 6 s", small.Run[0].ToleranceDetail);
    }

    [Fact]
    public async Task All_tolerance_in_a_run_judges_every_part_with_the_run_scale_and_a_probe_part()
    {
        // Recovered (scaled to 6 s at 0.2), a jsonpath on the same output and a tolerance probe that gets it as "value".
        string tol = """{"type":"all","of":[{"type":"recovered","within":30},{"type":"jsonpath","path":"$.Recovered","expect":true},{"type":"probe","name":"second","provider":{"type":"fake","value":true}}]}""";
        string exp(double ttr) => Exp(Probe("p", "true"), $$$$"""{"type":"probe","name":"r","tolerance":{{{{tol}}}},"provider":{"type":"fake","value":{"Recovered":true,"TimeToRecover":{{{{ttr}}}}}}}""");
        var ok = await Run(exp(1), scale: 0.2);
        Assert.Equal("Passed", ok.Verdict);
        Assert.Contains("[3] met", ok.Run[0].ToleranceDetail);
        var late = await Run(exp(10), scale: 0.2);
        Assert.Equal("Deviated", late.Verdict);
        Assert.Contains("[1] NOT met", late.Run[0].ToleranceDetail);
        Assert.Contains("[2] met", late.Run[0].ToleranceDetail);
    }

    [Fact]
    public async Task Scale_leaves_the_timeout_of_unscaled_work_alone()
    {
        // The fake provider's work is not scaled: its 1 s timeout holds at scale 0.1 (a 0.3 s activity succeeds).
        var j = await Run(Exp(Probe("p", "true"), """{"type":"action","name":"slow","timeout":1,"provider":{"type":"fake","delay":0.3}}"""), scale: 0.1);
        Assert.Equal("succeeded", j.Run[0].Status);
    }

    [Fact]
    public async Task Steady_state_held_is_Passed_and_the_journal_has_Chaos_Toolkits_shape()
    {
        var j = await Run(Exp(Probe("p", "true"), Action("a")));
        Assert.Equal("completed", j.Status);
        Assert.False(j.Deviated);
        Assert.Equal("Passed", j.Verdict);
        var doc = JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "j.json")))!.AsObject();
        foreach (var key in new[] { "chaosps-version", "platform", "node", "experiment", "start", "end", "duration", "status", "deviated", "steady_states", "run", "rollbacks", "chaosps" })
            Assert.True(doc.ContainsKey(key), key);
        Assert.True(doc["steady_states"]!["before"]!["steady_state_met"]!.GetValue<bool>());
        Assert.True(doc["steady_states"]!["after"]!["probes"]![0]!["tolerance_met"]!.GetValue<bool>());
        var run = doc["run"]![0]!.AsObject();
        foreach (var key in new[] { "activity", "output", "start", "end", "duration", "status" }) Assert.True(run.ContainsKey(key), key);
        Assert.Equal("succeeded", run["status"]!.ToString());
        var c = doc["chaosps"]!;
        Assert.Equal("Passed", c["verdict"]!.ToString());
        Assert.False(c["partial"]!.GetValue<bool>());
        foreach (var key in new[] { "journal_path", "scale", "faults", "load", "events" }) Assert.True(c.AsObject().ContainsKey(key), key);
        Assert.Equal(j.ToJson(), File.ReadAllText(Path.Combine(_dir, "j.json")));
    }

    [Fact]
    public async Task Secrets_are_used_by_the_activities_but_never_written_in_clear()
    {
        const string inline = "inline-s3cr3t", fromEnv = "env-default-s3cr3t";
        var json = $$$$"""
        {"title":"t","description":"d","secrets":{"api":{"token":"{{{{inline}}}}","other":{"type":"env","key":"CHAOSPS_TEST_UNSET_SECRET","default":"{{{{fromEnv}}}}"}}},
         "steady-state-hypothesis":{"title":"h","probes":[{"type":"probe","name":"echo","tolerance":{"type":"regex","pattern":"^token={{{{inline}}}}&other={{{{fromEnv}}}}$"},"provider":{"type":"fake","value":"token=${token}&other=${other}"}}]},
         "method":[{"type":"action","name":"boom","provider":{"type":"fake","fail":"login with ${token} refused"}}],
         "rollbacks":[{"type":"action","name":"undo","provider":{"type":"fake","value":{"echo":"${other}"}}}]}
        """;
        var j = await Run(json);
        // The tolerance saw the real value (it matched), the journal only the mask.
        Assert.True(j.SteadyStateBefore!.Probes[0].ToleranceMet);
        Assert.Equal("token=***&other=***", j.SteadyStateBefore.Probes[0].Output!.ToString());
        Assert.Equal("login with *** refused", j.Run[0].Exception![0]);
        Assert.Equal("***", j.Rollbacks[0].Output!["echo"]!.ToString());
        Assert.Equal("***", j.Experiment["secrets"]!["api"]!["token"]!.ToString());
        string file = File.ReadAllText(Path.Combine(_dir, "j.json"));
        Assert.DoesNotContain(inline, file);
        Assert.DoesNotContain(fromEnv, file);
        Assert.DoesNotContain(inline, j.Reason);
        Assert.Contains("***", file);
    }

    [Fact]
    public async Task Hypothesis_not_holding_after_the_method_deviates_and_rollbacks_play()
    {
        var j = await Run(Exp(Probe("p", "true", "true", ",\"sequence\":[true,false]"), Action("a"), Action("undo")));
        Assert.Equal("completed", j.Status);
        Assert.True(j.Deviated);
        Assert.Equal("Deviated", j.Verdict);
        Assert.Single(j.Rollbacks);
    }

    [Fact]
    public async Task Gate_not_met_skips_the_method_and_fails()
    {
        var j = await Run(Exp(Probe("p", "false"), Action("a"), Action("undo")));
        Assert.Equal("failed", j.Status);
        Assert.Equal("Failed", j.Verdict);
        Assert.Empty(j.Run);
        Assert.DoesNotContain("a", _fake.Calls);
        Assert.Single(j.Rollbacks); // always: rollbacks play even when the method did not run
    }

    [Fact]
    public async Task Failing_action_fails_the_run_stops_the_method_and_rollbacks_still_play()
    {
        var j = await Run(Exp(Probe("p", "true"), Action("boom", ",\"fail\":\"broken on purpose\"") + "," + Action("never"), Action("undo")));
        Assert.Equal("failed", j.Status);
        Assert.Equal("Failed", j.Verdict);
        Assert.Equal("failed", j.Run[0].Status);
        Assert.Contains("broken on purpose", j.Run[0].Exception![0]);
        Assert.DoesNotContain("never", _fake.Calls);
        Assert.Equal("succeeded", Assert.Single(j.Rollbacks).Status);
        Assert.Null(j.SteadyStateAfter);
    }

    [Fact]
    public async Task Rollback_strategies()
    {
        var never = await Run(Exp(Probe("p", "true"), Action("a"), Action("undo")), rollbackStrategy: "never");
        Assert.Empty(never.Rollbacks);
        var deviatedOnly = await Run(Exp(Probe("p", "true"), Action("a"), Action("undo")), rollbackStrategy: "deviated");
        Assert.Empty(deviatedOnly.Rollbacks);
    }

    [Fact]
    public async Task No_probe_and_no_tolerance_is_Inconclusive_not_Passed()
    {
        var j = await Run("""{"title":"t","description":"d","method":[{"type":"action","name":"a","provider":{"type":"fake"}}]}""");
        Assert.Equal("completed", j.Status);
        Assert.Equal("Inconclusive", j.Verdict);
    }

    [Fact]
    public async Task Missing_evidence_in_the_hypothesis_is_Inconclusive()
    {
        var j = await Run(Exp(Probe("p", "{\"Requests\":0,\"Thresholds\":[]}", "{\"type\":\"thresholds\"}"), Action("a")));
        Assert.Equal("Inconclusive", j.Verdict);
        Assert.Null(j.SteadyStateBefore!.SteadyStateMet);
        Assert.Empty(j.Run); // no proof the system was healthy: the method does not run
    }

    [Fact]
    public async Task Method_probe_with_a_failed_tolerance_deviates()
    {
        var j = await Run(Exp(Probe("p", "true"), Probe("m", "{\"status\":500}", "200")));
        Assert.True(j.Deviated);
        Assert.Equal("Deviated", j.Verdict);
        Assert.False(j.Run[0].ToleranceMet);
    }

    [Fact]
    public async Task Before_and_after_only_strategies()
    {
        var before = await Run(Exp(Probe("p", "true"), Action("a"), runtime: "{\"hypothesis\":{\"strategy\":\"before-method-only\"}}"));
        Assert.NotNull(before.SteadyStateBefore);
        Assert.Null(before.SteadyStateAfter);
        var after = await Run(Exp(Probe("p", "true"), Action("a"), runtime: "{\"hypothesis\":{\"strategy\":\"after-method-only\"}}"));
        Assert.Null(after.SteadyStateBefore);
        Assert.NotNull(after.SteadyStateAfter);
        Assert.Equal("Passed", after.Verdict);
    }

    [Fact]
    public async Task Continuous_hypothesis_runs_during_the_method_and_fail_fast_stops_it()
    {
        var ok = await Run(Exp(Probe("p", "true"), Action("a", ",\"delay\":1.5"), runtime: "{\"hypothesis\":{\"strategy\":\"continuously\",\"frequency\":0.2}}"));
        Assert.NotEmpty(ok.SteadyStateDuring);
        Assert.Equal("Passed", ok.Verdict);

        var ff = await Run(Exp(Probe("p", "true", "true", ",\"sequence\":[true,false]"), Action("slow", ",\"delay\":30"), Action("undo"),
            runtime: "{\"hypothesis\":{\"strategy\":\"during-method-only\",\"frequency\":0.1,\"fail_fast\":true}}"));
        Assert.Equal("failed", ff.Status);
        Assert.True(ff.Deviated);
        Assert.Contains(ff.SteadyStateDuring, s => s.SteadyStateMet == false);
        Assert.Single(ff.Rollbacks);
        // fail-fast cancelled the 30 s action: it is in the journal as failed (cancelled), not as a finished action.
        var slow = Assert.Single(ff.Run);
        Assert.Equal("failed", slow.Status);
        Assert.Contains("cancelled", slow.Exception![0]);
    }

    [Fact]
    public async Task Background_activity_runs_alongside_and_the_method_waits_for_it()
    {
        var j = await Run(Exp(Probe("p", "true"), """{"type":"probe","name":"bg","background":true,"provider":{"type":"fake","delay":0.5,"value":1}}""" + "," + Action("a")));
        Assert.Equal("Passed", j.Verdict);
        var bg = j.Run.Single(r => r.Name == "bg");
        var a = j.Run.Single(r => r.Name == "a");
        Assert.Equal("succeeded", bg.Status);
        Assert.True(a.Start < bg.End, "the action started before the background probe ended");
    }

    [Fact]
    public async Task Interruption_ends_the_run_as_interrupted_with_rollbacks_played()
    {
        using var cts = new CancellationTokenSource();
        var task = Run(Exp(Probe("p", "true"), Action("slow", ",\"delay\":60"), Action("undo")), cts.Token);
        // Wait until the slow action is running, then interrupt.
        for (int i = 0; i < 600 && !_fake.Calls.Contains("slow"); i++) await Task.Delay(50);
        cts.Cancel();
        var j = await task;
        Assert.Equal("interrupted", j.Status);
        Assert.Equal("Interrupted", j.Verdict);
        Assert.Equal("succeeded", Assert.Single(j.Rollbacks).Status);
        Assert.Equal("failed", Assert.Single(j.Run).Status); // the interrupted action is recorded
        Assert.False(j.Partial);
    }

    [Fact]
    public async Task Journal_is_written_while_the_run_goes_and_says_it_is_partial()
    {
        var task = Run(Exp(Probe("p", "true"), Action("first") + "," + Action("slow", ",\"delay\":3")));
        string path = Path.Combine(_dir, "j.json");
        JsonNode? partial = null;
        for (int i = 0; i < 600 && partial is null; i++)
        {
            await Task.Delay(20);
            if (!File.Exists(path)) continue;
            var doc = JsonNode.Parse(File.ReadAllText(path));
            if (doc!["run"]!.AsArray().Count >= 1 && doc["chaosps"]!["partial"]!.GetValue<bool>()) partial = doc;
        }
        Assert.NotNull(partial);
        // A journal read mid-run says what a killed run's journal must say: not finished, not a pass.
        Assert.Equal("interrupted", partial!["status"]!.ToString());
        Assert.Equal("Interrupted", partial["chaosps"]!["verdict"]!.ToString());
        Assert.Null(partial["end"]);
        var j = await task;
        Assert.False(JsonNode.Parse(File.ReadAllText(path))!["chaosps"]!["partial"]!.GetValue<bool>());
        Assert.Equal("Passed", j.Verdict);
    }

    [Fact]
    public async Task Process_and_http_providers_give_Chaos_Toolkits_output_shapes()
    {
        using var server = new TestHttpServer();
        int port = server.Port;
        var j = await Run(Exp(
            $$$"""{"type":"probe","name":"web","tolerance":200,"provider":{"type":"http","url":"http://127.0.0.1:{{{port}}}/json","timeout":10}}""" + "," +
            """{"type":"probe","name":"sh","tolerance":{"type":"regex","pattern":"^hi","target":"stdout"},"provider":{"type":"process","path":"sh","arguments":["-c","echo hi; echo err >&2; exit 0"]}}""",
            ""), rollbackStrategy: null);
        var web = j.SteadyStateBefore!.Probes[0].Output!.AsObject();
        Assert.Equal(200, Json.Num(web["status"]));
        Assert.True(web["headers"] is JsonObject);
        Assert.Equal(42, Json.Num(web["body"]!["n"]));
        var sh = j.SteadyStateBefore.Probes[1].Output!.AsObject();
        Assert.Equal(0, Json.Num(sh["status"]));
        Assert.Equal("hi\n", sh["stdout"]!.ToString());
        Assert.Equal("err\n", sh["stderr"]!.ToString());
    }
}
