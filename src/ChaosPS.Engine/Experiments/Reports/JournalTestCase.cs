using System.Globalization;
using System.Text.Json.Nodes;
using static ChaosPS.Experiments.Reports.JournalDocument;

namespace ChaosPS.Experiments.Reports;

/// <summary>
/// One verdict a journal holds, as a test: a steady-state probe (before, during, after), a load threshold, a rollback,
/// a method activity that failed, a fault that was (not) restored, the recovery, the experiment's verdict.
/// JUnit, NUnit, the CI annotations and the Pester cases are all made from these.
/// </summary>
public sealed class JournalTestCase
{
    /// <summary>The experiment's title.</summary>
    public string Experiment { get; init; } = "";
    /// <summary>Hypothesis, Threshold, Method, Rollback, Fault, Recovery, Degradation or Verdict.</summary>
    public string Kind { get; init; } = "";
    /// <summary>Before, During, After, Method, Load, Rollback, Fault or Experiment.</summary>
    public string Phase { get; init; } = "";
    /// <summary>The group the case belongs to, e.g. "steady state during #2 (+24.0 s)".</summary>
    public string Suite { get; init; } = "";
    public string Name { get; init; } = "";
    /// <summary>Passed, Failed, Error (an activity raised), Skipped (did not run) or Inconclusive (no evidence).</summary>
    public string Result { get; init; } = "";
    public bool Passed => Result == "Passed";
    /// <summary>The evidence: what was measured against what was expected, or the exception.</summary>
    public string Message { get; init; } = "";
    /// <summary>The measured value, when there is one number (a probe's target, a threshold's observed value, seconds to recover).</summary>
    public double? Observed { get; init; }
    /// <summary>What was expected (the tolerance, the threshold expression).</summary>
    public string? Expected { get; init; }
    /// <summary>The activity's output, redacted and shortened.</summary>
    public string? Output { get; init; }
    /// <summary>The exception lines of an activity that raised.</summary>
    public string? Exception { get; init; }
    public DateTimeOffset? Start { get; init; }
    public double DurationSeconds { get; init; }
    /// <summary>Seconds from the experiment's start.</summary>
    public double? At { get; init; }
    /// <summary>The journal file the case came from.</summary>
    public string? JournalPath { get; init; }

    public override string ToString() => $"[{Result}] {Suite}: {Name} — {Message}";

