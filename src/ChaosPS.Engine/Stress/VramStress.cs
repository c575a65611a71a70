using System.Diagnostics;
using System.Globalization;
using ChaosPS.Faults;
using ChaosPS.Gpu;

namespace ChaosPS.Stress;

public sealed class VramStressOptions
{
    public int Device { get; init; }
    /// <summary>Percent of the device's free memory at the start.</summary>
    public double? Percent { get; init; }
    public long? Bytes { get; init; }
    public TimeSpan Duration { get; init; }
    public long Chunk { get; init; } = VramFill.DefaultChunk;
}

/// <summary>
/// Fills GPU memory: chunks of cuMemAlloc (touched with cuMemsetD8) in a `chaosps-agent vram-hog` process, verified
/// with NVML before (baseline), during (used memory sampled) and after (back to the baseline within 1% of the
/// device). Killing the stressor frees its memory (the driver tears its context down), so the kill-process undo step
/// is a complete undo. With <c>inProcess</c> (tests with the fake backend) the allocation runs in this process.
/// </summary>
public static class VramStress
{
    public static async Task<StressResult> RunAsync(VramStressOptions o, IGpuBackend backend, IChaosReporter reporter, CancellationToken ct, bool inProcess = false)
    {
        InputRules.Duration(o.Duration, "Duration");
        if (o.Percent is { } p0 && (double.IsNaN(p0) || p0 <= 0 || p0 > 100))
            throw ChaosException.InvalidArgument("PercentOutOfRange", $"-Percent {p0} must be more than 0 and at most 100.", p0);
        var dev = VramFill.Device(backend, o.Device);
        long bytes = VramFill.Plan(dev, o.Percent, o.Bytes);
        var target = $"GPU {dev.Index} ({dev.Name})";
        var requested = (o.Percent is { } p ? $"{p.ToString("0.##", CultureInfo.InvariantCulture)}% of free" : SizeParser.Format(bytes)) + $" for {DurationParser.Format(o.Duration)}";
        var result = new StressResult { Kind = "Vram", Target = target, Requested = requested, Unit = "B", TargetValue = bytes, Duration = o.Duration };
        long baselineUsed = dev.MemoryUsed;
        result.Details["BaselineUsedBytes"] = baselineUsed;
        result.Details["TotalBytes"] = dev.MemoryTotal;
        result.Details["BaselineFreeBytes"] = dev.MemoryFree;
        result.Details["Backend"] = backend.Name;
        long Measure() => VramFill.Device(backend, o.Device).MemoryUsed - baselineUsed;

        await using var fault = FaultLedger.Default.Begin("VramStress", target, $"VRAM {requested} ({SizeParser.Format(bytes)})", o.Duration + StressorProcess.StartAllowance, []);
        result.FaultId = fault.Id;
        var clock = Stopwatch.StartNew();
        long allocated;
        StressorProcess? hog = null;
        IVramAllocator? alloc = null;
        VramFill.Blocks? blocks = null;
        try
        {
            if (inProcess)
            {
                alloc = backend.OpenAllocator(o.Device);
                blocks = VramFill.Allocate(alloc, bytes, o.Chunk, ct, done => reporter.Progress(new ProgressInfo($"VRAM on {target}", $"allocated {SizeParser.Format(done)} of {SizeParser.Format(bytes)}", (int)(100 * done / Math.Max(1, bytes)), ActivityId: 2)));
                allocated = blocks.Total;
            }
            else
            {
                hog = StressorProcess.Start(fault, "vram-hog", ["--device", o.Device.ToString(CultureInfo.InvariantCulture), "--bytes", bytes.ToString(CultureInfo.InvariantCulture), "--chunk", o.Chunk.ToString(CultureInfo.InvariantCulture)], o.Duration);
                result.StressorPid = hog.Pid;
                var ready = await hog.WaitReadyAsync(StressorProcess.StartAllowance, ct).ConfigureAwait(false);
            StressorProcess.Tighten(fault, o.Duration);
                allocated = long.Parse(ready.GetValueOrDefault("allocated", "0"), CultureInfo.InvariantCulture);
            }
            result.Details["AllocatedBytes"] = allocated;
            result.Details["AllocateSeconds"] = Math.Round(clock.Elapsed.TotalSeconds, 3);
            if (allocated < bytes) { result.Notes.Add($"allocated {SizeParser.Format(allocated)} of {SizeParser.Format(bytes)}: the device ran out"); reporter.Warning(result.Notes[^1]); }
            await StressHold.RunAsync(result, o.Duration, clock, () => (Measure(), null), v => v >= allocated * 0.99, reporter, $"VRAM {requested} on {target}", ct,
                () => hog is { HasExited: true } ? $"The VRAM stressor {hog.Pid} exited early. {hog.StandardError}".Trim() : null).ConfigureAwait(false);
        }
        finally
        {
            if (alloc is not null) { if (blocks is not null) VramFill.FreeAll(alloc, blocks); alloc.Dispose(); }
            if (hog is not null) await hog.DisposeAsync().ConfigureAwait(false);
        }
        result.Restore = (await fault.RestoreAsync().ConfigureAwait(false)).Outcome;
        // Released: back to the baseline within 1% of the device (the driver may take a moment to tear a context down).
        long after = 0;
        for (int i = 0; i < 20; i++)
        {
            after = VramFill.Device(backend, o.Device).MemoryUsed;
            if (Math.Abs(after - baselineUsed) <= dev.MemoryTotal / 100) break;
            await Task.Delay(250, CancellationToken.None).ConfigureAwait(false);
        }
        result.Details["ReleasedUsedBytes"] = after;
        result.Details["ReleasedToBaseline"] = Math.Abs(after - baselineUsed) <= dev.MemoryTotal / 100;
        result.EndedAt = DateTimeOffset.UtcNow;
        return result;
    }
}
