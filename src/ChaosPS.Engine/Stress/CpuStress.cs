using System.Diagnostics;
using System.Globalization;
using ChaosPS.Faults;

namespace ChaosPS.Stress;

public sealed class CpuStressOptions
{
    /// <summary>Load per core, 0..100.</summary>
    public double Percent { get; init; }
    /// <summary>Cores to load (one busy-loop thread each); null = every online CPU.</summary>
    public int? Cores { get; init; }
    public TimeSpan Duration { get; init; }
    /// <summary>Container name or id: the stressor joins the container's cgroups.</summary>
    public string? Container { get; init; }
}

/// <summary>
/// Holds a CPU load: N duty-cycle threads in a `chaosps-agent cpu-hog` process, each consuming P% of one CPU (closed-loop
/// on the thread's own CPU clock, less its share of what the rest of the process uses, so the process as a whole holds
/// N x P%; time lost to other processes is made up, up to 100 ms of it — see <see cref="DutyCycle"/>).
/// Measured from /proc: the stressor's own utime+stime (the achieved load per loaded core) and /proc/stat (the host).
/// </summary>
public static class CpuStress
{
    /// <summary>
    /// The hog runs without tiered compilation: every method is compiled once, fully optimised, at its first call. With
    /// tiering on, the runtime's background tiering thread was still busy seconds into the hold (84 ms of CPU in 8 s,
    /// read from /proc/PID/task), CPU the workers cannot give back at 100 %, so the process held about 100.75 %.
    /// </summary>
    private static readonly Dictionary<string, string> HogEnvironment = new() { ["DOTNET_TieredCompilation"] = "0" };

    public static void Validate(CpuStressOptions o)
    {
        if (double.IsNaN(o.Percent) || o.Percent <= 0 || o.Percent > 100)
            throw ChaosException.InvalidArgument("PercentOutOfRange", $"-Percent {o.Percent} must be more than 0 and at most 100.", o.Percent);
        if (o.Cores is { } c && (c < 1 || c > 4096))
            throw ChaosException.InvalidArgument("CoresOutOfRange", $"-Cores {c} must be between 1 and 4096.", c);
        InputRules.Duration(o.Duration, "Duration");
    }

    public static string Describe(CpuStressOptions o) => $"{o.Percent:0.##}% on {o.Cores ?? HostStats.OnlineCpus} core(s) for {DurationParser.Format(o.Duration)}";

    public static async Task<StressResult> RunAsync(CpuStressOptions o, IChaosReporter reporter, CancellationToken ct)
    {
        Validate(o);
        int cores = o.Cores ?? HostStats.OnlineCpus;
        ScopedContainer? container = o.Container is null ? null : await ContainerScope.ResolveAsync(o.Container, ct).ConfigureAwait(false);
        var target = container is null ? "host" : $"container {container.Name}";
        var result = new StressResult
        {
            Kind = "Cpu", Target = target, Requested = Describe(o), Unit = "%", TargetValue = o.Percent, Duration = o.Duration,
        };
        await using var fault = FaultLedger.Default.Begin("CpuStress", target, $"CPU load {Describe(o)}", o.Duration + StressorProcess.StartAllowance, []);
        result.FaultId = fault.Id;
        var args = new List<string> { "--cores", cores.ToString(CultureInfo.InvariantCulture), "--percent", o.Percent.ToString(CultureInfo.InvariantCulture) };
        if (container is not null) args.AddRange(["--cgroup-of", container.Pid.ToString(CultureInfo.InvariantCulture)]);
        var clock = Stopwatch.StartNew();
        await using (var hog = StressorProcess.Start(fault, "cpu-hog", args, o.Duration, environment: HogEnvironment))
        {
            result.StressorPid = hog.Pid;
            await hog.WaitReadyAsync(StressorProcess.StartAllowance, ct).ConfigureAwait(false);
            StressorProcess.Tighten(fault, o.Duration);
            long ticks0 = HostStats.ProcessCpuTicks(hog.Pid) ?? 0, prevTicks = ticks0;
            var host0 = HostStats.ReadCpu(); var prevHost = host0;
            var t0 = clock.Elapsed; var prevT = t0;
            double hostPeak = 0;
            await StressHold.RunAsync(result, o.Duration, clock, () =>
            {
                var now = clock.Elapsed;
                var ticks = HostStats.ProcessCpuTicks(hog.Pid);
                var host = HostStats.ReadCpu();
                if (ticks is null) return null;
                double dt = (now - prevT).TotalSeconds;
                double load = 100.0 * (ticks.Value - prevTicks) / HostStats.ClockTicksPerSecond / dt / cores;
                double hostLoad = CpuTimes.BusyPercent(prevHost, host);
                hostPeak = Math.Max(hostPeak, hostLoad);
                prevTicks = ticks.Value; prevHost = host; prevT = now;
                return (load, hostLoad);
            }, v => v >= o.Percent - 3, reporter, $"CPU {Describe(o)}", ct,
                () => hog.HasExited ? $"The CPU stressor {hog.Pid} exited early." : null).ConfigureAwait(false);
            // The mean over the whole hold, from the totals (more precise than averaging the half-second samples).
            var end = clock.Elapsed;
            var ticksEnd = HostStats.ProcessCpuTicks(hog.Pid) ?? prevTicks;
            var hostEnd = HostStats.ReadCpu();
            double secs = (end - t0).TotalSeconds;
            if (secs > 0.2)
            {
                result.Reached = Math.Round(100.0 * (ticksEnd - ticks0) / HostStats.ClockTicksPerSecond / secs / cores, 2);
                result.Details["HostCpuPercent"] = Math.Round(CpuTimes.BusyPercent(host0, hostEnd), 2);
            }
            result.Details["HostCpuPeakPercent"] = Math.Round(hostPeak, 2);
            result.Details["Cores"] = cores;
            result.Details["OnlineCpus"] = HostStats.OnlineCpus;
            result.Details["StressorCpuSeconds"] = Math.Round((ticksEnd - ticks0) / (double)HostStats.ClockTicksPerSecond, 2);
            if (container is not null) result.Details["Container"] = container.Id;
        }
        var restore = await fault.RestoreAsync().ConfigureAwait(false);
        result.Restore = restore.Outcome;
        result.EndedAt = DateTimeOffset.UtcNow;
        return result;
    }
}
