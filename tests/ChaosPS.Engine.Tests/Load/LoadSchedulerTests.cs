using System.Diagnostics;
using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

/// <summary>The scheduler's claims and late accounting on a hand-driven clock (no waiting, no timing).</summary>
public class LoadSchedulerTests
{
    private static readonly long Ms = Stopwatch.Frequency / 1000;
    private const long T0 = 1_000_000_000;

    private static LoadScheduler Open(double rate, double seconds, long? iterations = null, Func<long>? clock = null)
    {
        var o = new LoadTestOptions
        {
            Requests = [new LoadRequest { Uri = new Uri("http://127.0.0.1:9/a") }, new LoadRequest { Uri = new Uri("http://127.0.0.1:9/b") }],
            Rate = rate, Duration = TimeSpan.FromSeconds(seconds), Iterations = iterations, LateThreshold = TimeSpan.FromMilliseconds(10),
        };
        var s = new LoadScheduler(o, clock);
        s.Begin(T0);
        return s;
    }

    private static long At(double rate, long n) => T0 + (long)(n / rate * Stopwatch.Frequency);

    [Fact]
    public void Open_model_hands_out_each_request_at_its_intended_time_and_rotates_the_requests()
    {
        var s = Open(1000, 10);
        Assert.Equal(LoadClaim.Go, s.TryClaimOpen(T0, T0, out long intended, out int request, out _));
        Assert.Equal(T0, intended);
        Assert.Equal(0, request);
        // The next one is due 1 ms later: not yet, and the answer says when.
        Assert.Equal(LoadClaim.NotYet, s.TryClaimOpen(T0, T0, out _, out _, out long due));
        Assert.Equal(At(1000, 1), due);
        Assert.Equal(LoadClaim.Go, s.TryClaimOpen(due, T0, out intended, out request, out _));
        Assert.Equal(due, intended);
        Assert.Equal(1, request);
        Assert.Equal(0, s.Late);
    }

    [Fact]
    public void A_request_sent_late_while_a_connection_was_free_is_the_generators_fault()
    {
        var s = Open(1000, 10);
        long now = T0 + 50 * Ms; // request 0 was due at T0; the connection was free since T0
        Assert.Equal(LoadClaim.Go, s.TryClaimOpen(now, T0, out long intended, out _, out _));
        Assert.Equal(T0, intended);
        Assert.Equal(1, s.Late);
        Assert.Equal(1, s.LateGenerator);
    }

    [Fact]
    public void A_request_that_waited_for_a_busy_connection_is_late_but_not_the_generators_fault()
    {
        var s = Open(1000, 10);
        long now = T0 + 100 * Ms, freeAt = T0 + 95 * Ms; // the only connection came free 95 ms late, sent 5 ms after that
        Assert.Equal(LoadClaim.Go, s.TryClaimOpen(now, freeAt, out _, out _, out _));
        Assert.Equal(1, s.Late);
        Assert.Equal(0, s.LateGenerator);
        // Within the threshold (10 ms) is on time.
        Assert.Equal(LoadClaim.Go, s.TryClaimOpen(At(1000, 1) + 9 * Ms, T0, out _, out _, out _));
        Assert.Equal(1, s.Late);
    }

    [Fact]
    public void Open_model_ends_at_the_run_time_the_iterations_or_a_stop()
    {
        var s = Open(10, 1); // 10 requests, the last due at 0.9 s
        Assert.Equal(LoadClaim.Exit, s.TryClaimOpen(s.EndTicks + s.LateTicks, T0, out _, out _, out _));
        int go = 0;
        while (s.TryClaimOpen(s.EndTicks, T0, out _, out _, out _) == LoadClaim.Go) go++;
        Assert.Equal(10, go);

        var it = Open(1000, 10, iterations: 3);
        for (int i = 0; i < 3; i++) Assert.Equal(LoadClaim.Go, it.TryClaimOpen(T0 + Stopwatch.Frequency, T0, out _, out _, out _));
        Assert.Equal(LoadClaim.Exit, it.TryClaimOpen(T0 + Stopwatch.Frequency, T0, out _, out _, out _));

        var st = Open(1000, 10);
        Assert.False(st.Stop(hard: false));
        Assert.True(st.StopRequested);
        Assert.False(st.StoppingHard);
        Assert.Equal(LoadClaim.Exit, st.TryClaimOpen(T0, T0, out _, out _, out _));
        Assert.True(st.Stop(hard: true));
        Assert.True(st.StopToken.IsCancellationRequested);
        Assert.False(st.Stop(hard: true)); // the hard stop begins once
    }

    [Fact]
    public async Task NextAsync_counts_late_sends_and_drops_what_is_due_but_past_the_end()
    {
        // The connection asks at T0 (free from then on), but the generator only gets to look at the schedule 30 ms later.
        var reads = new Queue<long>([T0, T0 + 30 * Ms]);
        long now = 0;
        var s = Open(1000, 1, clock: () => reads.Count > 0 ? reads.Dequeue() : now);
        var (go, intended, request) = await s.NextAsync(0);
        Assert.True(go);
        Assert.Equal(T0, intended);
        Assert.Equal(0, request);
        Assert.Equal(1, s.Late);
        Assert.Equal(1, s.LateGenerator);

        now = s.EndTicks + s.LateTicks; // request 1 was due before the end, but it is too late to send it now
        (go, _, _) = await s.NextAsync(0);
        Assert.False(go);
        Assert.Equal(1, s.Dropped);
        Assert.Equal(1, s.Abandoned);
        Assert.Equal(1000, s.ScheduledBy(5));
        Assert.Equal(500, s.ScheduledBy(0.5));
    }

    [Fact]
    public void Closed_model_lets_virtual_users_below_the_level_send()
    {
        var o = new LoadTestOptions { Requests = [new LoadRequest { Uri = new Uri("http://127.0.0.1:9/") }], Concurrency = 2, Duration = TimeSpan.FromSeconds(10), Iterations = 3 };
        var s = new LoadScheduler(o);
        s.Begin(T0);
        Assert.Equal(LoadClaim.Go, s.TryClaimClosed(0, T0, out _));
        Assert.Equal(LoadClaim.Go, s.TryClaimClosed(1, T0, out _));
        Assert.Equal(LoadClaim.NotYet, s.TryClaimClosed(2, T0, out _));
        Assert.Equal(LoadClaim.Go, s.TryClaimClosed(0, T0, out _));
        Assert.Equal(LoadClaim.Exit, s.TryClaimClosed(0, T0, out _)); // -Iterations 3 used up
        Assert.Equal(LoadClaim.Exit, s.TryClaimClosed(0, s.EndTicks, out _));
    }

    [Fact]
    public async Task Closed_model_tells_the_engine_when_a_virtual_user_is_above_the_level()
    {
        var o = new LoadTestOptions { Requests = [new LoadRequest { Uri = new Uri("http://127.0.0.1:9/") }], Concurrency = 1, Duration = TimeSpan.FromSeconds(10) };
        var s = new LoadScheduler(o, () => T0);
        s.Begin(T0);
        var released = new List<int>();
        s.RampedDown = id => { released.Add(id); s.Stop(hard: true); };
        var (go, _, _) = await s.NextAsync(1);
        Assert.False(go);
        Assert.Equal([1], released);
    }
}
