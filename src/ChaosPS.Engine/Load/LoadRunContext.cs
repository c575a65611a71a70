using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace ChaosPS.Load;

/// <summary>
/// What an engine sees of a run: work from the <see cref="LoadScheduler"/> (NextAsync, TryClaimOpen, TryClaimClosed,
/// ThinkAsync, the stop flags), results into <see cref="LoadMetrics"/> and <see cref="LoadChecks"/> (Complete, Fail,
/// Record, InFlight, BytesOut), and the run's settings. Nothing else of the runner is reachable from an engine.
/// </summary>
internal sealed class LoadRunContext
{
    private readonly LoadScheduler _scheduler;
    private readonly LoadMetrics _metrics;
    private readonly LoadChecks _checks;

    public LoadRunContext(LoadTestOptions options, LoadScheduler scheduler, LoadMetrics metrics, LoadChecks checks)
    {
        Options = options;
        _scheduler = scheduler;
        _metrics = metrics;
        _checks = checks;
        TimeoutTicks = (long)(options.Timeout.TotalSeconds * Stopwatch.Frequency);
    }

    /// <summary>A run's pieces made from <paramref name="options"/> (validated before); <paramref name="clock"/> replaces Stopwatch ticks in tests.</summary>
    internal static LoadRunContext For(LoadTestOptions options, Func<long>? clock = null)
    {
        var metrics = new LoadMetrics(options);
        return new LoadRunContext(options, new LoadScheduler(options, clock), metrics, new LoadChecks(options.Checks, metrics.Ok));
    }

    public LoadTestOptions Options { get; }
    internal LoadScheduler Scheduler => _scheduler;
    internal LoadMetrics Metrics => _metrics;
    internal LoadChecks Checks => _checks;

    /// <summary>A request in flight longer than this (-Timeout, Stopwatch ticks) fails as a timeout.</summary>
    public long TimeoutTicks { get; }
    /// <summary>Some check reads the body: the engines' parsers keep it.</summary>
    public bool NeedsBody => _checks.NeedsBody;
    public bool StopRequested => _scheduler.StopRequested;
    public bool StoppingHard => _scheduler.StoppingHard;
    /// <summary>Cancelled by a hard stop.</summary>
    public CancellationToken StopToken => _scheduler.StopToken;

    /// <summary>Requests in flight now (Interlocked, by the engines).</summary>
    public ref long InFlight => ref _metrics.InFlight;
    /// <summary>Request bytes written (Interlocked, by the engines).</summary>
    public ref long BytesOut => ref _metrics.BytesOut;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ValueTask<(bool Go, long Intended, int Request)> NextAsync(int worker) => _scheduler.NextAsync(worker);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public LoadClaim TryClaimOpen(long now, long freeAt, out long intended, out int request, out long due)
        => _scheduler.TryClaimOpen(now, freeAt, out intended, out request, out due);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public LoadClaim TryClaimClosed(int worker, long now, out int request) => _scheduler.TryClaimClosed(worker, now, out request);

    public ValueTask ThinkAsync() => _scheduler.ThinkAsync();

    /// <summary>Records a timing (Stopwatch ticks) in histogram slot <paramref name="slot"/> (LoadMetrics.H*).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Record(int slot, long ticks) => _metrics.Record(slot, ticks);

    /// <summary>Records a finished request (success or HTTP-level failure) and runs the checks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Complete(int request, int status, long intended, long sent, long firstByte, long end, Http1ResponseParser body)
    {
        _metrics.Complete(request, status, intended, sent, firstByte, end, body);
        if (_checks.Count > 0) _checks.Run(status, body);
    }

    /// <summary>Records a transport failure by kind.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Fail(int request, string kind, long intended, long end) => _metrics.Fail(request, kind, intended, end);

    /// <summary>The kind of a transport failure (see <see cref="LoadMetrics.Classify"/>).</summary>
    public static string Classify(Exception e) => LoadMetrics.Classify(e);
}
