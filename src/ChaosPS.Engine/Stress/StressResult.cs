namespace ChaosPS.Stress;

/// <summary>One measurement taken while a stressor held its load.</summary>
public sealed class StressSample
{
    public TimeSpan Elapsed { get; init; }
    /// <summary>The measured value, in the result's <see cref="StressResult.Unit"/>.</summary>
    public double Value { get; init; }
    /// <summary>A second figure where one helps (host-wide CPU %, RSS of the stressor, free bytes).</summary>
    public double? Secondary { get; init; }
    public override string ToString() => $"{Elapsed.TotalSeconds:0.0}s {Value:0.##}";
}

/// <summary>
/// What a stressor (Invoke-CpuExhaustion, Invoke-MemoryExhaustion, Invoke-DiskExhaustion, Invoke-VramExhaustion,
/// Invoke-FileDescriptorExhaustion, Invoke-ConnectionExhaustion) targeted, what it reached, for how long, and the
/// measured peak. Values are in <see cref="Unit"/>: percent for CPU, memory and disk; bytes for VRAM; a count for
/// descriptors and connections.
/// </summary>
public sealed class StressResult
{
    /// <summary>Cpu, Memory, Disk, Vram, FileDescriptor or Connection.</summary>
    public string Kind { get; init; } = "";
    /// <summary>What was stressed: "host", a container, a path, a GPU, a URI.</summary>
    public string Target { get; init; } = "";
    /// <summary>The request as given (e.g. "75% on 2 cores", "Reach 90%", "LeaveFree 100MB").</summary>
    public string Requested { get; init; } = "";
    public string Unit { get; init; } = "";
    /// <summary>The value the stressor aimed at, in <see cref="Unit"/>.</summary>
    public double TargetValue { get; set; }
    /// <summary>Mean measured value while the load was held.</summary>
    public double Reached { get; set; }
    /// <summary>Highest measured value.</summary>
    public double Peak { get; set; }
    /// <summary>Lowest measured value while held (after the target was first reached); the lowest sample when it never was.</summary>
    public double Minimum { get; set; }
    /// <summary>Time from the start until the target was first reached (null when it never was).</summary>
    public TimeSpan? TimeToReach { get; set; }
    /// <summary>How long the load was held (from reaching the target until release); zero when it was never reached (see TimeToReach).</summary>
    public TimeSpan HeldFor { get; set; }
    public TimeSpan Duration { get; init; }
    public DateTimeOffset StartedAt { get; init; } = DateTimeOffset.UtcNow;
    public DateTimeOffset EndedAt { get; set; }
    /// <summary>The fault ledger id (also on the stressor's command line and its files).</summary>
    public string FaultId { get; set; } = "";
    public int? StressorPid { get; set; }
    /// <summary>Restored, AlreadyRestored or Failed: what undoing the fault reported.</summary>
    public string Restore { get; set; } = "";
    /// <summary>True when the run ended early (Ctrl+C / Stop-Job).</summary>
    public bool Cancelled { get; set; }
    /// <summary>Whatever else was measured: host CPU %, RSS, fill file, fill rate, baseline and released figures.</summary>
    public Dictionary<string, object?> Details { get; } = new(StringComparer.OrdinalIgnoreCase);
    public List<StressSample> Samples { get; } = [];
    public List<string> Notes { get; } = [];

    public override string ToString() => TimeToReach is null
        ? $"{Kind} on {Target}: target {TargetValue:0.##}{Unit} NEVER REACHED (mean {Reached:0.##}{Unit}, peak {Peak:0.##}{Unit})"
        : $"{Kind} on {Target}: target {TargetValue:0.##}{Unit} reached {Reached:0.##}{Unit} (peak {Peak:0.##}{Unit}) for {DurationParser.Format(HeldFor)}";
}
