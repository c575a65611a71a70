namespace ChaosPS.Chaos;

/// <summary>
/// The rules every worker-chaos cmdlet applies to its targets before it acts: protected targets need -Force, -Count
/// and -Percent exclude each other, a random pick is ordered by one stable key, and a chaos-monkey loop needs both an
/// interval and a duration.
/// </summary>
public static class TargetRules
{
    /// <summary>
    /// The ProtectedTarget error for a protected target without -Force; null when the target may be hit.
    /// <paramref name="selecting"/>: the wording of Get-ChaosTarget, which leaves it out of its selection.
    /// </summary>
    public static ChaosException? Refusal(ChaosTarget t, bool force, bool selecting = false)
    {
        if (!t.IsProtected || force) return null;
        return selecting
            ? new ChaosException("ProtectedTarget", ChaosErrorCategory.PermissionDenied,
                $"{t.Display} is protected ({t.ProtectedReason}) and was not selected.", t, "Use -Force to select it anyway.")
            : new ChaosException("ProtectedTarget", ChaosErrorCategory.PermissionDenied,
                $"{t.Display} is protected ({t.ProtectedReason}).", t, "Use -Force.");
    }

    /// <summary>Throws CountAndPercent when both are given.</summary>
    public static void CheckCountOrPercent(int? count, double? percent)
    {
        if (count is not null && percent is not null)
            throw ChaosException.InvalidArgument("CountAndPercent", "Give -Count or -Percent, not both.", null);
    }

    /// <summary>The key a random pick orders by first (the container id, else the pid padded to sort numerically).</summary>
    public static string PickKey(ChaosTarget t) => t.ContainerId ?? t.ProcessId!.Value.ToString("D10", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary><see cref="TargetSelector.Pick{T}"/> over targets with <see cref="PickKey"/>.</summary>
    public static List<ChaosTarget> Pick(IReadOnlyList<ChaosTarget> all, int? count, double? percent, int? seed)
        => TargetSelector.Pick(all, count, percent, seed, PickKey);

    /// <summary>How many targets one chaos-monkey round crashes: -Count, else -Percent of them (at least one), else one.</summary>
    public static int PerRound(int? count, double? percent, int targets)
        => count ?? (percent is { } p ? Math.Max(1, (int)Math.Ceiling(targets * p / 100.0)) : 1);

    /// <summary>
    /// Checks Invoke-WorkerCrash's timing: every duration positive and sane, and -Interval with -Duration together
    /// (the chaos-monkey loop). Throws InvalidDuration or IntervalNeedsDuration.
    /// </summary>
    public static void CheckCrashTiming(TimeSpan? gracePeriod, TimeSpan? interval, TimeSpan? duration, TimeSpan observeTimeout)
    {
        InputRules.Duration(gracePeriod, "GracePeriod");
        InputRules.Duration(interval, "Interval");
        InputRules.Duration(duration, "Duration");
        InputRules.Duration(observeTimeout, "ObserveTimeout");
        if ((interval is null) != (duration is null))
            throw ChaosException.InvalidArgument("IntervalNeedsDuration", "-Interval and -Duration go together (the chaos-monkey loop).", null);
        if (interval is { } i && i <= TimeSpan.Zero)
            throw ChaosException.InvalidArgument("InvalidDuration", "-Interval must be positive.", i);
    }
}
