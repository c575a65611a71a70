using System.Diagnostics;
using System.Globalization;
using ChaosPS.Docker;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace ChaosPS.Chaos;

/// <summary>One crash, as Invoke-WorkerCrash observed it. Pipes to Wait-ChaosRecovery by property name.</summary>
public sealed class CrashResult
{
    /// <summary>Who the crash hit (the flat properties below forward to it).</summary>
    internal VictimIdentity Victim { get; init; } = VictimIdentity.None;
    public string Target => Victim.Target;
    public string Kind => Victim.Kind;
    public string Name => Victim.Name;
    public int? ProcessId => Victim.ProcessId;
    public string? ContainerId => Victim.ContainerId;
    public string? WorkerId => Victim.WorkerId;
    public string? CommandLine => Victim.CommandLine;
    public string? Uri => Victim.Uri;
    public string? DockerEndpoint => Victim.DockerEndpoint;
    /// <summary>
    /// How the crash was delivered: Signal (kill(2) from this host to the process; for a container, to its main process
    /// by the host pid the engine reports: the process dies as in a real crash and the restart policy fires), or a
    /// Docker API call: DockerKill, DockerStop, DockerRestart (Docker records these as deliberate: no restart policy fires).
    /// </summary>
    public string Method { get; init; } = "Signal";
    /// <summary>Signal or TermThenKill (Method Signal); Kill, Stop or Restart (the Docker API methods).</summary>
    public string Action { get; init; } = "";
    public string? Signal { get; init; }
    public DateTimeOffset CrashedAt { get; init; }
    /// <summary>What was seen afterwards: exited, gone, zombie, running (ignored the signal), restarting, ...</summary>
    public string ObservedState { get; set; } = "";
    /// <summary>
    /// The crash did not take: the target was still running (or stopped with the signal pending) when observation ended,
    /// so there is nothing to recover from (a recovery verdict on it has no evidence).
    /// </summary>
    public bool Survived => ObservedState.StartsWith("running (", StringComparison.Ordinal)
        || ObservedState.StartsWith("stopped (", StringComparison.Ordinal)
        || ObservedState.StartsWith("still running", StringComparison.Ordinal);
    /// <summary>The exit code when it could be observed (container exit code; a host process's from /proc while it was a zombie). 128+n = killed by signal n.</summary>
    public int? ExitCode { get; set; }
    public bool? OomKilled { get; set; }
    /// <summary>TERM with a grace period: true when the target outlived it and was killed with SIGKILL.</summary>
    public bool ForcedKill { get; set; }
    /// <summary>How long the target took to exit after the signal (null when not seen).</summary>
    public TimeSpan? TimeToExit { get; set; }
    public int? RestartCount { get; set; }
    /// <summary>The container's restart policy (no, always, on-failure, unless-stopped) when the crash began.</summary>
    public string? RestartPolicy { get; init; }
    /// <summary>Anything the plain state does not say: a signal the kernel dropped (pid 1 of its namespace without a handler), a restart policy a Docker API method bypasses.</summary>
    public string? Note { get; set; }
    public string? DumpPath { get; set; }
    public override string ToString() => $"{Action} {Signal} {Target}: {ObservedState}";

    /// <summary>An OOM kill seen as a crash, for the recovery probes.</summary>
    public static CrashResult FromOom(OomResult r) => new()
    {
        Victim = r.Victim, Method = "Oom", Action = "Oom", Signal = "KILL", CrashedAt = r.CrashedAt,
        ObservedState = r.ObservedState, ExitCode = r.ExitCode, OomKilled = r.OomKilled, TimeToExit = r.TimeToKill,
    };
}

/// <summary>Crashes processes and containers for real and observes the outcome.</summary>
public static class Crasher
{
    public static readonly string[] ProcessSignals = ["KILL", "TERM", "INT", "QUIT", "ABRT", "SEGV"];