    // ---------- building ----------

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    /// <summary>Every case in the journal, in the order a reader follows the experiment.</summary>
    public static List<JournalTestCase> From(JournalDocument j)
    {
        var list = new List<JournalTestCase>();
        var title = j.Title;
        var ss = j.Root["steady_states"] as JsonObject;
        var hypothesis = j.Experiment["steady-state-hypothesis"] as JsonObject;
        var expectedProbes = Objects(hypothesis?["probes"]).Select(p => Str(p["name"]) ?? "probe").ToList();
        bool hasHypothesis = expectedProbes.Count > 0;
        var before = ss?["before"] as JsonObject;
        var after = ss?["after"] as JsonObject;

        JournalTestCase Case(string kind, string phase, string suite, string name, string result, string message, JsonObject? run = null,
            double? observed = null, string? expected = null) => new()
        {
            Experiment = title, Kind = kind, Phase = phase, Suite = suite, Name = name, Result = result, Message = message,
            Observed = observed, Expected = expected, JournalPath = j.JournalPath,
            Output = run is null || !run.ContainsKey("output") ? null : Show(run["output"], 2000),
            Exception = run is null ? null : Exc(run),
            Start = run is null ? null : Time(run["start"]),
            DurationSeconds = run is null ? 0 : Num(run["duration"]) ?? 0,
            At = run is null ? null : j.Offset(Time(run["start"])),
        };

        // 1. Steady-state hypothesis: before, during, after.
        void Hypothesis(JsonObject? state, string phase, string suite, string whyMissing)
        {
            if (state is null)
            {
                if (!hasHypothesis) return;
                foreach (var p in expectedProbes)
                    list.Add(Case("Hypothesis", phase, suite, p, "Inconclusive", $"not evaluated: {whyMissing}"));
                return;
            }
            var probes = Objects(state["probes"]).ToList();
            if (probes.Count == 0)
                list.Add(Case("Hypothesis", phase, suite, "steady state", Bool(state["steady_state_met"]) == true ? "Passed" : "Inconclusive",
                    $"the hypothesis has no probe results (steady_state_met = {Show(state["steady_state_met"])})"));
            foreach (var run in probes) list.Add(ProbeCase(run, phase, suite));
        }

        JournalTestCase ProbeCase(JsonObject run, string phase, string suite)
        {
            var act = run["activity"] as JsonObject;
            var name = Str(act?["name"]) ?? "probe";
            var tolerance = act?["tolerance"];
            var (observed, observedText) = ObservedFor(run["output"], tolerance);
            var tolText = tolerance is null ? "(no tolerance)" : Show(tolerance, 200);
            if (Str(run["status"]) == "failed")
                return Case("Hypothesis", phase, suite, name, "Error", $"the probe raised: {FirstLine(run) ?? "no exception recorded"}", run, observed, tolText);
            var met = Bool(run["tolerance_met"]);
            var evidence = $"{observedText} vs tolerance {tolText}";
            return met switch
            {
                true => Case("Hypothesis", phase, suite, name, "Passed", $"{evidence}: within tolerance", run, observed, tolText),
                false => Case("Hypothesis", phase, suite, name, "Failed", $"{evidence}: NOT within tolerance", run, observed, tolText),
                null => Case("Hypothesis", phase, suite, name, "Inconclusive", $"{evidence}: the journal does not say whether it was within tolerance", run, observed, tolText),
            };
        }

        var status = j.Status;
        string notRun = status switch
        {
            "interrupted" => "the run was interrupted before this point",
            "aborted" => "the run was aborted before this point",
            _ => "the run stopped before this point",
        };
        Hypothesis(before, "Before", "steady state before", notRun);
        int k = 0;
        foreach (var d in Objects(ss?["during"]))
        {
            k++;
            var at = j.Offset(Objects(d["probes"]).Select(p => Time(p["start"])).FirstOrDefault(t => t is not null));
            Hypothesis(d, "During", $"steady state during #{k}{(at is { } a ? $" (+{a.ToString("0.0", Inv)} s)" : "")}", notRun);
        }
        string afterMissing = before is not null && Bool(before["steady_state_met"]) == false
            ? "the steady state was not met before the method, so the method did not run"
            : status == "completed" ? "the journal has no after-hypothesis" : notRun;
        Hypothesis(after, "After", "steady state after", afterMissing);

        // 2. Load thresholds.
        foreach (var load in Objects(j.ChaosPS?["load"]))
        {
            var activity = Str(load["activity"]) ?? "load";
            foreach (var t in Objects(load["thresholds"]))
            {
                var expr = Str(t["expression"]) ?? "threshold";
                var obs = Num(t["observed"]);
                var passed = Bool(t["passed"]);
                string result = obs is null ? "Inconclusive" : passed switch { true => "Passed", false => "Failed", null => "Inconclusive" };
                var msg = obs is null ? $"{expr}: no data was measured" : $"{expr}: observed {Fmt(obs.Value)} — {(passed == true ? "passed" : passed == false ? "FAILED" : "not evaluated")}";
                list.Add(Case("Threshold", "Load", $"load: {activity}", expr, result, msg, null, obs, expr));
            }
        }

        // 3. Method activities that failed, and graceful-degradation verdicts among the outputs.
        foreach (var run in Objects(j.Root["run"]))
        {
            var name = Str((run["activity"] as JsonObject)?["name"]) ?? "activity";
            if (Str(run["status"]) == "failed")
                list.Add(Case("Method", "Method", "method", name, "Error", $"the activity raised: {FirstLine(run) ?? "no exception recorded"}", run));
            if (Get(run["output"], "Verdict") is JsonValue vv && Str(vv) is "Graceful" or "NotGraceful" or "Inconclusive")
                list.Add(DegradationCase(run, name, Str(vv)!));
        }

        // 4. Rollbacks: every one that ran, and every declared one that did not.
        var ranRollbacks = Objects(j.Root["rollbacks"]).ToList();
        foreach (var run in ranRollbacks)
        {
            var name = Str((run["activity"] as JsonObject)?["name"]) ?? "rollback";
            list.Add(Str(run["status"]) == "failed"
                ? Case("Rollback", "Rollback", "rollbacks", name, "Error", $"the rollback raised: {FirstLine(run) ?? "no exception recorded"}", run)
                : Case("Rollback", "Rollback", "rollbacks", name, "Passed", $"succeeded, output {Show(run["output"], 200)}", run));
        }
        var ranNames = ranRollbacks.Select(r => Str((r["activity"] as JsonObject)?["name"])).ToHashSet();
        foreach (var decl in Objects(j.Experiment["rollbacks"]))
        {
            var name = Str(decl["name"]) ?? "rollback";
            if (!ranNames.Contains(name))
                list.Add(Case("Rollback", "Rollback", "rollbacks", name, "Skipped", $"not played (status {status}); see the fault cases for what is still active"));
        }

        // 5. Faults: each one injected must have been restored.
        foreach (var f in Objects(j.ChaosPS?["faults"]))
        {
            var id = Str(f["id"]) ?? "?";
            var what = $"{Str(f["kind"]) ?? "fault"} on {Str(f["target"]) ?? "?"}";
            var restored = Bool(f["restored"]);
            var end = Time(f["end"]);
            list.Add(new JournalTestCase
            {
                Experiment = title, Kind = "Fault", Phase = "Fault", Suite = "faults", Name = $"{what} ({id}) restored",
                Result = restored switch { true => "Passed", false => "Failed", null => "Inconclusive" },
                Message = restored switch
                {
                    true => $"{what} restored{(end is { } e && j.Offset(e) is { } o ? $" at +{o.ToString("0.0", Inv)} s" : "")}",
                    false => $"{what} was NOT restored (fault {id}, injected by '{Str(f["activity"])}'): Get-ChaosFault shows it; Restore-ChaosFault -Id {id} undoes it",
                    null => $"{what}: the journal does not say whether it was restored",
                },
                Start = Time(f["start"]), At = j.Offset(Time(f["start"])), JournalPath = j.JournalPath,
                DurationSeconds = end is { } e2 && Time(f["start"]) is { } s2 ? (e2 - s2).TotalSeconds : 0,
            });
        }

        // 6. Recovery: after the last fault ended, when was the steady state met again?
        if (hasHypothesis && (Objects(j.ChaosPS?["faults"]).Any() || Objects(j.Root["run"]).Any()))
            list.Add(RecoveryCase(j, title));

        // 7. The experiment's verdict.
        var verdict = j.Verdict;
        var reasons = new List<string> { $"status {status}", $"deviated {(j.Deviated ? "true" : "false")}" };
        if (before is not null) reasons.Add($"steady state before {(Bool(before["steady_state_met"]) == true ? "met" : "NOT met")}");
        if (after is not null) reasons.Add($"after {(Bool(after["steady_state_met"]) == true ? "met" : "NOT met")}");
        if (j.Partial) reasons.Add("the journal is partial");
        list.Add(new JournalTestCase
        {
            Experiment = title, Kind = "Verdict", Phase = "Experiment", Suite = "experiment", Name = "verdict",
            Result = verdict switch { "Passed" => "Passed", "Inconclusive" => "Inconclusive", _ => "Failed" },
            Message = $"verdict {verdict}: {string.Join(", ", reasons)}", Start = j.Start, DurationSeconds = j.Duration, At = 0, JournalPath = j.JournalPath,
        });
        return list;

        JournalTestCase DegradationCase(JsonObject run, string name, string v)
        {
            var reasonsNode = Get(run["output"], "Reasons");
            var why = reasonsNode is JsonArray ra && ra.Count > 0 ? string.Join("; ", ra.Select(x => Show(x, 200))) : "no reasons recorded";
            var er = Num(Get(run["output"], "ErrorRate"));
            var hangs = Num(Get(run["output"], "Hangs"));
            var msg = $"{v}: {why}{(er is { } e ? $"; error rate {e.ToString("P2", Inv)}" : "")}{(hangs is { } h ? $"; hangs {h}" : "")}";
            return Case("Degradation", "Method", "graceful degradation", name, v switch { "Graceful" => "Passed", "NotGraceful" => "Failed", _ => "Inconclusive" }, msg, run, er);
        }
    }

