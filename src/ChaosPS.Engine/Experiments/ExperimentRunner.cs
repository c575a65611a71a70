using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ChaosPS.Chaos;
using ChaosPS.Faults;
using ChaosPS.Load;

namespace ChaosPS.Experiments;

/// <summary>How to run an experiment (the cmdlet's parameters).</summary>
public sealed class ExperimentRunOptions
{
    /// <summary>Multiplies pauses, durations, recovery windows and scaled activities' timeouts (see <see cref="ExperimentScale"/>).</summary>
    public double Scale { get; init; } = 1.0;
    /// <summary>Where the journal is written as the run goes; null writes none.</summary>
    public string? JournalPath { get; init; }
    /// <summary>Overrides runtime.hypothesis.strategy.</summary>
    public string? HypothesisStrategy { get; init; }
    /// <summary>Overrides runtime.rollbacks.strategy (ChaosPS's default is always).</summary>
    public string? RollbackStrategy { get; init; }
    /// <summary>The ledger whose records this run watches and restores at the end; null for none (unit tests).</summary>
    public FaultLedger? Ledger { get; init; }
    public IChaosReporter Reporter { get; init; } = NullReporter.Instance;
    /// <summary>Upper bound on each rollback, so an interrupted run still ends.</summary>
    public TimeSpan RollbackTimeout { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>
    /// Restores what activities left in other ledgers (named hosts) at the end of the run, after the rollbacks; returns
    /// the faults it found, Restored false where undoing one failed. They join the journal's faults before the verdict.
    /// </summary>
    public Func<Task<IReadOnlyList<ExperimentFault>>>? RestoreElsewhere { get; init; }
}

/// <summary>One step of an experiment's plan (what -WhatIf prints).</summary>
public sealed record PlanStep(string Phase, int Index, string Type, string Name, string Provider, string Description, bool Background, double PauseBefore, double PauseAfter)
{
    public override string ToString() => $"{Phase}[{Index}] {Type} '{Name}'{(Background ? " (background)" : "")}: {Description}";
}

/// <summary>
/// Runs an experiment: steady-state hypothesis (by strategy), method (pauses, background activities), hypothesis
/// again, rollbacks (always by default: a failed or interrupted run never leaves its faults in place), and a journal
/// written after every activity so a killed run leaves a readable partial record.
/// </summary>
public sealed class ExperimentRunner(IReadOnlyDictionary<string, IActivityProvider> providers)
{
    public IReadOnlyDictionary<string, IActivityProvider> Providers { get; } = providers;

    public static Dictionary<string, IActivityProvider> BuiltIn() => new(StringComparer.Ordinal)
    {
        ["http"] = new HttpActivityProvider(),
        ["process"] = new ProcessActivityProvider(),
    };

    /// <summary>The plan: every activity with its target resolved. A target that cannot be resolved is an ExperimentException.</summary>
    public async Task<List<PlanStep>> PlanAsync(LoadedExperiment exp, double scale, CancellationToken ct)
    {
        var steps = new List<PlanStep>();
        var issues = new List<ExperimentIssue>();
        async Task Add(string phase, string path, JsonArray? list)
        {
            if (list is null) return;
            for (int i = 0; i < list.Count; i++)
            {
                var a = (JsonObject)list[i]!;
                var p = (JsonObject)a["provider"]!;
                string desc;
                try { desc = exp.Redactor.Redact(await Providers[p["type"]!.ToString()].PlanAsync(p, $"{path}[{i}].provider", ct).ConfigureAwait(false)); }
                catch (ExperimentException e) { issues.AddRange(e.Issues); continue; }
                steps.Add(new PlanStep(phase, i, a["type"]?.ToString() ?? "", a["name"]?.ToString() ?? "", p["type"]!.ToString(), desc,
                    Json.IsTrue(a["background"]), (Json.Num(a["pauses"]?["before"]) ?? 0) * scale, (Json.Num(a["pauses"]?["after"]) ?? 0) * scale));
            }
        }
        var d = exp.Document;
        await Add("steady-state-hypothesis", "$.steady-state-hypothesis.probes", d["steady-state-hypothesis"]?["probes"] as JsonArray).ConfigureAwait(false);
        await Add("method", "$.method", d["method"] as JsonArray).ConfigureAwait(false);
        await Add("rollbacks", "$.rollbacks", d["rollbacks"] as JsonArray).ConfigureAwait(false);
        if (issues.Count > 0) throw new ExperimentException(issues.Select(i => i with { Source = exp.Source, Message = exp.Redactor.Redact(i.Message) }).ToList());
        return steps;
    }

