using System.Diagnostics;
using System.Globalization;
using ChaosPS.Faults;

namespace ChaosPS.Stress;

public sealed class MemoryStressOptions
{
    /// <summary>Percent of total memory (of the container's limit with -Container). Either this or <see cref="Bytes"/>.</summary>
    public double? Percent { get; init; }
    public long? Bytes { get; init; }
    /// <summary>Reach: bring used memory to the figure; Add: allocate the figure on top of what is used. Default: Reach for a percentage, Add for a size.</summary>
    public string? Mode { get; init; }
    public TimeSpan Duration { get; init; }
    public string? Container { get; init; }
    /// <summary>Allow an Add larger than the memory available now (the stressor is still the first thing the kernel OOM-kills).</summary>
    public bool Force { get; init; }
}

/// <summary>
/// Holds memory in a `chaosps-agent memory-hog` process (never in pwsh: a stressor the kernel OOM-kills must not take
/// the user's session with it; its oom_score_adj is 1000, so it is the first choice). Pages are populated by the kernel
/// (madvise MADV_POPULATE_WRITE, in 64 MB chunks on every CPU), so they are resident (the stressor's RSS is measured). In Reach mode the stressor keeps adjusting — it gives memory
/// back when other processes grow and takes more when they shrink — so the level holds; it always leaves a floor of
/// available memory (2% of the basis, at least 256 MB).
/// </summary>
public static class MemoryStress
{
    public const long Chunk = 64L << 20;

    public static string ResolveMode(MemoryStressOptions o) => o.Mode ?? (o.Percent is not null ? "Reach" : "Add");

    /// <summary>Checks the arguments against the machine (or container) before anything is allocated; returns the basis and the used bytes now.</summary>
    public static (long Basis, long Used, long Available) Check(MemoryStressOptions o, MemorySnapshot host, (long Limit, long Usage)? cgroup)
    {
        if (o.Percent is null == o.Bytes is null)
            throw ChaosException.InvalidArgument("PercentOrSize", "Give either -Percent or -Size.", null);
        if (o.Percent is { } p && (double.IsNaN(p) || p <= 0 || p > 100))
            throw ChaosException.InvalidArgument("PercentOutOfRange", $"-Percent {p} must be more than 0 and at most 100.", p);
        if (o.Bytes is { } b && b <= 0)
            throw ChaosException.InvalidArgument("InvalidSize", $"-Size must be greater than zero.", b);
        var mode = ResolveMode(o);
        if (mode is not ("Reach" or "Add"))
            throw ChaosException.InvalidArgument("InvalidMode", $"-Mode '{mode}' is not Reach or Add.", mode);
        InputRules.Duration(o.Duration, "Duration");
        bool limited = cgroup is { } cg && cg.Limit > 0 && cg.Limit < host.Total;
        long basis = limited ? cgroup!.Value.Limit : host.Total;
        long used = limited ? cgroup!.Value.Usage : host.Used;
        long avail = limited ? Math.Min(basis - used, host.Available) : host.Available;
        if (o.Bytes is { } size && size > basis)
            throw new ChaosException("SizeTooLarge", ChaosErrorCategory.InvalidArgument,
                $"-Size {SizeParser.Format(size)} is larger than the {(limited ? "container's memory limit" : "machine's memory")} ({SizeParser.Format(basis)}).", size,
                "Give a size below the total memory, or a percentage.");
        if (mode == "Add" && !o.Force)
        {
            long add = o.Bytes ?? (long)(basis * o.Percent!.Value / 100);
            if (add > avail - Floor(basis))
                throw new ChaosException("WouldExhaustMemory", ChaosErrorCategory.LimitsExceeded,
                    $"Adding {SizeParser.Format(add)} leaves less than {SizeParser.Format(Floor(basis))} of the {SizeParser.Format(avail)} available now: the kernel would start OOM-killing.", add,
                    "Use -Mode Reach (it keeps a floor free), a smaller size, or -Force to push into OOM on purpose (the stressor is killed first).");
        }
        return (basis, used, avail);
    }

    /// <summary>Memory the Reach stressor always leaves available.</summary>
    public static long Floor(long basis) => Math.Max(256L << 20, basis / 50);

    public static string Describe(MemoryStressOptions o)
        => $"{ResolveMode(o)} {(o.Percent is { } p ? $"{p.ToString("0.##", CultureInfo.InvariantCulture)}%" : SizeParser.Format(o.Bytes ?? 0))} for {DurationParser.Format(o.Duration)}";

