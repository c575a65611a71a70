using System.Diagnostics;
using System.Globalization;
using System.Net;
using ChaosPS.Faults;

namespace ChaosPS.Stress;

public sealed class FdStressOptions
{
    /// <summary>Descriptors to hold open (hold mode), or the headroom to leave the target process (limit mode).</summary>
    public int Count { get; init; } = 1000;
    public TimeSpan Duration { get; init; }
    /// <summary>Limit mode: lower this process's RLIMIT_NOFILE to what it has open now plus <see cref="Count"/>.</summary>
    public int? ProcessId { get; init; }
}

/// <summary>
/// File descriptor exhaustion, two ways. Hold mode: a `chaosps-agent fd-hog` process opens and holds N descriptors
/// (the system-wide file table grows by N; measured from /proc/&lt;pid&gt;/fd and /proc/sys/fs/file-nr). Limit mode
/// (-ProcessId): the target process's soft descriptor limit is lowered with prlimit(2) to what it has open plus the
/// headroom, so its next accept/open fails with EMFILE; the old limit is an undo step (rlimit) the watchdog can replay.
/// </summary>
public static class FdStress
{
    public static void Validate(FdStressOptions o)
    {
        if (o.Count < 0 || o.Count > 10_000_000 || (o.ProcessId is null && o.Count == 0))
            throw ChaosException.InvalidArgument("CountOutOfRange", $"-Count {o.Count} is out of range (1..10000000; 0 allowed only with -ProcessId).", o.Count);
        InputRules.Duration(o.Duration, "Duration");
        if (o.ProcessId is { } pid && !ProcessIdentity.IsAlive(pid, null))
            throw new ChaosException("ProcessNotFound", ChaosErrorCategory.ObjectNotFound, $"No process {pid} is running.", pid);
        if (o.ProcessId is null)
        {
            long max = 0;
            try { max = long.Parse(File.ReadAllText("/proc/sys/fs/nr_open").Trim(), CultureInfo.InvariantCulture); } catch (IOException) { }
            if (max > 0 && o.Count > max - 64)
                throw ChaosException.InvalidArgument("CountTooLarge", $"-Count {o.Count} is more than one process may hold on this machine (fs.nr_open {max}).", o.Count);
        }
    }

    public static async Task<StressResult> RunAsync(FdStressOptions o, IChaosReporter reporter, CancellationToken ct)
    {
        Validate(o);
        return o.ProcessId is { } pid ? await LimitAsync(o, pid, reporter, ct).ConfigureAwait(false) : await HoldAsync(o, reporter, ct).ConfigureAwait(false);
    }

    private static async Task<StressResult> HoldAsync(FdStressOptions o, IChaosReporter reporter, CancellationToken ct)
    {
        var result = new StressResult { Kind = "FileDescriptor", Target = "host", Requested = $"hold {o.Count} descriptors for {DurationParser.Format(o.Duration)}", Unit = "fds", TargetValue = o.Count, Duration = o.Duration };
        long sys0 = HostStats.SystemFileHandles();
        result.Details["BaselineSystemFileHandles"] = sys0;
        await using var fault = FaultLedger.Default.Begin("FdStress", "host", result.Requested, o.Duration + StressorProcess.StartAllowance, []);
        result.FaultId = fault.Id;
        var clock = Stopwatch.StartNew();
        await using (var hog = StressorProcess.Start(fault, "fd-hog", ["--count", o.Count.ToString(CultureInfo.InvariantCulture)], o.Duration))
        {
            result.StressorPid = hog.Pid;
            var ready = await hog.WaitReadyAsync(StressorProcess.StartAllowance, ct).ConfigureAwait(false);
            StressorProcess.Tighten(fault, o.Duration);
            if (ready.TryGetValue("error", out var err)) { result.Notes.Add($"the stressor could open only {ready.GetValueOrDefault("held")} descriptors: {err}"); reporter.Warning(result.Notes[^1]); }
            // Everything the stressor had open besides the held descriptors, as seen from outside at READY.
            int held = int.Parse(ready.GetValueOrDefault("held", "0"), CultureInfo.InvariantCulture);
            int baseFds = (HostStats.ProcessFdCount(hog.Pid) ?? held) - held;
            result.Details["StressorOtherFds"] = baseFds;
            long sysPeak = 0;
            await StressHold.RunAsync(result, o.Duration, clock, () =>
            {
                var n = HostStats.ProcessFdCount(hog.Pid);
                if (n is null) return null;
                long sys = HostStats.SystemFileHandles();
                sysPeak = Math.Max(sysPeak, sys);
                return (n.Value - baseFds, sys);
            }, v => v >= o.Count, reporter, $"File descriptors: {result.Requested}", ct,
                () => hog.HasExited ? $"The descriptor stressor {hog.Pid} exited early." : null).ConfigureAwait(false);
            result.Details["PeakSystemFileHandles"] = sysPeak;
        }
        result.Restore = (await fault.RestoreAsync().ConfigureAwait(false)).Outcome;
        result.Details["ReleasedSystemFileHandles"] = HostStats.SystemFileHandles();
        result.EndedAt = DateTimeOffset.UtcNow;
        return result;
    }