    /// <param name="ContainerAction">Signal (a crash: the signal to the container's main process from this host), DockerKill, DockerStop or DockerRestart.</param>
    public sealed record Options(string Signal, TimeSpan? GracePeriod, string ContainerAction, TimeSpan ObserveTimeout, string? DumpDirectory, string DumpType = "Full");

    /// <summary>What would be done to a target, in words (for -WhatIf and ShouldProcess).</summary>
    public static string Describe(ChaosTarget t, Options o)
    {
        var dumpFirst = o.DumpDirectory is not null ? " after a dump" : "";
        var sig = PosixSignals.NameOf(PosixSignals.Parse(o.Signal));
        var signal = o.GracePeriod is { } g ? $"SIG{sig}, then SIGKILL after {DurationParser.Format(g)}" : $"SIG{sig}";
        if (t.IsContainer)
            return NormalizeContainerAction(o.ContainerAction) switch
            {
                "DockerStop" => $"docker stop (SIGTERM, then SIGKILL after {DurationParser.Format(o.GracePeriod ?? TimeSpan.FromSeconds(10))})",
                "DockerRestart" => $"docker restart (grace {DurationParser.Format(o.GracePeriod ?? TimeSpan.FromSeconds(10))})",
                "DockerKill" => $"docker kill --signal SIG{sig}",
                _ => $"{signal} to its main process{(t.ProcessId is { } pid ? $" (host pid {pid})" : "")}",
            } + dumpFirst;
        return signal + dumpFirst;
    }

    /// <summary>Crashes all the targets at once (concurrently) and returns one result per target.</summary>
    public static async Task<List<CrashResult>> CrashAllAsync(IReadOnlyList<ChaosTarget> targets, Options o, IChaosReporter reporter, CancellationToken ct)
    {
        var tasks = targets.Select(async t =>
        {
            try { return await CrashAsync(t, o, reporter, ct).ConfigureAwait(false); }
            catch (ChaosException e) { reporter.Error(e); return null; }
            catch (DockerApiException e)
            {
                reporter.Error(new ChaosException("CrashFailed", ChaosErrorCategory.InvalidOperation, $"Crashing {t.Display} failed: {e.Message}", t.Display));
                return null;
            }
        }).ToList();
        var results = await Task.WhenAll(tasks).ConfigureAwait(false);
        return results.Where(r => r is not null).Select(r => r!).ToList();
    }

    public static async Task<CrashResult> CrashAsync(ChaosTarget t, Options o, IChaosReporter reporter, CancellationToken ct)
        => t.IsContainer ? await CrashContainerAsync(t, o, reporter, ct).ConfigureAwait(false) : await CrashProcessAsync(t, o, reporter, ct).ConfigureAwait(false);

    private static async Task<CrashResult> CrashProcessAsync(ChaosTarget t, Options o, IChaosReporter reporter, CancellationToken ct)
    {
        int pid = t.ProcessId!.Value;
        if (!t.ProcessAlive) throw Suspender.Gone(t);
        string? dump = null;
        if (o.DumpDirectory is not null)
        {
            try { dump = await ChaosPS.Diagnostics.WorkerDiagnostics.SaveDumpAsync(pid, o.DumpDirectory, o.DumpType, ct).ConfigureAwait(false); }
            catch (ChaosException e) { reporter.Warning($"No dump of {t.Display} before the crash: {e.Message}"); }
        }
        int sig = PosixSignals.Parse(o.Signal);
        var at = DateTimeOffset.UtcNow;
        var sw = Stopwatch.StartNew();
        if (!PosixSignals.Send(pid, sig)) throw Suspender.Gone(t);
        var result = new CrashResult
        {
            Victim = VictimIdentity.OfProcess(t, pid),
            Action = o.GracePeriod is null ? "Signal" : "TermThenKill", Signal = PosixSignals.NameOf(sig), CrashedAt = at, DumpPath = dump,
        };
        var wait = o.GracePeriod ?? o.ObserveTimeout;
        var (exited, code) = await WaitExitAsync(pid, t.StartStamp, wait, ct).ConfigureAwait(false);
        if (!exited && o.GracePeriod is not null)
        {
            reporter.Verbose($"{t.Display} outlived the {DurationParser.Format(o.GracePeriod.Value)} grace period; sending SIGKILL.");
            result.ForcedKill = true;
            PosixSignals.Send(pid, 9);
            (exited, code) = await WaitExitAsync(pid, t.StartStamp, o.ObserveTimeout, ct).ConfigureAwait(false);
        }
        if (exited) result.TimeToExit = sw.Elapsed;
        result.ExitCode = code;
        result.ObservedState = exited ? "exited" : ProcessIdentity.ProcessState(pid) switch
        {
            'T' or 't' => "stopped (signal pending)",
            _ => $"running (state {ProcessIdentity.ProcessState(pid)}; it handled or ignored SIG{PosixSignals.NameOf(sig)})",
        };
        return result;
    }