    public static async Task<StressResult> RunAsync(MemoryStressOptions o, IChaosReporter reporter, CancellationToken ct)
    {
        ScopedContainer? container = o.Container is null ? null : await ContainerScope.ResolveAsync(o.Container, ct).ConfigureAwait(false);
        var cg = container is null ? null : ContainerScope.MemoryOf(container.Pid);
        var host = HostStats.ReadMemory();
        var (basis, used0, _) = Check(o, host, cg);
        bool useCgroup = cg is { } c0 && c0.Limit > 0 && c0.Limit < host.Total;
        var mode = ResolveMode(o);
        double UsedPercent()
        {
            if (useCgroup && ContainerScope.MemoryOf(container!.Pid) is { } m) return 100.0 * m.Usage / basis;
            return HostStats.ReadMemory().UsedPercent;
        }
        double basePct = 100.0 * used0 / basis;
        long bytes = o.Bytes ?? (long)(basis * o.Percent!.Value / 100);
        double targetPct = mode == "Reach" ? 100.0 * bytes / basis : Math.Min(100, basePct + 100.0 * bytes / basis);
        var target = container is null ? "host" : $"container {container.Name}";
        var result = new StressResult
        {
            Kind = "Memory", Target = target, Requested = Describe(o), Unit = "%", TargetValue = Math.Round(targetPct, 2), Duration = o.Duration,
        };
        result.Details["Mode"] = mode;
        result.Details["TotalBytes"] = basis;
        result.Details["BaselineUsedPercent"] = Math.Round(basePct, 2);
        // Faulting memory in can be slow on a VM (0.3-0.5 GB/s was measured on the CI machine): allow 100 MB/s plus a minute.
        long toAllocate = mode == "Reach" ? Math.Max(0, bytes - used0) : bytes;
        var allowance = TimeSpan.FromSeconds(60 + toAllocate / (100L << 20));
        await using var fault = FaultLedger.Default.Begin("MemoryStress", target, $"memory {Describe(o)}", o.Duration + allowance, []);
        result.FaultId = fault.Id;
        var args = new List<string> { "--floor", Floor(basis).ToString(CultureInfo.InvariantCulture) };
        if (mode == "Reach") args.AddRange(["--mode", "reach", "--target-used", bytes.ToString(CultureInfo.InvariantCulture)]);
        else args.AddRange(["--mode", "add", "--bytes", bytes.ToString(CultureInfo.InvariantCulture)]);
        if (container is not null)
        {
            args.AddRange(["--cgroup-of", container.Pid.ToString(CultureInfo.InvariantCulture)]);
            if (useCgroup) args.AddRange(["--meter-cgroup-of", container.Pid.ToString(CultureInfo.InvariantCulture)]);
            result.Details["Container"] = container.Id;
        }
        var clock = Stopwatch.StartNew();
        long rssPeak = 0;
        await using (var hog = StressorProcess.Start(fault, "memory-hog", args, o.Duration, allowance))
        {
            result.StressorPid = hog.Pid;
            var ready = await hog.WaitReadyAsync(allowance, ct).ConfigureAwait(false);
            StressorProcess.Tighten(fault, o.Duration);
            result.Details["InitialAllocationSeconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
            // The stressor's own fill: bytes made resident before READY over the time it took (process start excluded).
            if (ready.TryGetValue("held", out var h) && long.TryParse(h, NumberStyles.Integer, CultureInfo.InvariantCulture, out var filled)
                && ready.TryGetValue("fillSeconds", out var fs) && double.TryParse(fs, NumberStyles.Float, CultureInfo.InvariantCulture, out var fillSecs))
            {
                result.Details["FillBytes"] = filled;
                result.Details["FillSeconds"] = Math.Round(fillSecs, 3);
                if (filled > 0 && fillSecs > 0) result.Details["FillRateGBps"] = Math.Round(filled / (double)(1L << 30) / fillSecs, 3);
            }
            await StressHold.RunAsync(result, o.Duration, clock, () =>
            {
                var rss = HostStats.ProcessRss(hog.Pid);
                if (rss is null) return null;
                rssPeak = Math.Max(rssPeak, rss.Value);
                return (UsedPercent(), rss.Value);
            }, v => v >= targetPct - 2, reporter, $"Memory {Describe(o)}", ct,
                () => hog.HasExited ? $"The memory stressor {hog.Pid} exited early (OOM-killed?). {hog.StandardError}".Trim() : null,
                TimeSpan.FromMilliseconds(250)).ConfigureAwait(false);
            result.Details["StressorRssPeakBytes"] = rssPeak;
            result.Details["StressorHeldBytes"] = hog.StatusDouble("held", 0);
        }
        var restore = await fault.RestoreAsync().ConfigureAwait(false);
        result.Restore = restore.Outcome;
        await Task.Delay(200, CancellationToken.None).ConfigureAwait(false);
        result.Details["ReleasedUsedPercent"] = Math.Round(UsedPercent(), 2);
        result.EndedAt = DateTimeOffset.UtcNow;
        return result;
    }
}
