using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace ChaosPS.Load;

/// <summary>What a claim for work without waiting gets: a request to send now, nothing due yet, or the end.</summary>
internal enum LoadClaim { Go, NotYet, Exit }

/// <summary>
/// Pacing and claims. Open model (-Rate): request n is due at its intended time from the rate profile; a connection
/// claims the next due request (waiting for it in <see cref="NextAsync"/>, or without waiting in
/// <see cref="TryClaimOpen"/>), and a request sent more than -LateThreshold after its intended time is late (the
/// generator's fault only when a connection was free by then). Closed model (-Concurrency): virtual user i may send
/// while i is below the profile's current level. Also the run's stop flags: a soft stop hands out no new work, a hard
/// stop also cancels <see cref="StopToken"/>. Times are Stopwatch ticks; the clock is replaceable for tests.
/// </summary>
internal sealed class LoadScheduler
{
    private readonly LoadTestOptions _o;
    private readonly Func<long> _clock;
    private readonly double _durationSec;
    private long _ticket;
    private long _t0, _endTicks;
    private volatile bool _stopping;     // no new requests
    private volatile bool _hardStop;     // abort in-flight requests too
    private readonly CancellationTokenSource _stopCts = new();

    // Counters (Interlocked): late sends, late by the generator's fault, due but past the end, and waits ended by a stop.
    internal long Late, LateGenerator, Dropped, Abandoned;

    /// <summary>Closed model: virtual user n waits above the current level (the runner hands this to the engine).</summary>
    internal Action<int>? RampedDown;

    public LoadScheduler(LoadTestOptions options, Func<long>? clock = null)
    {
        _o = options;
        _clock = clock ?? Stopwatch.GetTimestamp;
        _durationSec = options.PlannedDuration.TotalSeconds;
        Profile = new LoadProfile(options.IsOpen ? options.Rate!.Value : options.Concurrency!.Value, options.Stages, _durationSec);
    }

    public LoadProfile Profile { get; }
    public double DurationSeconds => _durationSec;
    public long T0 => _t0;
    /// <summary>When the run time is over (long.MaxValue when only -Iterations bounds the run).</summary>
    public long EndTicks => _endTicks;
    /// <summary>How long after the end a request due before it may still go out (then it counts as dropped).</summary>
    public long LateTicks => _endTicks == long.MaxValue ? 0 : (long)(_o.LateThreshold.TotalSeconds * Stopwatch.Frequency);
    public bool StopRequested => _stopping;
    public bool StoppingHard => _hardStop;
    public CancellationToken StopToken => _stopCts.Token;

    /// <summary>The run starts at <paramref name="t0"/>: intended times count from it.</summary>
    public void Begin(long t0)
    {
        _t0 = t0;
        _endTicks = _o.PlannedDuration >= TimeSpan.FromDays(3000) ? long.MaxValue : _t0 + (long)(_durationSec * Stopwatch.Frequency);
    }

    /// <summary>No new requests; <paramref name="hard"/> also aborts those in flight. True when this call began the hard stop.</summary>
    public bool Stop(bool hard)
    {
        _stopping = true;
        if (!hard || _hardStop) return false;
        _hardStop = true;
        try { _stopCts.Cancel(); } catch (ObjectDisposedException) { }
        return true;
    }

