using System.Diagnostics;
using System.Runtime.InteropServices;
using ChaosPS.Faults;
using Microsoft.Win32.SafeHandles;

namespace ChaosPS.Stress;

public sealed class DiskStressOptions
{
    public string Path { get; init; } = "";
    /// <summary>Fill until the filesystem is this full (percent used, as df shows it).</summary>
    public double? Percent { get; init; }
    /// <summary>Fill until only this much is left available.</summary>
    public long? LeaveFree { get; init; }
    public TimeSpan Duration { get; init; }
    /// <summary>Allow filling the root filesystem below the safety margin.</summary>
    public bool Force { get; init; }
    public string? Container { get; init; }
}

/// <summary>
/// Fills a filesystem: one fill file (chaosps-fill-&lt;faultid&gt;.bin) preallocated with posix_fallocate in 256 MB
/// steps (written with zeros where the filesystem cannot preallocate), held for the duration, then deleted. The file's
/// path is a delete-path undo step recorded before the file exists, so the watchdog removes it if pwsh dies.
/// </summary>
public static class DiskStress
{
    /// <summary>On the root filesystem at least this much must stay available unless -Force.</summary>
    public static long SafetyMargin(long total) => Math.Max(2L << 30, total / 20);

    public sealed record Plan(string HostPath, FilesystemSnapshot Before, long FillBytes, double TargetPercent, string FillFile);

    public static Plan Check(DiskStressOptions o, string hostPath)
    {
        if (o.Percent is null == o.LeaveFree is null)
            throw ChaosException.InvalidArgument("PercentOrLeaveFree", "Give either -Percent or -LeaveFree.", null);
        if (o.Percent is { } p && (double.IsNaN(p) || p <= 0 || p > 100))
            throw ChaosException.InvalidArgument("PercentOutOfRange", $"-Percent {p} must be more than 0 and at most 100.", p);
        if (o.LeaveFree is { } lf && lf < 0)
            throw ChaosException.InvalidArgument("InvalidSize", "-LeaveFree must not be negative.", lf);
        InputRules.Duration(o.Duration, "Duration");
        if (!Directory.Exists(hostPath))
            throw new ChaosException("PathNotFound", ChaosErrorCategory.ObjectNotFound, $"The folder '{o.Path}' does not exist.", o.Path, "Give an existing folder on the filesystem to fill.");
        if (OperatingSystem.IsLinux() && LinuxIo.access(hostPath, 2 /* W_OK */) != 0 || !CanWrite(hostPath))
            throw new ChaosException("PathNotWritable", ChaosErrorCategory.PermissionDenied, $"The folder '{o.Path}' is not writable.", o.Path, "Give a folder you can write to.");
        var fs = HostStats.ReadFilesystem(hostPath);
        if (o.LeaveFree is { } keep && keep > fs.Total)
            throw ChaosException.InvalidArgument("SizeTooLarge", $"-LeaveFree {SizeParser.Format(keep)} is larger than the filesystem ({SizeParser.Format(fs.Total)}).", keep);
        long capacity = fs.Used + fs.Available;
        long fill = o.Percent is { } pct
            ? (long)(capacity * pct / 100.0) - fs.Used
            : fs.Available - o.LeaveFree!.Value;
        fill = Math.Max(0, Math.Min(fill, fs.Available));
        double targetPct = capacity == 0 ? 0 : 100.0 * (fs.Used + fill) / capacity;
        if (fs.IsRootFilesystem && !o.Force && fs.Available - fill < SafetyMargin(fs.Total))
            throw new ChaosException("ProtectedPath", ChaosErrorCategory.SecurityError,
                $"'{o.Path}' is on the root filesystem; filling it would leave {SizeParser.Format(fs.Available - fill)} available, below the safety margin of {SizeParser.Format(SafetyMargin(fs.Total))}.",
                o.Path, "Fill a dedicated filesystem (a tmpfs or a loop-mounted image), or add -Force if you really mean the root filesystem.");
        var file = System.IO.Path.Combine(hostPath, "chaosps-fill-{0}.bin");
        return new Plan(hostPath, fs, fill, Math.Round(targetPct, 2), file);
    }

