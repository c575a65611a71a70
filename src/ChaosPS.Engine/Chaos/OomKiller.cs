using System.Diagnostics;
using System.Globalization;
using ChaosPS.Docker;
using ChaosPS.Faults;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace ChaosPS.Chaos;

/// <summary>What Invoke-WorkerOom observed for one target.</summary>
public sealed class OomResult
{
    public string Target { get; init; } = "";
    public string Kind { get; init; } = "";
    public string Name { get; init; } = "";
    public int? ProcessId { get; init; }
    public string? ContainerId { get; init; }
    public string? WorkerId { get; init; }
    public string? Uri { get; init; }
    public string? DockerEndpoint { get; init; }
    public string? CommandLine { get; init; }
    public string FaultId { get; init; } = "";
    public string Action { get; init; } = "Oom";
    public DateTimeOffset CrashedAt { get; set; }
    /// <summary>The memory limit before (bytes; 0 = unlimited) and the one applied for the fault.</summary>
    public long OriginalLimit { get; init; }
    public long AppliedLimit { get; init; }
    /// <summary>How much the hog allocated inside the target's cgroup (approximate, from its last report).</summary>
    public long HogBytes { get; set; }
    /// <summary>True when the kernel OOM-killed the target (the engine's oom event / OOMKilled, or the cgroup's oom_kill counter).</summary>
    public bool OomKilled { get; set; }
    public int? ExitCode { get; set; }
    public TimeSpan? TimeToKill { get; set; }
    /// <summary>Whether the original limit was put back (read back from the engine / cgroup).</summary>
    public bool LimitRestored { get; set; }
    /// <summary>The limit read back after the restore (bytes; 0 = unlimited, however the engine spells it).</summary>
    public long? RestoredLimit { get; set; }
    public string ObservedState { get; set; } = "";
    public override string ToString() => $"{Target}: OOMKilled={OomKilled} exit={ExitCode} restored={LimitRestored}";
}

/// <summary>Puts a process's oom_score_adj back (undo step "oom-score-adj").</summary>
public sealed class OomScoreAdjUndo : IUndoHandler
{
    public string Action => "oom-score-adj";

    public static UndoStep Step(int pid, string? start, int value)
        => new("oom-score-adj", $"set oom_score_adj of process {pid} back to {value}",
            ("pid", pid.ToString(CultureInfo.InvariantCulture)), ("start", start ?? ""), ("value", value.ToString(CultureInfo.InvariantCulture)));

    public Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        int pid = int.Parse(step.Arg("pid"), CultureInfo.InvariantCulture);
        var start = step.Args.GetValueOrDefault("start");
        if (!ProcessIdentity.IsAlive(pid, string.IsNullOrEmpty(start) ? null : start)) throw new UndoTargetGoneException($"process {pid} is gone (OOM-killed)");
        try { File.WriteAllText($"/proc/{pid}/oom_score_adj", step.Arg("value")); }
        catch (IOException) when (!ProcessIdentity.IsAlive(pid, null)) { throw new UndoTargetGoneException($"process {pid} exited"); }
        return Task.CompletedTask;
    }
}

/// <summary>Removes a cgroup ChaosPS created (rmdir only; moves the target back first when it still lives).</summary>
public sealed class CgroupRemoveUndo : IUndoHandler
{
    public string Action => "cgroup-remove";

    public static UndoStep Step(string cgroupDir, int targetPid, string? targetStart, string originalProcsFile)
        => new("cgroup-remove", $"move process {targetPid} back to its cgroup and remove {cgroupDir}",
            ("dir", cgroupDir), ("pid", targetPid.ToString(CultureInfo.InvariantCulture)), ("start", targetStart ?? ""), ("back", originalProcsFile));