    /// <summary>Waits for the next request this worker should send. Returns false when the worker should end.</summary>
    internal async ValueTask<(bool Go, long Intended, int Request)> NextAsync(int worker)
    {
        long freeAt = _clock(); // this connection is free from now on
        while (true)
        {
            if (_stopping) return (false, 0, 0);
            long now = _clock();
            if (_o.IsOpen)
            {
                long ticket = Interlocked.Increment(ref _ticket) - 1;
                if (_o.Iterations is { } it && ticket >= it) return (false, 0, 0);
                double t = Profile.TimeOf(ticket);
                if (double.IsPositiveInfinity(t)) return (false, 0, 0);
                long intended = _t0 + (long)(t * Stopwatch.Frequency);
                if (intended >= _endTicks) return (false, 0, 0);
                while (intended > now)
                {
                    long waitMs = (intended - now) * 1000 / Stopwatch.Frequency;
                    try
                    {
                        if (waitMs >= 1) await Task.Delay((int)Math.Min(waitMs, 1000), _stopCts.Token).ConfigureAwait(false);
                        else Thread.Yield();
                    }
                    catch (OperationCanceledException) { }
                    if (_stopping) { Interlocked.Increment(ref Abandoned); return (false, 0, 0); }
                    now = _clock();
                }
                if (now >= _endTicks + LateTicks) { Interlocked.Increment(ref Dropped); Interlocked.Increment(ref Abandoned); return (false, 0, 0); }
                CountLate(now, intended, freeAt);
                return (true, intended, (int)(ticket % _o.Requests.Count));
            }
            else
            {
                if (now >= _endTicks) return (false, 0, 0);
                double level = Profile.LevelAt((now - _t0) / (double)Stopwatch.Frequency);
                if (worker >= (int)Math.Round(level))
                {
                    RampedDown?.Invoke(worker);
                    try { await Task.Delay(100, _stopCts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
                    continue;
                }
                long ticket = Interlocked.Increment(ref _ticket) - 1;
                if (_o.Iterations is { } it && ticket >= it) return (false, 0, 0);
                return (true, now, (int)(ticket % _o.Requests.Count));
            }
        }
    }

    /// <summary>
    /// Late = sent more than LateThreshold after the intended time. It is the generator's fault only when a connection
    /// was free by then (LateGenerator); otherwise the request waited for a free connection (the target was slow).
    /// </summary>
    private void CountLate(long now, long intended, long connectionFreeAt)
    {
        long thr = (long)(_o.LateThreshold.TotalSeconds * Stopwatch.Frequency);
        if (now - intended <= thr) return;
        Interlocked.Increment(ref Late);
        if (now - Math.Max(intended, connectionFreeAt) > thr) Interlocked.Increment(ref LateGenerator);
    }

    /// <summary>Open model, without waiting: the next request if it is due by <paramref name="now"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal LoadClaim TryClaimOpen(long now, long freeAt, out long intended, out int request, out long due)
    {
        intended = 0; request = 0; due = 0;
        while (true)
        {
            // Requests due before the end may still go out up to -LateThreshold after it (then they count as dropped).
            if (_stopping || now >= _endTicks + LateTicks) return LoadClaim.Exit;
            long ticket = Volatile.Read(ref _ticket);
            if (_o.Iterations is { } it && ticket >= it) return LoadClaim.Exit;
            double t = Profile.TimeOf(ticket);
            if (double.IsPositiveInfinity(t)) return LoadClaim.Exit;
            long at = _t0 + (long)(t * Stopwatch.Frequency);
            if (at >= _endTicks) return LoadClaim.Exit;
            if (at > now) { due = at; return LoadClaim.NotYet; }
            if (Interlocked.CompareExchange(ref _ticket, ticket + 1, ticket) != ticket) continue;
            CountLate(now, at, freeAt);
            intended = at;
            request = (int)(ticket % _o.Requests.Count);
            return LoadClaim.Go;
        }
    }

    /// <summary>Closed model, without waiting: may virtual user <paramref name="worker"/> send now?</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal LoadClaim TryClaimClosed(int worker, long now, out int request)
    {
        request = 0;
        if (_stopping || now >= _endTicks) return LoadClaim.Exit;
        double level = Profile.LevelAt((now - _t0) / (double)Stopwatch.Frequency);
        if (worker >= (int)Math.Round(level)) return LoadClaim.NotYet;
        long ticket = Interlocked.Increment(ref _ticket) - 1;
        if (_o.Iterations is { } it && ticket >= it) return LoadClaim.Exit;
        request = (int)(ticket % _o.Requests.Count);
        return LoadClaim.Go;
    }

    internal async ValueTask ThinkAsync()
    {
        if (_o.IsOpen || _o.ThinkTime <= TimeSpan.Zero) return;
        try { await Task.Delay(_o.ThinkTime, _stopCts.Token).ConfigureAwait(false); } catch (OperationCanceledException) { }
    }

    /// <summary>Open model: how many requests were due by <paramref name="runSeconds"/> (capped by -Iterations).</summary>
    internal long ScheduledBy(double runSeconds)
    {
        double scheduled = Math.Ceiling(Profile.CountAt(Math.Min(runSeconds, _durationSec)));
        if (_o.Iterations is { } iters) scheduled = Math.Min(scheduled, iters);
        return (long)scheduled;
    }
}