    public async Task<ExperimentJournal> RunAsync(LoadedExperiment exp, ExperimentRunOptions o, CancellationToken interrupt)
    {
        var run = new Run(this, exp, o, interrupt);
        return await run.ExecuteAsync().ConfigureAwait(false);
    }

    private sealed class Run(ExperimentRunner owner, LoadedExperiment exp, ExperimentRunOptions o, CancellationToken interrupt)
    {
        private readonly ExperimentJournal _j = new()
        {
            Title = exp.Title, Source = exp.Source, Experiment = (JsonObject)exp.Redactor.Redact(exp.Document.DeepClone())!, Start = DateTimeOffset.UtcNow,
            JournalPath = o.JournalPath, Scale = o.Scale, Redactor = exp.Redactor,
        };
        private readonly List<(Task Task, ActivityRun Run)> _background = [];
        private FaultWatcher? _faults;
        private int _done, _total;
        private string _currentActivity = "";
        private readonly Dictionary<string, object?> _outputs = new(StringComparer.Ordinal);

        private (bool, object?) OutputOf(string name)
        {
            lock (_outputs) return _outputs.TryGetValue(name, out var v) ? (true, v) : (false, null);
        }

        private double Elapsed => (DateTimeOffset.UtcNow - _j.Start).TotalSeconds;
        private void Event(string kind, string name) => _j.Lock(() => _j.Events.Add(new ExperimentEvent(Elapsed, kind, name)));