    public async Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        var dir = step.Arg("dir");
        int pid = int.Parse(step.Arg("pid"), CultureInfo.InvariantCulture);
        var start = step.Args.GetValueOrDefault("start");
        if (!Directory.Exists(dir)) throw new UndoTargetGoneException($"{dir} was already removed");
        if (ProcessIdentity.IsAlive(pid, string.IsNullOrEmpty(start) ? null : start))
        {
            try { await File.WriteAllTextAsync(step.Arg("back"), pid.ToString(CultureInfo.InvariantCulture), ct).ConfigureAwait(false); }
            catch (IOException) { /* exited meanwhile */ }
        }
        // Whatever is still inside (a hog that outlived its kill) goes back to the parent too.
        var parentProcs = Path.Combine(Path.GetDirectoryName(dir)!, "cgroup.procs");
        for (int i = 0; i < 50; i++)
        {
            string[] left;
            try { left = File.ReadAllLines(Path.Combine(dir, "cgroup.procs")).Where(l => l.Length > 0).ToArray(); }
            catch (IOException) { break; }
            if (left.Length == 0) break;
            foreach (var p in left) { try { File.WriteAllText(parentProcs, p); } catch (IOException) { } }
            await Task.Delay(20, ct).ConfigureAwait(false);
        }
        for (int i = 0; ; i++)
        {
            try { Directory.Delete(dir, recursive: false); return; }
            catch (IOException) when (i < 50) { await Task.Delay(50, ct).ConfigureAwait(false); }
        }
    }
}

/// <summary>
/// Real out-of-memory kills. Containers: lower the memory limit through the Docker API to a little above what the
/// container uses now, then allocate inside the container's memory cgroup (a helper that joins it and makes itself
/// unkillable by the OOM killer) until the kernel OOM-kills the worker; verify it through the engine's oom event and
/// OOMKilled/exit 137; restore the original limit. Host processes: the same inside a child memory cgroup ChaosPS creates
/// under the process's own cgroup (Linux, root); otherwise NotSupported saying why.
/// </summary>
public static class OomKiller
{
    public const string FaultKind = "MemoryLimit";
    private const long Unlimited = 9223372036854771712; // PAGE_COUNTER_MAX * 4096: what cgroup v1 reads back for "no limit"

    /// <summary>The default headroom above current usage (32MB).</summary>
    public const long DefaultHeadroom = 32L << 20;

    public sealed record Options(long? Limit, long Headroom, TimeSpan Timeout)
    {
        /// <summary>
        /// Throws InvalidDuration for a bad timeout, LimitTooSmall below 6MB (the Docker engine's minimum),
        /// HeadroomTooSmall below 1MB.
        /// </summary>
        public Options Validate()
        {
            InputRules.Duration(Timeout, nameof(Timeout));
            if (Limit is { } l && l < (6L << 20)) throw ChaosException.InvalidArgument("LimitTooSmall", "-Limit must be at least 6MB (the Docker engine's minimum).", l);
            if (Headroom < (1L << 20)) throw ChaosException.InvalidArgument("HeadroomTooSmall", "-Headroom must be at least 1MB.", Headroom);
            return this;
        }
    }

    public static async Task<OomResult> RunAsync(ChaosTarget t, Options o, FaultLedger ledger, IChaosReporter reporter, CancellationToken ct)
        => t.IsContainer ? await ContainerAsync(t, o, ledger, reporter, ct).ConfigureAwait(false) : await ProcessAsync(t, o, ledger, reporter, ct).ConfigureAwait(false);

    /// <summary>The memory cgroup directory of a process, or a NotSupported error naming why there is none.</summary>
    public static (string Dir, bool V2) CgroupDirOf(int pid, string what)
    {
        if (!OperatingSystem.IsLinux())
            throw NotSupported(what, "out-of-memory kills of host processes need Linux memory cgroups");
        var cg = Cgroups.MemoryOf(pid) ?? throw NotSupported(what, $"the memory cgroup of process {pid} could not be read from /proc/{pid}/cgroup");
        if (!Directory.Exists(cg.Directory))
            throw NotSupported(what, $"its memory cgroup {cg.Path} is not visible under {cg.Root} (another cgroup namespace?)");
        return (cg.Directory, cg.V2);
    }