    private static async Task<StressResult> LimitAsync(FdStressOptions o, int pid, IChaosReporter reporter, CancellationToken ct)
    {
        var target = $"process {pid}";
        int open = HostStats.ProcessFdCount(pid) ?? throw new ChaosException("ProcessUnreadable", ChaosErrorCategory.PermissionDenied, $"Cannot read the descriptors of process {pid}.", pid, "Run as root or as the process's owner.");
        if (LinuxIo.PrLimitSafe(pid, LinuxIo.RLIMIT_NOFILE, null, out var old) is var e1 and not 0)
            throw new ChaosException("PrlimitFailed", ChaosErrorCategory.PermissionDenied, $"prlimit({pid}) failed: errno {e1}.", pid);
        ulong soft = (ulong)(open + o.Count);
        var result = new StressResult { Kind = "FileDescriptor", Target = target, Requested = $"limit process {pid} to its {open} open descriptors + {o.Count} for {DurationParser.Format(o.Duration)}", Unit = "fds", TargetValue = soft, Duration = o.Duration };
        result.Details["PriorSoftLimit"] = old.Cur;
        result.Details["PriorHardLimit"] = old.Max;
        result.Details["OpenAtStart"] = open;
        await using var fault = FaultLedger.Default.Begin("FdLimit", target, result.Requested, o.Duration,
            [RLimitUndo.Step(pid, LinuxIo.RLIMIT_NOFILE, old.Cur, old.Max)],
            new Dictionary<string, string> { ["nofile.soft"] = old.Cur.ToString(CultureInfo.InvariantCulture), ["nofile.hard"] = old.Max.ToString(CultureInfo.InvariantCulture) });
        result.FaultId = fault.Id;
        var lim = new LinuxIo.RLimit { Cur = soft, Max = old.Max };
        if (LinuxIo.PrLimitSafe(pid, LinuxIo.RLIMIT_NOFILE, lim, out _) is var e2 and not 0)
            throw new ChaosException("PrlimitFailed", ChaosErrorCategory.PermissionDenied, $"prlimit({pid}) failed: errno {e2}.", pid);
        var clock = Stopwatch.StartNew();
        await StressHold.RunAsync(result, o.Duration, clock, () => HostStats.ProcessFdCount(pid) is { } n ? (n, null) : null,
            v => true, reporter, $"File descriptors: {result.Requested}", ct,
            () => ProcessIdentity.IsAlive(pid, null) ? null : $"Process {pid} exited during the fault.").ConfigureAwait(false);
        result.Restore = (await fault.RestoreAsync().ConfigureAwait(false)).Outcome;
        result.EndedAt = DateTimeOffset.UtcNow;
        return result;
    }
}

/// <summary>Restores a process's resource limit (prlimit) after a limit fault, if it is still the same process.</summary>
public sealed class RLimitUndo : IUndoHandler
{
    public string Action => "rlimit";

    public static UndoStep Step(int pid, int resource, ulong soft, ulong hard)
        => new("rlimit", $"restore rlimit {resource} of process {pid} to {soft}/{hard}",
            ("pid", pid.ToString(CultureInfo.InvariantCulture)), ("start", ProcessIdentity.StartStamp(pid) ?? ""),
            ("resource", resource.ToString(CultureInfo.InvariantCulture)), ("soft", soft.ToString(CultureInfo.InvariantCulture)), ("hard", hard.ToString(CultureInfo.InvariantCulture)));