        private void Save()
        {
            try { _j.Save(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { o.Reporter.Warning($"Could not write the journal to {_j.JournalPath}: {e.Message}"); }
        }

        public async Task<ExperimentJournal> ExecuteAsync()
        {
            var d = exp.Document;
            string hStrategy = o.HypothesisStrategy ?? d["runtime"]?["hypothesis"]?["strategy"]?.ToString() ?? "default";
            string rStrategy = o.RollbackStrategy ?? d["runtime"]?["rollbacks"]?["strategy"]?.ToString() ?? "always";
            double frequency = Json.Num(d["runtime"]?["hypothesis"]?["frequency"]) ?? 1.0;
            bool failFast = Json.IsTrue(d["runtime"]?["hypothesis"]?["fail_fast"]) || Json.IsTrue(d["runtime"]?["hypothesis"]?["fail-fast"]);
            var probes = d["steady-state-hypothesis"]?["probes"] as JsonArray ?? [];
            var method = d["method"] as JsonArray ?? [];
            var rollbacks = d["rollbacks"] as JsonArray ?? [];
            _total = method.Count + rollbacks.Count + probes.Count * (hStrategy == "default" || hStrategy == "continuously" ? 2 : 1);
            if (o.Ledger is not null) _faults = new FaultWatcher(o.Ledger, _j, () => _currentActivity, () => Elapsed);
            Save();
            Progress("starting");
            bool skipMethod = false;
            string? failure = null;
            string? noEvidence = null;
            try
            {
                // 1. Steady state before (the gate).
                if (probes.Count > 0 && hStrategy is "default" or "before-method-only" or "continuously")
                {
                    var ss = await HypothesisAsync(probes, "before", interrupt).ConfigureAwait(false);
                    _j.Lock(() => _j.SteadyStateBefore = ss);
                    Save();
                    if (ss.Probes.Any(p => p.Status == "failed")) { failure = "a steady-state probe failed before the method"; skipMethod = true; }
                    else if (ss.SteadyStateMet == false) { failure = "the steady state did not hold before the method, so the method did not run"; skipMethod = true; }
                    else if (ss.SteadyStateMet is null) { noEvidence = "no evidence that the steady state held before the method, so the method did not run"; skipMethod = true; }
                }

                // 2. Method, with the hypothesis checked alongside when asked.
                if (!skipMethod)
                {
                    using var methodStop = CancellationTokenSource.CreateLinkedTokenSource(interrupt);
                    Task? continuous = null;
                    using var continuousStop = new CancellationTokenSource();
                    if (probes.Count > 0 && hStrategy is "continuously" or "during-method-only")
                        continuous = ContinuousAsync(probes, frequency, failFast, methodStop, continuousStop.Token);
                    try
                    {
                        failure = await MethodAsync(method, methodStop.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (methodStop.IsCancellationRequested && !interrupt.IsCancellationRequested)
                    {
                        failure = "the steady state did not hold during the method (fail-fast)";
                    }
                    finally
                    {
                        continuousStop.Cancel();
                        if (continuous is not null) await continuous.ConfigureAwait(false);
                    }
                    if (failure is null && _j.SteadyStateDuring.Any(s => s.SteadyStateMet == false) && failFast)
                        failure = "the steady state did not hold during the method (fail-fast)";
                }

                // 3. Steady state after.
                if (!skipMethod && failure is null && probes.Count > 0 && hStrategy is "default" or "after-method-only" or "continuously")
                {
                    var ss = await HypothesisAsync(probes, "after", interrupt).ConfigureAwait(false);
                    _j.Lock(() => _j.SteadyStateAfter = ss);
                    if (ss.Probes.Any(p => p.Status == "failed")) failure = "a steady-state probe failed after the method";
                    else if (ss.SteadyStateMet == false) _j.Deviated = true;
                }
                if (_j.SteadyStateDuring.Any(s => s.SteadyStateMet == false)) _j.Deviated = true;
                if (_j.Run.Any(r => r.ToleranceMet == false && !r.Inconclusive)) _j.Deviated = true;
                _j.Status = failure is null ? "completed" : "failed";
                _j.Reason = failure ?? noEvidence ?? "";
            }
            catch (OperationCanceledException) when (interrupt.IsCancellationRequested)
            {
                _j.Status = "interrupted";
                _j.Reason = "the run was interrupted (Ctrl+C, SIGTERM or a stopped pipeline); rollbacks were played";
            }
            catch (Exception e)
            {
                _j.Status = "aborted";
                _j.Reason = $"the run aborted: {exp.Redactor.Redact(e.Message)}";
                o.Reporter.Verbose(exp.Redactor.Redact(e.ToString()));
            }
            finally
            {
                await DrainBackgroundAsync().ConfigureAwait(false);
                Save();
            }

            // 4. Rollbacks: never skipped because the run failed or was interrupted (unless the strategy says so).
            bool play = rStrategy switch { "never" => false, "deviated" => _j.Deviated, _ => true };
            if (play && rollbacks.Count > 0)
            {
                Progress("rollbacks");
                for (int i = 0; i < rollbacks.Count; i++)
                {
                    using var cap = new CancellationTokenSource(o.RollbackTimeout);
                    var r = await ActivityAsync((JsonObject)rollbacks[i]!, "rollback", cap.Token, ignorePauses: _j.Status == "interrupted").ConfigureAwait(false);
                    _j.Lock(() => _j.Rollbacks.Add(r));
                    Save();
                }
            }

            // 5. Whatever the activities left in the ledger is restored now.
            if (_faults is not null) await _faults.FinishAsync().ConfigureAwait(false);
            if (o.RestoreElsewhere is not null)
            {
                IReadOnlyList<ExperimentFault> elsewhere;
                try { elsewhere = await o.RestoreElsewhere().ConfigureAwait(false); }
                catch (Exception e) { elsewhere = [new ExperimentFault { Id = "?", Kind = "remote", Target = e.Message, Start = DateTimeOffset.UtcNow, End = DateTimeOffset.UtcNow, Restored = false }]; }
                foreach (var f in elsewhere)
                    _j.Lock(() => { _j.Faults.Add(f); _j.Events.Add(new ExperimentEvent(Elapsed, "fault-end", $"{f.Kind} {f.Target} ({(f.Restored ? "restored by the experiment" : "NOT restored")})")); });
            }
            _j.End = DateTimeOffset.UtcNow;
            Judge();
            _j.Partial = false;
            Save();
            o.Reporter.Progress(new ProgressInfo($"Experiment: {_j.Title}", _j.Verdict, 100, Completed: true, ActivityId: 41));
            return _j;
        }

        private void Judge()
        {
            var judged = new List<ActivityRun>();
            if (_j.SteadyStateBefore is { } b) judged.AddRange(b.Probes);
            if (_j.SteadyStateAfter is { } a) judged.AddRange(a.Probes);
            judged.AddRange(_j.SteadyStateDuring.SelectMany(s => s.Probes));
            judged.AddRange(_j.Run.Where(r => r.ToleranceMet is not null));
            bool rollbackFailed = _j.Rollbacks.Any(r => r.Status == "failed") || _j.Faults.Any(f => !f.Restored);
            (_j.Verdict, string reason) = _j.Status switch
            {
                "interrupted" => ("Interrupted", _j.Reason),
                "aborted" => ("Aborted", _j.Reason),
                "failed" => ("Failed", _j.Reason),
                _ when _j.Deviated => ("Deviated", "the steady state did not hold: " + string.Join("; ",
                    judged.Where(p => p.ToleranceMet == false && !p.Inconclusive).Select(p => $"{p.Name}: {p.ToleranceDetail}").Distinct().Take(5))),
                _ when judged.Any(p => p.Inconclusive) => ("Inconclusive", "missing evidence: " + string.Join("; ",
                    judged.Where(p => p.Inconclusive).Select(p => $"{p.Name}: {p.ToleranceDetail}").Distinct().Take(5))),
                _ when _j.Reason.Length > 0 => ("Inconclusive", _j.Reason),
                _ when judged.Count == 0 => ("Inconclusive", "nothing was measured: the experiment has no steady-state probe and no method probe with a tolerance"),
                _ => ("Passed", $"every tolerance judged was met ({judged.Count})"),
            };
            _j.Reason = exp.Redactor.Redact(reason);
            if (rollbackFailed && _j.Verdict is "Passed" or "Inconclusive" or "Deviated")
            {
                _j.Verdict = "Failed";
                _j.Reason = "a rollback failed or a fault could not be restored: " + string.Join("; ",
                    _j.Rollbacks.Where(r => r.Status == "failed").Select(r => $"{r.Name}: {r.Exception?.FirstOrDefault()}")
                        .Concat(_j.Faults.Where(f => !f.Restored).Select(f => $"fault {f.Id} ({f.Kind} on {f.Target})")));
                if (_j.Status == "completed") _j.Status = "failed";
                _j.Reason = exp.Redactor.Redact(_j.Reason);
            }
        }

        private async Task<string?> MethodAsync(JsonArray method, CancellationToken ct)
        {
            for (int i = 0; i < method.Count; i++)
            {
                ct.ThrowIfCancellationRequested();
                var a = (JsonObject)method[i]!;
                if (Json.IsTrue(a["background"]))
                {
                    var entry = new ActivityRun { Activity = Recorded(a), Start = DateTimeOffset.UtcNow };
                    _j.Lock(() => _j.Run.Add(entry));
                    var task = Task.Run(() => ActivityAsync(a, "method", ct, into: entry));
                    _background.Add((task, entry));
                    continue;
                }
                var r = await ActivityAsync(a, "method", ct).ConfigureAwait(false);
                _j.Lock(() => _j.Run.Add(r));
                Save();
                if (r.Status == "failed")
                {
                    if (ct.IsCancellationRequested) ct.ThrowIfCancellationRequested();
                    return $"the {r.Type} '{r.Name}' failed: {r.Exception?.FirstOrDefault()}";
                }
            }
            // The method ends when its background activities end.
            foreach (var (task, entry) in _background.ToList())
            {
                await task.ConfigureAwait(false);
                Save();
                if (entry.Status == "failed")
                {
                    if (ct.IsCancellationRequested) ct.ThrowIfCancellationRequested();
                    return $"the background {entry.Type} '{entry.Name}' failed: {entry.Exception?.FirstOrDefault()}";
                }
            }
            _background.Clear();
            return null;
        }

        private async Task DrainBackgroundAsync()
        {
            foreach (var (task, _) in _background)
            {
                try { await task.ConfigureAwait(false); } catch (Exception e) { o.Reporter.Verbose($"background activity: {exp.Redactor.Redact(e.Message)}"); }
            }
            _background.Clear();
        }

        private async Task ContinuousAsync(JsonArray probes, double frequency, bool failFast, CancellationTokenSource method, CancellationToken stop)
        {
            await Task.Yield();
            while (!stop.IsCancellationRequested)
            {
                SteadyStateRun ss;
                try { ss = await HypothesisAsync(probes, "during", stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
                _j.Lock(() => _j.SteadyStateDuring.Add(ss));
                Save();
                if (ss.SteadyStateMet == false)
                {
                    _j.Deviated = true;
                    if (failFast) { try { method.Cancel(); } catch (ObjectDisposedException) { } return; }
                }
                try { await Task.Delay(TimeSpan.FromSeconds(frequency), stop).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        }

        private async Task<SteadyStateRun> HypothesisAsync(JsonArray probes, string when, CancellationToken ct)
        {
            var ss = new SteadyStateRun();
            foreach (var p in probes)
            {
                var r = await ActivityAsync((JsonObject)p!, $"hypothesis ({when})", ct, countProgress: when != "during").ConfigureAwait(false);
                ss.Probes.Add(r);
                if (r.Status == "failed" && r.ToleranceMet is null) r.ToleranceMet = false;
                ct.ThrowIfCancellationRequested();
            }
            ss.SteadyStateMet = ss.Probes.Any(p => p.ToleranceMet == false && !p.Inconclusive) ? false
                : ss.Probes.Any(p => p.Inconclusive) ? null : true;
            Event("probe", $"steady state {when}: {(ss.SteadyStateMet is { } m ? m ? "met" : "not met" : "no evidence")}");
            return ss;
        }

        private void Progress(string status)
            => o.Reporter.Progress(new ProgressInfo($"Experiment: {_j.Title}", status, _total == 0 ? -1 : Math.Min(99, 100 * _done / _total), ActivityId: 41));

        private async Task<ActivityRun> ActivityAsync(JsonObject a, string phase, CancellationToken ct, ActivityRun? into = null, bool ignorePauses = false, bool countProgress = true)
        {
            var p = (JsonObject)a["provider"]!;
            string name = a["name"]?.ToString() ?? "";
            if (!ignorePauses && Json.Num(a["pauses"]?["before"]) is { } pb && pb > 0)
            {
                Progress($"{phase}: pausing {pb * o.Scale:0.###} s before '{name}'");
                await Task.Delay(TimeSpan.FromSeconds(pb * o.Scale), ct).ConfigureAwait(false);
            }
            var run = into ?? new ActivityRun { Activity = Recorded(a) };
            run.Start = DateTimeOffset.UtcNow;
            if (countProgress) Progress($"{phase}: {a["type"]} '{name}'");
            Event("activity-start", name);
            _currentActivity = name;
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            JsonNode? judged = null;
            double? limit = ExperimentScale.ActivityTimeout(a, o.Scale, owner.Providers[p["type"]!.ToString()].ScalesWork(p));
            if (limit is { } t) timeout.CancelAfter(TimeSpan.FromSeconds(t));
            try
            {
                var call = new ActivityCall { Name = name, Activity = a, Provider = p, Scale = o.Scale, Elapsed = () => Elapsed, Reporter = o.Reporter, OutputOf = OutputOf };
                object? output = await owner.Providers[p["type"]!.ToString()].RunAsync(call, timeout.Token).ConfigureAwait(false);
                run.RawOutput = output;
                judged = JsonConvertible.ToNode(output);
                run.Output = exp.Redactor.Redact(judged);
                run.Status = "succeeded";
                lock (_outputs) _outputs[name] = output;
                Collect(name, output);
            }
            catch (OperationCanceledException e) when (timeout.IsCancellationRequested)
            {
                run.Status = "failed";
                run.Exception = ct.IsCancellationRequested ? ["interrupted: the activity was cancelled"] : [$"timed out after {limit?.ToString("0.###", CultureInfo.InvariantCulture)} s", exp.Redactor.Redact(e.Message)];
            }
            catch (Exception e)
            {
                run.Status = "failed";
                run.Exception = exp.Redactor.Redact(Lines(e));
            }
            run.End = DateTimeOffset.UtcNow;
            Event("activity-end", name);
            if (a.ContainsKey("tolerance") && run.Status == "succeeded")
            {
                // Judged on the real output; the journal keeps it with the secrets masked.
                var tr = await JudgeAsync(a["tolerance"], judged, ct).ConfigureAwait(false);
                run.ToleranceMet = tr.Met == true;
                run.Inconclusive = tr.Met is null;
                run.ToleranceDetail = exp.Redactor.Redact(tr.Detail);
            }
            else if (a.ContainsKey("tolerance"))
            {
                run.ToleranceMet = false;
                run.ToleranceDetail = "the probe failed: " + run.Exception?.FirstOrDefault();
            }
            if (countProgress) Interlocked.Increment(ref _done);
            if (!ignorePauses && run.Status == "succeeded" && Json.Num(a["pauses"]?["after"]) is { } pa && pa > 0)
            {
                Progress($"{phase}: pausing {pa * o.Scale:0.###} s after '{name}'");
                await Task.Delay(TimeSpan.FromSeconds(pa * o.Scale), ct).ConfigureAwait(false);
            }
            return run;
        }

        private async Task<ToleranceResult> JudgeAsync(JsonNode? tol, JsonNode? output, CancellationToken ct)
        {
            if (tol is JsonObject all && all["type"]?.ToString() == "all" && all["of"] is JsonArray parts)
            {
                // Every part is judged (also after a miss), so the journal shows each one.
                var results = new List<ToleranceResult>();
                foreach (var part in parts) results.Add(await JudgeAsync(part, output, ct).ConfigureAwait(false));
                return Tolerance.All(results);
            }
            if (tol is JsonObject o2 && o2["type"]?.ToString() == "probe")
            {
                var p = (JsonObject)o2["provider"]!.DeepClone();
                // Chaos Toolkit passes the judged output to the tolerance probe as its "value" argument.
                var args = p["arguments"] as JsonObject ?? [];
                args["value"] = output?.DeepClone();
                p["arguments"] = args;
                try
                {
                    var call = new ActivityCall { Name = o2["name"]?.ToString() ?? "tolerance", Activity = o2, Provider = p, Scale = o.Scale, Elapsed = () => Elapsed, Reporter = o.Reporter };
                    var res = await owner.Providers[p["type"]!.ToString()].RunAsync(call, ct).ConfigureAwait(false);
                    return Tolerance.FromProbeOutput(JsonConvertible.ToNode(res));
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    return ToleranceResult.No($"the tolerance probe failed: {e.Message}");
                }
            }
            // A recovery window is scaled with the run (as the waits that feed it are).
            return Tolerance.Evaluate(ExperimentScale.Tolerance(tol, o.Scale), output);
        }

        private void Collect(string activity, object? output)
        {
            foreach (var item in output is System.Collections.IEnumerable e and not string and not JsonNode ? e.Cast<object?>() : [output])
            {
                if (item is LoadTestResult lr)
                {
                    var load = ExperimentLoad.From(activity, lr, _j.Start);
                    load.Uri = exp.Redactor.Redact(load.Uri); // a URL may carry a secret (a token in its query)
                    _j.Lock(() => _j.Load.Add(load));
                }
                else if (item is CrashResult cr)
                {
                    _j.Lock(() => _j.Faults.Add(new ExperimentFault
                    {
                        Id = $"crash-{cr.ProcessId?.ToString(CultureInfo.InvariantCulture) ?? cr.ContainerId}", Kind = $"crash ({cr.Action} {cr.Signal})".Replace("  ", " "),
                        Target = exp.Redactor.Redact(cr.Target), Activity = activity, Start = cr.CrashedAt, End = cr.CrashedAt, Restored = true,
                    }));
                    _j.Lock(() => _j.Events.Add(new ExperimentEvent((cr.CrashedAt - _j.Start).TotalSeconds, "fault-start", $"crash {cr.Target}")));
                }
            }
        }

        /// <summary>The activity as the journal records it: a copy with the secrets masked.</summary>
        private JsonObject Recorded(JsonObject a) => (JsonObject)exp.Redactor.Redact(a.DeepClone())!;

        private static List<string> Lines(Exception e)
        {
            var lines = new List<string>();
            for (var x = e; x is not null; x = x.InnerException)
                lines.Add(x is ActivityFailedException or ChaosException ? x.Message : $"{x.GetType().Name}: {x.Message}");
            return lines;
        }
    }

    /// <summary>Watches the ledger for faults this process records during the run; restores leftovers at the end.</summary>
    private sealed class FaultWatcher
    {
        private readonly FaultLedger _ledger;
        private readonly ExperimentJournal _j;
        private readonly Func<string> _activity;
        private readonly Func<double> _elapsed;
        private readonly Dictionary<string, ExperimentFault> _seen = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        public FaultWatcher(FaultLedger ledger, ExperimentJournal j, Func<string> activity, Func<double> elapsed)
        {
            _ledger = ledger; _j = j; _activity = activity; _elapsed = elapsed;
            _loop = Task.Run(LoopAsync);
        }

        private async Task LoopAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                Poll();
                try { await Task.Delay(200, _stop.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
            }
        }

        private void Poll()
        {
            IReadOnlyList<FaultRecord> now;
            try { now = _ledger.List(); } catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException) { return; }
            var active = now.Where(r => r.OwnerPid == Environment.ProcessId && r.CreatedAt >= _j.Start.AddSeconds(-1)).ToDictionary(r => r.Id);
            lock (_seen)
            {
                foreach (var r in active.Values)
                {
                    if (_seen.ContainsKey(r.Id)) continue;
                    var f = new ExperimentFault { Id = r.Id, Kind = r.Kind, Target = _j.Redactor.Redact(r.Target), Activity = _activity(), Start = r.CreatedAt };
                    _seen[r.Id] = f;
                    _j.Lock(() => { _j.Faults.Add(f); _j.Events.Add(new ExperimentEvent((r.CreatedAt - _j.Start).TotalSeconds, "fault-start", $"{r.Kind} {r.Target}")); });
                }
                foreach (var f in _seen.Values.Where(f => f.End is null && !active.ContainsKey(f.Id)))
                {
                    f.End = DateTimeOffset.UtcNow; f.Restored = true;
                    _j.Lock(() => _j.Events.Add(new ExperimentEvent(_elapsed(), "fault-end", $"{f.Kind} {f.Target}")));
                }
            }
        }

        public async Task FinishAsync()
        {
            _stop.Cancel();
            await _loop.ConfigureAwait(false);
            Poll();
            List<ExperimentFault> left;
            lock (_seen) left = _seen.Values.Where(f => f.End is null).ToList();
            foreach (var f in left)
            {
                try
                {
                    var r = await _ledger.RestoreAsync(f.Id, "experiment").ConfigureAwait(false);
                    f.Restored = r.Outcome is "Restored" or "AlreadyRestored";
                }
                catch (Exception) { f.Restored = false; }
                f.End = DateTimeOffset.UtcNow;
                _j.Lock(() => _j.Events.Add(new ExperimentEvent(_elapsed(), "fault-end", $"{f.Kind} {f.Target} (restored by the experiment)")));
            }
            _stop.Dispose();
        }
    }
}