    /// <summary>Waits for a process to exit; reads its exit status from /proc while it is a zombie when possible.</summary>
    private static async Task<(bool Exited, int? Code)> WaitExitAsync(int pid, string? stamp, TimeSpan timeout, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        int? code = null;
        while (true)
        {
            if (ProcStat.Read(pid) is not { } stat) return (true, code);
            if (stamp is not null && stat.StartStamp != stamp) return (true, code); // pid reused: ours is gone
            if (stat.IsDead) return (true, stat.ExitCode); // a zombie's exit_code field holds its wait status
            if (sw.Elapsed >= timeout) return (false, null);
            await Task.Delay(5, ct).ConfigureAwait(false);
        }
    }

    private static async Task<CrashResult> CrashContainerAsync(ChaosTarget t, Options o, IChaosReporter reporter, CancellationToken ct)
    {
        var action = NormalizeContainerAction(o.ContainerAction);
        using var client = await DockerEngine.ConnectAsync(t.DockerEndpoint, ct).ConfigureAwait(false);
        ContainerInspectResponse before;
        try { before = await client.Containers.InspectContainerAsync(t.ContainerId!, ct).ConfigureAwait(false); }
        catch (DockerContainerNotFoundException) { throw Suspender.Gone(t); }
        if (before.State?.Running != true || before.State.Pid <= 0) throw new ChaosException("TargetNotRunning", ChaosErrorCategory.InvalidOperation,
            $"{t.Display} is not running ({before.State?.Status}).", t.Display);
        // The signal path checks first that the engine's host pid is this container's process, as seen from here.
        var main = action == "Signal" ? ContainerMainProcess.Find((int)before.State.Pid, before.ID, t) : null;
        string? dump = null;
        if (o.DumpDirectory is not null)
        {
            try { dump = await ChaosPS.Diagnostics.WorkerDiagnostics.SaveDumpAsync((int)before.State.Pid, o.DumpDirectory, o.DumpType, ct).ConfigureAwait(false); }
            catch (ChaosException e) { reporter.Warning($"No dump of {t.Display} before the crash: {e.Message}"); }
        }
        return main is not null
            ? await SignalContainerAsync(client, before, main, t, o, dump, reporter, ct).ConfigureAwait(false)
            : await DockerApiCrashAsync(client, before, action, t, o, dump, reporter, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// What a container action ignores of what was asked, one warning each. A pipeline may mix processes (which use
    /// both -Signal and -GracePeriod) with containers, so these are warned about rather than refused.
    /// </summary>
    public static IReadOnlyList<string> IgnoredForContainers(string containerAction, bool signalGiven, bool gracePeriodGiven)
    {
        var w = new List<string>();
        string action = ContainerActions.FirstOrDefault(a => string.Equals(a, containerAction, StringComparison.OrdinalIgnoreCase)) ?? containerAction;
        if (action == "DockerKill" && gracePeriodGiven)
            w.Add("-GracePeriod does not apply to containers with -ContainerAction DockerKill: docker kill sends -Signal once, with no SIGKILL after it. Use -ContainerAction Signal (the default) for a signal followed by SIGKILL.");
        if (action is "DockerStop" or "DockerRestart" && signalGiven)
            w.Add($"-Signal does not apply to containers with -ContainerAction {action}: Docker sends the container's stop signal (SIGTERM unless the image sets another), then SIGKILL after -GracePeriod.");
        return w;
    }

    /// <summary>The container actions: Signal (a crash of the main process) and the Docker API calls.</summary>
    public static readonly string[] ContainerActions = ["Signal", "DockerKill", "DockerStop", "DockerRestart"];

    private static string NormalizeContainerAction(string action) =>
        ContainerActions.FirstOrDefault(a => string.Equals(a, action, StringComparison.OrdinalIgnoreCase))
        ?? throw ChaosException.InvalidArgument("InvalidContainerAction", $"'{action}' is not a container action. Use one of: {string.Join(", ", ContainerActions)}.", action);

    /// <summary>The docker names of a restart policy: no, always, on-failure, unless-stopped.</summary>
    public static string RestartPolicyOf(ContainerInspectResponse c) => c.HostConfig?.RestartPolicy?.Name.ToString() switch
    {
        "Always" => "always",
        "OnFailure" => "on-failure",
        "UnlessStopped" => "unless-stopped",
        _ => "no",
    };

    /// <summary>
    /// A crash as production sees one: the signal goes to the container's main process by its host pid (kill(2) from
    /// this host), the process dies, and the engine treats the exit like any other: its restart policy fires.
    /// </summary>
    private static async Task<CrashResult> SignalContainerAsync(DockerClient client, ContainerInspectResponse before, ContainerMainProcess main, ChaosTarget t,
        Options o, string? dump, IChaosReporter reporter, CancellationToken ct)
    {
        int sig = PosixSignals.Parse(o.Signal);
        var policy = RestartPolicyOf(before);
        // The die event carries the exit code even when the restart policy starts the container again at once (which
        // resets State.ExitCode to 0). Events are asked for from a second before the signal, so none is missed while
        // the stream connects; only those after the signal count.
        var die = new TaskCompletionSource<int?>(TaskCreationOptions.RunContinuationsAsynchronously);
        long sentNanos = long.MaxValue;
        using var eventsCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var eventsTask = client.System.MonitorEventsAsync(new ContainerEventsParameters
        {
            Since = (DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 1).ToString(CultureInfo.InvariantCulture),
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["container"] = new Dictionary<string, bool> { [before.ID] = true },
                ["type"] = new Dictionary<string, bool> { ["container"] = true },
                ["event"] = new Dictionary<string, bool> { ["die"] = true },
            },
        }, new InlineProgress<Message>(m =>
        {
            if (m.Action != "die" || m.TimeNano < Interlocked.Read(ref sentNanos)) return;
            die.TrySetResult(m.Actor?.Attributes?.TryGetValue("exitCode", out var code) == true && int.TryParse(code, NumberStyles.Integer, CultureInfo.InvariantCulture, out var c) ? c : null);
        }), eventsCts.Token);
        try
        {
            var at = DateTimeOffset.UtcNow;
            Interlocked.Exchange(ref sentNanos, (at.ToUnixTimeMilliseconds() - 50) * 1_000_000);
            var sw = Stopwatch.StartNew();
            if (!main.IsAlive || !PosixSignals.Send(main.Pid, sig)) throw Suspender.Gone(t);
            var result = new CrashResult
            {
                Victim = VictimIdentity.OfContainer(t, main.Pid, before.ID), Method = "Signal",
                Action = o.GracePeriod is null ? "Signal" : "TermThenKill", Signal = PosixSignals.NameOf(sig), RestartPolicy = policy, DumpPath = dump,
                CrashedAt = at,
            };
            var dropped = main.Drops(sig);
            var (exited, code) = await WaitExitAsync(main.Pid, main.StartStamp, o.GracePeriod ?? o.ObserveTimeout, ct).ConfigureAwait(false);
            if (!exited && o.GracePeriod is { } grace)
            {
                result.ForcedKill = true;
                result.Note = (dropped ?? $"{result.Target} did not exit within the grace period after SIG{result.Signal}") + $"; SIGKILL after the {DurationParser.Format(grace)} grace period";
                reporter.Verbose($"{t.Display}: {result.Note}.");
                if (main.IsAlive) PosixSignals.Send(main.Pid, 9);
                (exited, code) = await WaitExitAsync(main.Pid, main.StartStamp, o.ObserveTimeout, ct).ConfigureAwait(false);
            }
            if (exited)
            {
                result.TimeToExit = sw.Elapsed;
                // The engine reports the death a moment later.
                using var dieWait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                var first = await Task.WhenAny(die.Task, Task.Delay(TimeSpan.FromSeconds(5), dieWait.Token)).ConfigureAwait(false);
                dieWait.Cancel();
                result.ExitCode = first == die.Task ? await die.Task.ConfigureAwait(false) ?? code : code;
            }
            ContainerInspectResponse? now = null;
            try { now = await client.Containers.InspectContainerAsync(before.ID, ct).ConfigureAwait(false); }
            catch (DockerContainerNotFoundException) { }
            result.RestartCount = now is null ? null : (int)now.RestartCount;
            result.OomKilled = now?.State?.OOMKilled;
            if (!exited && result.ForcedKill)
            {
                result.ObservedState = $"running (SIGKILL did not end it within {DurationParser.Format(o.ObserveTimeout)})";
                reporter.Warning($"{t.Display} is still running after SIGKILL: {result.Note}.");
            }
            else if (!exited)
            {
                result.ObservedState = $"running (it {(dropped is null ? "handled or ignored" : "never got")} SIG{result.Signal})";
                result.Note = (dropped ?? $"{t.Display} outlived SIG{result.Signal} for {DurationParser.Format(o.ObserveTimeout)}") + "; give -GracePeriod to SIGKILL it after a grace period, or -Signal KILL";
                reporter.Warning($"{t.Display} is still running: {result.Note}.");
            }
            else if (now is null) result.ObservedState = "removed";
            else if (now.State?.Running == true && now.State.Pid != main.Pid) result.ObservedState = "restarted";
            else if (now.State?.Restarting == true) result.ObservedState = "restarting";
            else
            {
                result.ObservedState = now.State?.Status ?? "unknown";
                result.ExitCode ??= now.State?.Running == false ? (int?)now.State.ExitCode : null;
            }
            return result;
        }
        finally
        {
            eventsCts.Cancel();
            try { await eventsTask.ConfigureAwait(false); } catch (Exception) { /* cancelled */ }
        }
    }

    /// <summary>docker kill / stop / restart through the engine's API: Docker records these as an operator's deliberate act.</summary>
    private static async Task<CrashResult> DockerApiCrashAsync(DockerClient client, ContainerInspectResponse before, string method, ChaosTarget t, Options o,
        string? dump, IChaosReporter reporter, CancellationToken ct)
    {
        var at = DateTimeOffset.UtcNow;
        var sw = Stopwatch.StartNew();
        uint graceSeconds = (uint)Math.Ceiling((o.GracePeriod ?? TimeSpan.FromSeconds(10)).TotalSeconds);
        string action = method["Docker".Length..];
        try
        {
            switch (action)
            {
                case "Stop":
                    await client.Containers.StopContainerAsync(before.ID, new ContainerStopParameters { WaitBeforeKillSeconds = graceSeconds }, ct).ConfigureAwait(false);
                    break;
                case "Restart":
                    await client.Containers.RestartContainerAsync(before.ID, new ContainerRestartParameters { WaitBeforeKillSeconds = graceSeconds }, ct).ConfigureAwait(false);
                    break;
                default:
                    await client.Containers.KillContainerAsync(before.ID, new ContainerKillParameters { Signal = "SIG" + PosixSignals.NameOf(PosixSignals.Parse(o.Signal)) }, ct).ConfigureAwait(false);
                    break;
            }
        }
        catch (DockerContainerNotFoundException) { throw Suspender.Gone(t); }
        var policy = RestartPolicyOf(before);
        var result = new CrashResult
        {
            Victim = VictimIdentity.OfContainer(t, (int)before.State!.Pid, before.ID), Method = method, Action = action,
            Signal = action == "Kill" ? PosixSignals.NameOf(PosixSignals.Parse(o.Signal)) : action == "Stop" ? "TERM" : null,
            RestartPolicy = policy, CrashedAt = at, DumpPath = dump,
        };
        if (action != "Restart" && policy != "no")
        {
            result.Note = $"{method} is an operator's act to the engine: restart policy '{policy}' does not restart the container (the default -ContainerAction Signal crashes its main process instead)";
            reporter.Warning($"{t.Display}: {result.Note}.");
        }
        // Observe: the container has exited (or, for restart, started again) since the crash.
        var beforeStart = before.State?.StartedAt;
        while (true)
        {
            ContainerInspectResponse now;
            try { now = await client.Containers.InspectContainerAsync(before.ID, ct).ConfigureAwait(false); }
            catch (DockerContainerNotFoundException) { result.ObservedState = "removed"; break; }
            bool finishedSince = DateTimeOffset.TryParse(now.State?.FinishedAt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var fin) && fin >= at.AddSeconds(-1);
            bool restarted = now.State?.StartedAt != beforeStart;
            if (now.State?.Running != true || finishedSince || restarted)
            {
                result.ExitCode = (int?)now.State?.ExitCode;
                result.OomKilled = now.State?.OOMKilled;
                result.RestartCount = (int)now.RestartCount;
                result.ObservedState = now.State?.Running == true ? (restarted ? "restarted" : now.State.Status) : now.State?.Status ?? "unknown";
                result.TimeToExit = sw.Elapsed;
                if (action == "Stop" && result.ExitCode == 137) result.ForcedKill = true;
                break;
            }
            if (sw.Elapsed > o.ObserveTimeout)
            {
                result.ObservedState = $"running (it handled or ignored SIG{result.Signal})";
                break;
            }
            await Task.Delay(20, ct).ConfigureAwait(false);
        }
        return result;
    }

    private sealed class InlineProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>
    /// The current incarnation of a target after a crash (chaos-monkey rounds): the same process if alive, else a
    /// process with the same worker id or command line; the same container (restart keeps the id), else one with the
    /// same chaosps.worker/chaosps.testbed labels.
    /// </summary>
    public static async Task<ChaosTarget?> ReresolveAsync(ChaosTarget t, CancellationToken ct)
    {
        if (!t.IsContainer)
        {
            if (t.ProcessAlive) return t;
            foreach (var p in ProcessTable.All())
            {
                if (p.Pid == t.ProcessId) continue;
                bool same = (t.WorkerId is not null || t.CommandLine is { Length: > 0 }) && TargetSelector.IsSameWorker(p, t.WorkerId, t.CommandLine, t.Name);
                if (same) return TargetSelector.FromProcess(p, uri: t.Uri);
            }
            return null;
        }
        using var client = await DockerEngine.ConnectAsync(t.DockerEndpoint, ct).ConfigureAwait(false);
        var c = await TargetSelector.InspectAsync(client, t.ContainerId!, t.DockerEndpoint, ct).ConfigureAwait(false);
        if (c is { State: "running" }) return c;
        if (t.WorkerId is null || !t.Labels.TryGetValue("chaosps.testbed", out var sys)) return null;
        var list = await client.Containers.ListContainersAsync(new ContainersListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["label"] = new Dictionary<string, bool> { [$"chaosps.worker={t.WorkerId}"] = true, [$"chaosps.testbed={sys}"] = true },
            },
        }, ct).ConfigureAwait(false);
        var first = list.FirstOrDefault();
        return first is null ? null : await TargetSelector.InspectAsync(client, first.ID, t.DockerEndpoint, ct).ConfigureAwait(false);
    }
}
