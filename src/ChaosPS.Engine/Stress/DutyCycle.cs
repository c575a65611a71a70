namespace ChaosPS.Stress;

/// <summary>
/// The closed-loop duty cycle of one CPU-stress worker. Integral control on measured CPU time: the worker owes
/// <c>fraction × wall time since start</c> of CPU, minus what it has used (its own thread CPU clock), minus its share of
/// the CPU the rest of its process used (runtime threads, the owner watch), so the whole process — which is what /proc
/// and the bench measure — holds the target, not only the busy threads. While it owes CPU it spins for a short slice
/// (by the wall clock, which is cheap to read; the CPU clock is read again after each slice, so time lost to preemption
/// is simply still owed); once it is even it sleeps for the idle part of one period. A debt larger than
/// <see cref="MaxDebtNs"/> (the worker was starved) is forgiven, so it never bursts at 100 % for long afterwards.
/// Pure arithmetic on nanosecond readings: the worker supplies the clocks (a test supplies fake ones).
/// </summary>
public sealed class DutyCycle
{
    /// <summary>Longest spin before the CPU clock is read again.</summary>
    public const long SliceNs = 2_000_000;
    /// <summary>One on+off period when the worker is even with its target (sleeps are (1 - fraction) of it).</summary>
    public const long PeriodNs = 10_000_000;
    /// <summary>Owed CPU beyond this much is forgiven.</summary>
    public const long MaxDebtNs = 100_000_000;
    /// <summary>Shortest spin (a smaller debt is paid with this much; the excess is slept off next time).</summary>
    public const long MinSpinNs = 50_000;
    /// <summary>Shortest sleep worth a system call.</summary>
    public const long MinSleepNs = 200_000;

    private readonly double _p;
    private readonly long _wall0;
    private long _cpu0;

    public DutyCycle(double fraction, long wallNs, long cpuNs)
    {
        if (double.IsNaN(fraction) || fraction < 0 || fraction > 1) throw new ArgumentOutOfRangeException(nameof(fraction));
        _p = fraction; _wall0 = wallNs; _cpu0 = cpuNs;
    }

    public double Fraction => _p;

    /// <summary>CPU forgiven so far (ns): what starvation cost this worker.</summary>
    public long ForgivenNs { get; private set; }

    /// <summary>CPU time still owed now (negative: ahead).</summary>
    public double Debt(long wallNs, long cpuNs, long overheadShareNs) => _p * (wallNs - _wall0) - (cpuNs - _cpu0) - overheadShareNs;

    /// <summary>
    /// The next step: a positive value is nanoseconds to spin, a negative value nanoseconds to sleep.
    /// <paramref name="overheadShareNs"/> is this worker's share of the CPU its process used outside the workers since start.
    /// </summary>
    public long Next(long wallNs, long cpuNs, long overheadShareNs = 0)
    {
        if (_p >= 1) return SliceNs;
        if (_p <= 0) return -PeriodNs;
        double debt = Debt(wallNs, cpuNs, overheadShareNs);
        if (debt > MaxDebtNs)
        {
            long forgive = (long)(debt - MaxDebtNs);
            _cpu0 -= forgive; ForgivenNs += forgive; debt = MaxDebtNs;
        }
        // Spinning s ns pays (1 - p) s of the debt (the target keeps growing meanwhile).
        if (debt > 0) return (long)Math.Clamp(debt / (1 - _p), MinSpinNs, SliceNs);
        // Even or ahead: sleep until the debt is back to zero, and at least the idle part of one period.
        double sleep = Math.Max(-debt / _p, (1 - _p) * PeriodNs);
        return -(long)Math.Max(MinSleepNs, sleep);
    }
}