    /// <summary>
    /// Recovery is measured from the end of the last fault (or, without faults, the end of the method) to the end of the
    /// first steady-state check after it that was met, provided the after-hypothesis was met too.
    /// </summary>
    private static JournalTestCase RecoveryCase(JournalDocument j, string title)
    {
        var ss = j.Root["steady_states"] as JsonObject;
        var after = ss?["after"] as JsonObject;
        var faults = Objects(j.ChaosPS?["faults"]).ToList();
        DateTimeOffset? reference = faults.Count > 0
            ? faults.Select(f => Time(f["end"])).Where(t => t is not null).DefaultIfEmpty().Max()
            : Objects(j.Root["run"]).Select(r => Time(r["end"])).Where(t => t is not null).DefaultIfEmpty().Max();
        string refText = faults.Count > 0 ? "the last fault ended" : "the method ended";
        JournalTestCase Make(string result, string message, double? observed = null) => new()
        {
            Experiment = title, Kind = "Recovery", Phase = "After", Suite = "recovery", Name = "recovered to the steady state",
            Result = result, Message = message, Observed = observed, JournalPath = j.JournalPath, At = j.Offset(reference),
        };
        var unrestored = faults.Where(f => Bool(f["restored"]) == false).Select(f => Str(f["id"])).ToList();
        if (unrestored.Count > 0)
            return Make("Failed", $"not recovered: {unrestored.Count} fault(s) still active ({string.Join(", ", unrestored)})");
        if (after is null)
            return Make("Inconclusive", "not measured: the journal has no after-hypothesis");
        if (Bool(after["steady_state_met"]) != true)
        {
            var missed = Objects(after["probes"]).Where(p => Bool(p["tolerance_met"]) != true)
                .Select(p => $"{Str((p["activity"] as JsonObject)?["name"])} = {ObservedFor(p["output"], (p["activity"] as JsonObject)?["tolerance"]).Text}");
            return Make("Failed", $"not recovered: the after-hypothesis was not met ({string.Join("; ", missed)})");
        }
        if (reference is null)
            return Make("Passed", "the after-hypothesis was met (no fault end time recorded, so the time to recover is unknown)");
        var checks = Objects(ss?["during"]).Append(after)
            .Select(s => (State: s, End: Objects(s["probes"]).Select(p => Time(p["end"])).Where(t => t is not null).DefaultIfEmpty().Max()))
            .Where(x => x.End is not null && x.End >= reference && Bool(x.State["steady_state_met"]) == true)
            .OrderBy(x => x.End).ToList();
        var first = checks.Count > 0 ? checks[0].End!.Value : reference.Value;
        var seconds = Math.Max(0, (first - reference.Value).TotalSeconds);
        bool viaAfter = checks.Count > 0 && ReferenceEquals(checks[0].State, after);
        return Make("Passed",
            $"steady state met again {seconds.ToString("0.0##", Inv)} s after {refText} (checked by the {(viaAfter ? "after-hypothesis" : "continuous hypothesis")}; an upper bound, the check interval included)",
            Math.Round(seconds, 3));
    }

    /// <summary>What a tolerance looked at in an output: the status for an int or list tolerance, the target for a range, else the whole output.</summary>
    internal static (double? Value, string Text) ObservedFor(JsonNode? output, JsonNode? tolerance)
    {
        JsonNode? picked = output;
        string label = "output";
        if (tolerance is JsonObject t && Str(t["target"]) is { } target && Get(output, target) is { } v)
        {
            picked = v; label = target;
        }
        else if (tolerance is JsonValue or JsonArray && Get(output, "status") is { } st)
        {
            picked = st; label = "status";
        }
        var num = Num(picked);
        return (num, $"{label} {Show(picked, 300)}");
    }

    private static string? Exc(JsonObject run) =>
        run["exception"] is JsonArray a && a.Count > 0 ? string.Join("\n", a.Select(x => Str(x) ?? Show(x))) : Str(run["exception"]);

    private static string? FirstLine(JsonObject run) => Exc(run)?.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.Length > 0);

    internal static string Fmt(double v) => v.ToString(Math.Abs(v) >= 100 ? "0.#" : "0.#####", Inv);
}