    private static ChaosException NotSupported(string what, string why) => new("OomNotSupported", ChaosErrorCategory.NotImplemented,
        $"Invoke-WorkerOom cannot OOM-kill {what}: {why}.", what,
        "Run the worker in a container (Start-ChaosTestbed -Runtime Docker) or on Linux as root with cgroup v1, or a v2 hierarchy delegated to you.");

    private static long ReadLong(string file)
    {
        var s = File.ReadAllText(file).Trim();
        return s == "max" ? Unlimited : long.Parse(s, CultureInfo.InvariantCulture);
    }

    private static long? OomKillCount(string dir, bool v2)
    {
        try
        {
            var file = Path.Combine(dir, v2 ? "memory.events" : "memory.oom_control");
            foreach (var line in File.ReadAllLines(file))
                if (line.StartsWith("oom_kill ", StringComparison.Ordinal)) return long.Parse(line[9..], CultureInfo.InvariantCulture);
        }
        catch (IOException) { }
        return null;
    }

    /// <summary>Raises the target's oom_score_adj to 1000 (always allowed for root over its own processes), so the kernel
    /// picks the worker, not the hog, when the cgroup runs out; the old value is put back by the fault's undo.</summary>
    private static void MakeFirstVictim(ActiveFault fault, int pid, string? stamp)
    {
        var file = $"/proc/{pid}/oom_score_adj";
        int old = int.Parse(File.ReadAllText(file).Trim(), CultureInfo.InvariantCulture);
        fault.AddUndo(OomScoreAdjUndo.Step(pid, stamp, old));
        File.WriteAllText(file, "1000");
    }

    /// <summary>
    /// Starts the hog: a shell that joins the cgroup (writes its pid into cgroup.procs) and becomes
    /// `dd if=/dev/zero of=/dev/shm/chaosps-FAULT.fill`: shared memory is charged to the cgroup, cannot be reclaimed
    /// without swap, and does not count in dd's own resident size, so once the cgroup is full the kernel's OOM killer
    /// picks the target (whose oom_score_adj ChaosPS raised), not the hog.
    /// </summary>
    private static Process StartHog(ActiveFault fault, string procsFile, ChaosTarget t, out string fill, bool append = false)
    {
        if (!Directory.Exists("/dev/shm"))
            throw NotSupported(t.Display, "there is no /dev/shm (tmpfs) to allocate unreclaimable memory in");
        fill = $"/dev/shm/chaosps-{fault.Id}.fill";
        if (!append) fault.AddUndo(DeletePathUndo.Step(fill));
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        psi.ArgumentList.Add("-c");
        // The hog waits for a go-ahead line on stdin, sent only once its kill step is in the ledger: if pwsh dies in
        // between, stdin closes, `read` fails and nothing is ever allocated. A second hog (the kernel chose the first
        // as a victim) appends, so the pages already charged stay charged.
        psi.ArgumentList.Add(append
            ? "read _ && echo $$ > \"$0\" && exec dd if=/dev/zero of=\"$1\" bs=1M status=none oflag=append conv=notrunc"
            : "read _ && echo $$ > \"$0\" && exec dd if=/dev/zero of=\"$1\" bs=1M status=none");
        psi.ArgumentList.Add(procsFile);
        psi.ArgumentList.Add(fill);
        var p = Process.Start(psi) ?? throw new ChaosException("HogStartFailed", ChaosErrorCategory.InvalidOperation, "The memory hog could not be started.", t.Display);
        fault.AddUndo(KillProcessUndo.Step(p.Id, $"kill the memory hog {p.Id}"));
        p.StandardInput.WriteLine("go");
        p.StandardInput.Close();
        return p;
    }

    private static long FileSize(string path) { try { return new FileInfo(path).Length; } catch (IOException) { return 0; } }