    public Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        int pid = int.Parse(step.Arg("pid"), CultureInfo.InvariantCulture);
        var start = step.Args.GetValueOrDefault("start");
        if (!ProcessIdentity.IsAlive(pid, string.IsNullOrEmpty(start) ? null : start)) throw new UndoTargetGoneException($"process {pid} is gone; no limit to restore");
        var lim = new LinuxIo.RLimit { Cur = ulong.Parse(step.Arg("soft"), CultureInfo.InvariantCulture), Max = ulong.Parse(step.Arg("hard"), CultureInfo.InvariantCulture) };
        if (LinuxIo.PrLimitSafe(pid, int.Parse(step.Arg("resource"), CultureInfo.InvariantCulture), lim, out _) is var errno and not 0)
        {
            if (errno == 3) throw new UndoTargetGoneException($"process {pid} is gone");
            throw new InvalidOperationException($"prlimit({pid}) failed: errno {errno}");
        }
        return Task.CompletedTask;
    }
}

public sealed class ConnectionStressOptions
{
    public Uri Uri { get; init; } = new("http://127.0.0.1/");
    public int Count { get; init; } = 1000;
    public TimeSpan Duration { get; init; }
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Opens N TCP connections to a loopback target from a `chaosps-agent conn-hog` process and holds them idle for the
/// duration (measured: ESTABLISHED sockets of the stressor, from /proc). Only loopback targets are allowed.
/// </summary>
public static class ConnectionStress
{
    public static (IPAddress Address, int Port) Validate(ConnectionStressOptions o)
    {
        if (o.Count < 1 || o.Count > 1_000_000)
            throw ChaosException.InvalidArgument("CountOutOfRange", $"-Count {o.Count} is out of range (1..1000000).", o.Count);
        InputRules.Duration(o.Duration, "Duration");
        InputRules.HttpUri(o.Uri, "Uri");
        if (!o.Uri.IsAbsoluteUri || o.Uri.Port <= 0)
            throw ChaosException.InvalidArgument("InvalidUri", $"'{o.Uri}' has no host and port.", o.Uri);
        var addr = Loopback.AddressOf(o.Uri) ??
            throw new ChaosException("NonLoopbackTarget", ChaosErrorCategory.SecurityError,
                $"'{o.Uri.Host}' is not a loopback address; ChaosPS opens stress connections only to 127.0.0.0/8 or ::1.", o.Uri, "Aim at a target on this machine (127.0.0.1).");
        return (addr, o.Uri.Port);
    }

    public static async Task<StressResult> RunAsync(ConnectionStressOptions o, IChaosReporter reporter, CancellationToken ct)
    {
        var (addr, port) = Validate(o);
        var target = $"{addr}:{port}";
        var result = new StressResult { Kind = "Connection", Target = target, Requested = $"hold {o.Count} connections for {DurationParser.Format(o.Duration)}", Unit = "conns", TargetValue = o.Count, Duration = o.Duration };
        await using var fault = FaultLedger.Default.Begin("ConnectionStress", target, result.Requested, o.Duration + StressorProcess.StartAllowance, []);
        result.FaultId = fault.Id;
        var clock = Stopwatch.StartNew();
        await using (var hog = StressorProcess.Start(fault, "conn-hog", ["--address", addr.ToString(), "--port", port.ToString(CultureInfo.InvariantCulture),
            "--count", o.Count.ToString(CultureInfo.InvariantCulture), "--connect-timeout-ms", ((int)o.ConnectTimeout.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)], o.Duration))
        {
            result.StressorPid = hog.Pid;
            var ready = await hog.WaitReadyAsync(StressorProcess.StartAllowance, ct).ConfigureAwait(false);
            StressorProcess.Tighten(fault, o.Duration);
            result.Details["Opened"] = int.Parse(ready.GetValueOrDefault("opened", "0"), CultureInfo.InvariantCulture);
            result.Details["Failed"] = int.Parse(ready.GetValueOrDefault("failed", "0"), CultureInfo.InvariantCulture);
            result.Details["OpenSeconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
            if (ready.TryGetValue("error", out var err)) { result.Notes.Add($"first connect error: {err.Replace('_', ' ')}"); reporter.Warning($"{result.Details["Failed"]} of {o.Count} connections failed: {err.Replace('_', ' ')}"); }
            await StressHold.RunAsync(result, o.Duration, clock, () => HostStats.ProcessTcpEstablished(hog.Pid) is { } n ? (n, hog.StatusDouble("open")) : null,
                v => v >= o.Count, reporter, $"Connections to {target}", ct,
                () => hog.HasExited ? $"The connection stressor {hog.Pid} exited early." : null).ConfigureAwait(false);
        }
        result.Restore = (await fault.RestoreAsync().ConfigureAwait(false)).Outcome;
        result.EndedAt = DateTimeOffset.UtcNow;
        return result;
    }
}