    private static bool CanWrite(string dir)
    {
        try
        {
            var probe = System.IO.Path.Combine(dir, $".chaosps-probe-{Environment.ProcessId}");
            using (File.Create(probe, 1, FileOptions.DeleteOnClose)) { }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    public static string Describe(DiskStressOptions o)
        => (o.Percent is { } p ? $"fill to {p:0.##}%" : $"leave {SizeParser.Format(o.LeaveFree ?? 0)} free") + $" for {DurationParser.Format(o.Duration)}";

    public static async Task<StressResult> RunAsync(DiskStressOptions o, IChaosReporter reporter, CancellationToken ct)
    {
        ScopedContainer? container = o.Container is null ? null : await ContainerScope.ResolveAsync(o.Container, ct).ConfigureAwait(false);
        var hostPath = container is null ? System.IO.Path.GetFullPath(o.Path) : ContainerScope.HostPath(container, o.Path);
        var plan = Check(o, hostPath);
        var target = container is null ? System.IO.Path.GetFullPath(o.Path) : $"{o.Path} in container {container.Name}";
        var result = new StressResult
        {
            Kind = "Disk", Target = target, Requested = Describe(o), Unit = "%", TargetValue = plan.TargetPercent, Duration = o.Duration,
        };
        result.Details["MountPoint"] = plan.Before.MountPoint;
        result.Details["FilesystemType"] = plan.Before.FsType;
        result.Details["TotalBytes"] = plan.Before.Total;
        result.Details["BaselineUsedPercent"] = Math.Round(plan.Before.UsedPercent, 2);
        result.Details["BaselineAvailableBytes"] = plan.Before.Available;
        var id = FaultLedger.NewId();
        var file = string.Format(System.Globalization.CultureInfo.InvariantCulture, plan.FillFile, id);
        // The ledger id and the file name agree: the record names the file before it exists.
        var ledger = FaultLedger.Default;
        await using var fault = new ActiveFault(ledger, ledger.Record("DiskFill", target, $"disk {Describe(o)}: {file}", o.Duration + StressorProcess.StartAllowance, [DeletePathUndo.Step(file)], id: id));
        result.FaultId = fault.Id;
        result.Details["FillFile"] = file;
        var clock = Stopwatch.StartNew();
        var (written, method, fillTime) = Fill(file, plan.FillBytes, reporter, ct);
        // The fill may take longer than the deadline's grace; the hold starts now.
        StressorProcess.Tighten(fault, o.Duration);
        result.Details["FillBytes"] = written;
        result.Details["FillMethod"] = method;
        result.Details["FillSeconds"] = Math.Round(fillTime.TotalSeconds, 3);
        result.Details["FillRateMBps"] = fillTime.TotalSeconds > 0 ? Math.Round(written / 1048576.0 / fillTime.TotalSeconds, 1) : 0;
        long minAvail = long.MaxValue;
        if (!ct.IsCancellationRequested)
        {
            await StressHold.RunAsync(result, o.Duration, clock, () =>
            {
                var fs = HostStats.ReadFilesystem(hostPath);
                minAvail = Math.Min(minAvail, fs.Available);
                return (fs.UsedPercent, fs.Available);
            }, v => v >= plan.TargetPercent - 1, reporter, $"Disk {Describe(o)} at {target}", ct).ConfigureAwait(false);
        }
        else result.Cancelled = true;
        result.Details["MinAvailableBytes"] = minAvail == long.MaxValue ? null : minAvail;
        var restore = await fault.RestoreAsync().ConfigureAwait(false);
        result.Restore = restore.Outcome;
        var after = HostStats.ReadFilesystem(hostPath);
        result.Details["ReleasedUsedPercent"] = Math.Round(after.UsedPercent, 2);
        result.Details["ReleasedAvailableBytes"] = after.Available;
        result.Details["FillFileRemoved"] = !File.Exists(file);
        result.EndedAt = DateTimeOffset.UtcNow;
        return result;
    }

    /// <summary>Creates and preallocates the fill file. Returns the bytes reserved, the method and the time it took.</summary>
    public static (long Written, string Method, TimeSpan Took) Fill(string file, long bytes, IChaosReporter reporter, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        const long Step = 256L << 20;
        long done = 0;
        string method = "fallocate";
        using var handle = File.OpenHandle(file, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        int fd = (int)handle.DangerousGetHandle();
        long step = Step;
        while (done < bytes && !ct.IsCancellationRequested)
        {
            long len = Math.Min(step, bytes - done);
            int err = method == "fallocate" && OperatingSystem.IsLinux() ? LinuxIo.posix_fallocate(fd, done, len) : LinuxIo.EOPNOTSUPP;
            if (err == 0) { done += len; }
            else if (err == LinuxIo.ENOSPC)
            {
                if (step <= 4096) break;           // full: as much as fits is reserved
                step = Math.Max(4096, step / 4);
                continue;
            }
            else if (err == LinuxIo.EOPNOTSUPP || err == LinuxIo.EINVAL || method == "write")
            {
                method = "write";
                if (!WriteZeros(handle, done, len)) break;
                done += len;
            }
            else if (err == LinuxIo.EINTR) continue;
            else throw new ChaosException("FillFailed", ChaosErrorCategory.WriteError, $"posix_fallocate on {file} failed with errno {err}.", file);
            reporter.Progress(new ProgressInfo($"Filling {System.IO.Path.GetDirectoryName(file)}", $"{SizeParser.Format(done)} of {SizeParser.Format(bytes)}",
                (int)(100 * done / Math.Max(1, bytes)), ActivityId: 2));
        }
        reporter.Progress(new ProgressInfo($"Filling {System.IO.Path.GetDirectoryName(file)}", "done", 100, Completed: true, ActivityId: 2));
        return (done, method, sw.Elapsed);
    }

    private static bool WriteZeros(SafeFileHandle h, long offset, long len)
    {
        var buf = new byte[1 << 20];
        try
        {
            for (long o = 0; o < len; o += buf.Length)
                RandomAccess.Write(h, buf.AsSpan(0, (int)Math.Min(buf.Length, len - o)), offset + o);
            return true;
        }
        catch (IOException) { return false; } // ENOSPC: full
    }
}