    private static long Rss(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        }
        catch (IOException) { }
        return 0;
    }

    private static async Task<OomResult> ContainerAsync(ChaosTarget t, Options o, FaultLedger ledger, IChaosReporter reporter, CancellationToken ct)
    {
        using var client = await DockerEngine.ConnectAsync(t.DockerEndpoint, ct).ConfigureAwait(false);
        ContainerInspectResponse ins;
        try { ins = await client.Containers.InspectContainerAsync(t.ContainerId!, ct).ConfigureAwait(false); }
        catch (DockerContainerNotFoundException) { throw Suspender.Gone(t); }
        if (ins.State?.Running != true || ins.State.Pid <= 0)
            throw new ChaosException("TargetNotRunning", ChaosErrorCategory.InvalidOperation, $"{t.Display} is not running ({ins.State?.Status}).", t.Display);
        int pid = (int)ins.State.Pid;
        var stamp = ProcessIdentity.StartStamp(pid);
        var (dir, v2) = CgroupDirOf(pid, t.Display);
        long usage = ReadLong(Path.Combine(dir, v2 ? "memory.current" : "memory.usage_in_bytes"));
        long origMem = ins.HostConfig?.Memory ?? 0, origSwap = ins.HostConfig?.MemorySwap ?? 0;
        long limit = o.Limit ?? Math.Max(usage + o.Headroom, 8L << 20);
        if (origMem > 0 && limit > origMem) limit = origMem;
        long restoreMem = origMem > 0 ? origMem : Unlimited;
        long restoreSwap = origSwap > 0 ? Math.Max(origSwap, restoreMem) : origSwap == -1 ? -1 : restoreMem;
        var oomBefore = OomKillCount(dir, v2);

        // Watch the engine's events for this container before anything changes: the supervisor may start it again
        // at once, which clears State.OOMKilled, but the oom and die events stay.
        bool oomEvent = false; int? dieCode = null; DateTimeOffset? dieAt = null;
        using var eventsCts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var progress = new Progress<Message>(m =>
        {
            if (m.Action == "oom") oomEvent = true;
            if (m.Action == "die")
            {
                dieAt ??= DateTimeOffset.UtcNow;
                if (m.Actor?.Attributes?.TryGetValue("exitCode", out var code) == true && int.TryParse(code, out var c)) dieCode ??= c;
            }
        });
        var eventsTask = client.System.MonitorEventsAsync(new ContainerEventsParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>>
            {
                ["container"] = new Dictionary<string, bool> { [ins.ID] = true },
                ["type"] = new Dictionary<string, bool> { ["container"] = true },
            },
        }, progress, eventsCts.Token);

        var fault = ledger.Begin(FaultKind, t.Display, $"memory limit {SizeParser.Format(limit)} and a hog in its cgroup until the kernel OOM-kills it",
            o.Timeout, [DockerUpdateMemoryUndo.Step(ins.ID, t.DockerEndpoint, restoreMem, restoreSwap)],
            new Dictionary<string, string> { ["Memory"] = origMem.ToString(CultureInfo.InvariantCulture), ["MemorySwap"] = origSwap.ToString(CultureInfo.InvariantCulture), ["UsageBefore"] = usage.ToString(CultureInfo.InvariantCulture) });
        var result = new OomResult
        {
            Target = t.Display, Kind = t.Kind, Name = t.Name, ProcessId = pid, ContainerId = ins.ID, WorkerId = t.WorkerId, Uri = t.Uri,
            DockerEndpoint = t.DockerEndpoint, CommandLine = t.CommandLine, FaultId = fault.Id, OriginalLimit = origMem, AppliedLimit = limit,
        };
        Process? hog = null;
        try
        {
            await ContainerMemory.SetLimitAsync(client, ins.ID, limit, limit, ct).ConfigureAwait(false);
            result.CrashedAt = DateTimeOffset.UtcNow;
            var sw = Stopwatch.StartNew();
            MakeFirstVictim(fault, pid, stamp);
            hog = StartHog(fault, Path.Combine(dir, "cgroup.procs"), t, out var fill);
            int hogRestarts = 0;
            while (sw.Elapsed < o.Timeout && !ct.IsCancellationRequested)
            {
                result.HogBytes = Math.Max(result.HogBytes, FileSize(fill));
                reporter.Progress(new ProgressInfo("Invoke-WorkerOom", $"{t.Display}: hog at {result.HogBytes >> 20} MiB, limit {SizeParser.Format(limit)}",
                    (int)(100 * sw.Elapsed.TotalMilliseconds / o.Timeout.TotalMilliseconds)));
                if (!ProcessIdentity.IsAlive(pid, stamp)) break;
                if (hog.HasExited)
                {
                    var err = await hog.StandardError.ReadToEndAsync(ct).ConfigureAwait(false);
                    await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);   // the worker may be dying right now
                    if (!ProcessIdentity.IsAlive(pid, stamp)) break;
                    if (hog.ExitCode == 137 && hogRestarts++ < 3)
                    {
                        // On a busy host the kernel sometimes takes the hog first; the worker is still over its limit.
                        hog.Dispose();
                        hog = StartHog(fault, Path.Combine(dir, "cgroup.procs"), t, out fill, append: true);
                        continue;
                    }
                    throw new ChaosException("HogFailed", ChaosErrorCategory.InvalidOperation, $"The memory hog for {t.Display} exited early (code {hog.ExitCode}): {err.Trim()}", t.Display,
                        "Invoke-WorkerOom needs root to join the container's memory cgroup.");
                }
                try { await Task.Delay(20, ct).ConfigureAwait(false); } catch (OperationCanceledException) { break; }
            }
            bool killed = !ProcessIdentity.IsAlive(pid, stamp);
            if (killed) result.TimeToKill = sw.Elapsed;
            // Let the engine catch up with its events and state.
            for (int i = 0; i < 100 && killed && (dieCode is null || !oomEvent); i++) await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
            var after = await TargetSelector.InspectAsync(client, ins.ID, t.DockerEndpoint, CancellationToken.None).ConfigureAwait(false);
            ContainerInspectResponse? raw = null;
            try { raw = await client.Containers.InspectContainerAsync(ins.ID, CancellationToken.None).ConfigureAwait(false); } catch (DockerContainerNotFoundException) { }
            var oomAfter = OomKillCount(dir, v2);
            result.OomKilled = killed && (oomEvent || raw?.State?.OOMKilled == true || (oomAfter ?? 0) > (oomBefore ?? 0));
            result.ExitCode = dieCode ?? (raw?.State?.Running == false ? (int?)raw.State.ExitCode : null);
            result.ObservedState = killed ? $"{(result.OomKilled ? "OOM-killed" : "exited")}; now {after?.State ?? "removed"}" : $"still running after {DurationParser.Format(o.Timeout)}";
            if (!killed) reporter.Warning($"{t.Display} was not OOM-killed within {DurationParser.Format(o.Timeout)} (hog reached {result.HogBytes >> 20} MiB).");
        }
        finally
        {
            eventsCts.Cancel();
            try { await eventsTask.ConfigureAwait(false); } catch (Exception) { /* cancelled */ }
            var r = await fault.RestoreAsync("Invoke-WorkerOom").ConfigureAwait(false);
            hog?.Dispose();
            try
            {
                var now = await client.Containers.InspectContainerAsync(ins.ID, CancellationToken.None).ConfigureAwait(false);
                result.RestoredLimit = now.HostConfig?.Memory is { } m && (m <= 0 || m == Unlimited) ? 0 : now.HostConfig?.Memory;
                result.LimitRestored = r.Outcome != "Failed" && (now.HostConfig?.Memory == restoreMem || (origMem == 0 && now.HostConfig?.Memory is 0 or Unlimited));
            }
            catch (DockerContainerNotFoundException) { result.LimitRestored = r.Outcome != "Failed"; }
            if (r.Outcome == "Failed") reporter.Error(new ChaosException("RestoreFailed", ChaosErrorCategory.InvalidResult,
                $"Restoring the memory limit of {t.Display} failed: {r.Error}. The fault stays in the ledger ({fault.Id}).", t.Display, $"Restore-ChaosFault -Id {fault.Id}"));
        }
        return result;
    }

    private static async Task<OomResult> ProcessAsync(ChaosTarget t, Options o, FaultLedger ledger, IChaosReporter reporter, CancellationToken ct)
    {
        int pid = t.ProcessId!.Value;
        if (!t.ProcessAlive) throw Suspender.Gone(t);
        var (parent, v2) = CgroupDirOf(pid, t.Display);
        if (v2) throw NotSupported(t.Display, "on cgroup v2 a process cannot be moved into a child of its own non-leaf cgroup (the no-internal-processes rule); ChaosPS supports host-process OOM on cgroup v1");
        var limitFile = "memory.limit_in_bytes";
        long limit = o.Limit ?? o.Headroom;
        string id = FaultLedger.NewId();
        var dir = Path.Combine(parent, "chaosps-" + id);
        var fault = ledger.Begin(FaultKind, t.Display, $"process moved into {dir} (limit {SizeParser.Format(limit)}) with a hog until the kernel OOM-kills it",
            o.Timeout, [CgroupRemoveUndo.Step(dir, pid, t.StartStamp, Path.Combine(parent, "cgroup.procs"))],
            new Dictionary<string, string> { ["Cgroup"] = parent });
        var result = new OomResult
        {
            Target = t.Display, Kind = t.Kind, Name = t.Name, ProcessId = pid, WorkerId = t.WorkerId, Uri = t.Uri, CommandLine = t.CommandLine,
            FaultId = fault.Id, OriginalLimit = 0, AppliedLimit = limit,
        };
        Process? hog = null;
        try
        {
            try
            {
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, limitFile), limit.ToString(CultureInfo.InvariantCulture));
                File.WriteAllText(Path.Combine(dir, "cgroup.procs"), pid.ToString(CultureInfo.InvariantCulture));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw NotSupported(t.Display, $"a memory cgroup could not be set up under {parent}: {e.Message}");
            }
            result.CrashedAt = DateTimeOffset.UtcNow;
            var sw = Stopwatch.StartNew();
            MakeFirstVictim(fault, pid, t.StartStamp);
            hog = StartHog(fault, Path.Combine(dir, "cgroup.procs"), t, out var fill);
            var oomBefore = OomKillCount(dir, false) ?? 0;
            while (sw.Elapsed < o.Timeout && !ct.IsCancellationRequested && t.ProcessAlive)
            {
                result.HogBytes = Math.Max(result.HogBytes, FileSize(fill));
                reporter.Progress(new ProgressInfo("Invoke-WorkerOom", $"{t.Display}: hog at {result.HogBytes >> 20} MiB, limit {SizeParser.Format(limit)}",
                    (int)(100 * sw.Elapsed.TotalMilliseconds / o.Timeout.TotalMilliseconds)));
                if (hog.HasExited && t.ProcessAlive)
                {
                    var err = await hog.StandardError.ReadToEndAsync(ct).ConfigureAwait(false);
                    throw new ChaosException("HogFailed", ChaosErrorCategory.InvalidOperation, $"The memory hog for {t.Display} exited early (code {hog.ExitCode}): {err.Trim()}", t.Display);
                }
                try { await Task.Delay(20, ct).ConfigureAwait(false); } catch (OperationCanceledException) { break; }
            }
            bool killed = !t.ProcessAlive;
            if (killed) result.TimeToKill = sw.Elapsed;
            result.OomKilled = killed && (OomKillCount(dir, false) ?? 0) > oomBefore;
            result.ExitCode = killed ? 137 : null; // SIGKILL from the OOM killer; confirmed by the cgroup's oom_kill counter
            if (!result.OomKilled) result.ExitCode = null;
            result.ObservedState = killed ? (result.OomKilled ? "OOM-killed" : "exited") : $"still running after {DurationParser.Format(o.Timeout)}";
        }
        finally
        {
            var r = await fault.RestoreAsync("Invoke-WorkerOom").ConfigureAwait(false);
            hog?.Dispose();
            result.LimitRestored = r.Outcome != "Failed" && !Directory.Exists(dir);
            if (r.Outcome == "Failed") reporter.Error(new ChaosException("RestoreFailed", ChaosErrorCategory.InvalidResult,
                $"Removing the OOM cgroup of {t.Display} failed: {r.Error}. The fault stays in the ledger ({fault.Id}).", t.Display, $"Restore-ChaosFault -Id {fault.Id}"));
        }
        return result;
    }
}
