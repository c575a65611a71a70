using System.Diagnostics;
using ChaosPS.Load;
using ChaosPS.Stress;

namespace ChaosPS.Engine.Tests.Load;

/// <summary>Numbers in result objects that a user would quote: each one consistent with the evidence it summarises.</summary>
public class ResultNumbersTests : IDisposable
{
    private readonly TestHttpServer _srv = new();
    public void Dispose() => _srv.Dispose();

    [Fact]
    public void Per_second_requests_are_the_latencies_recorded_in_that_second_even_when_the_ticker_is_late()
    {
        var o = new LoadTestOptions
        {
            Requests = [new LoadRequest { Method = "GET", Uri = new Uri(_srv.Base + "/ok") }],
            Rate = 40, Duration = TimeSpan.FromSeconds(3),
        };
        var runner = new LoadTestRunner(o);
        var folded = new List<long>();
        bool first = true;
        // A descheduled ticker: after the first swap of the histograms, requests keep finishing before the counters
        // are read. Their latencies belong to the next second, and so must their count.
        runner.AfterFold = count =>
        {
            folded.Add(count);
            if (!first) return;
            first = false;
            long before = Interlocked.Read(ref runner.Metrics.Requests);
            var sw = Stopwatch.StartNew();
            while (Interlocked.Read(ref runner.Metrics.Requests) < before + 5 && sw.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(10);
        };
        var r = runner.RunAsync(CancellationToken.None).GetAwaiter().GetResult();

        Assert.True(r.TimeSeries.Count >= 2, $"{r.TimeSeries.Count} points");
        for (int i = 0; i < r.TimeSeries.Count; i++)
        {
            var p = r.TimeSeries[i];
            Assert.Equal(folded[i], p.Requests);
            if (p.Requests > 0) Assert.True(p.Max > 0 && p.P50 > 0, $"second {p.Second}: {p.Requests} requests but p50 {p.P50}, max {p.Max}");
            Assert.True(p.Failed <= p.Requests, $"second {p.Second}: {p.Failed} failed of {p.Requests}");
        }
        Assert.Equal(r.Requests, r.TimeSeries.Sum(p => p.Requests));
    }

    [Fact]
    public void A_second_without_data_for_a_threshold_is_not_a_breaking_point()
    {
        // Every request is refused: there is no time-to-first-byte at all, in any second. "No data" is not a break.
        int dead = TestHttpServer.FreePort();
        var o = new LoadTestOptions
        {
            Requests = [new LoadRequest { Method = "GET", Uri = new Uri($"http://127.0.0.1:{dead}/") }],
            Rate = 20, Duration = TimeSpan.FromSeconds(3), Thresholds = ["ttfb: p(95)<1500", "http_req_duration: p(95)<1500"],
        };
        var r = new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.True(r.Requests > 0);
        Assert.Null(r.BreakingPoint);
        // The run as a whole still fails the ttfb threshold: no data is no evidence of a pass.
        Assert.False(r.Thresholds.Single(t => t.Metric == "ttfb").Passed);
    }

    [Fact]
    public void A_breaking_point_is_still_found_when_a_second_breaks_a_threshold()
    {
        var o = new LoadTestOptions
        {
            Requests = [new LoadRequest { Method = "GET", Uri = new Uri(_srv.Base + "/slow?ms=50") }],
            Rate = 20, Duration = TimeSpan.FromSeconds(3), Thresholds = ["http_req_duration: p(95)<5"],
        };
        var r = new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.NotNull(r.BreakingPoint);
        Assert.DoesNotContain("no data", r.BreakingPoint);
    }

    [Theory]
    [InlineData(1, 40, false)]     // one late request in 40: a hiccup, not saturation
    [InlineData(4, 40, false)]
    [InlineData(5, 40, true)]
    [InlineData(10, 1000, false)]  // exactly 1%
    [InlineData(11, 1000, true)]
    [InlineData(0, 0, false)]
    public void Saturation_needs_more_than_one_percent_and_at_least_five_late_sends(long late, long requests, bool saturated)
        => Assert.Equal(saturated, LoadMetrics.LateIsSaturation(late, requests));

    [Fact]
    public void Minimum_of_a_stress_that_never_reached_its_target_is_the_lowest_sample()
    {
        var values = new Queue<double>([8.9, 20.4, 54.2]);
        var result = new StressResult { Kind = "Cpu", Target = "host", Unit = "%", TargetValue = 80 };
        var clock = Stopwatch.StartNew();
        StressHold.RunAsync(result, TimeSpan.FromSeconds(5), clock, () => values.Count > 0 ? ((double, double?)?)(values.Dequeue(), null) : null,
            v => v >= 80, NullReporter.Instance, "test", CancellationToken.None, interval: TimeSpan.FromMilliseconds(20)).GetAwaiter().GetResult();

        Assert.Equal(3, result.Samples.Count);
        Assert.Null(result.TimeToReach);
        Assert.Equal(8.9, result.Minimum);
        Assert.All(result.Samples, s => Assert.True(result.Minimum <= s.Value, $"Minimum {result.Minimum} is above the sample {s.Value}"));
        Assert.Equal(TimeSpan.Zero, result.HeldFor);
        Assert.Contains("NEVER REACHED", result.ToString());
        Assert.DoesNotContain("0us", result.ToString());
    }

    [Fact]
    public void Minimum_while_held_counts_only_samples_after_the_target_was_reached()
    {
        var values = new Queue<double>([10, 85, 82, 90]);
        var result = new StressResult { Kind = "Cpu", Target = "host", Unit = "%", TargetValue = 80 };
        StressHold.RunAsync(result, TimeSpan.FromSeconds(5), Stopwatch.StartNew(), () => values.Count > 0 ? ((double, double?)?)(values.Dequeue(), null) : null,
            v => v >= 80, NullReporter.Instance, "test", CancellationToken.None, interval: TimeSpan.FromMilliseconds(20)).GetAwaiter().GetResult();
        Assert.NotNull(result.TimeToReach);
        Assert.Equal(82, result.Minimum);
        Assert.DoesNotContain("NEVER", result.ToString());
    }

    [Fact]
    public void A_zero_duration_prints_as_0s()
    {
        Assert.Equal("0s", DurationParser.Format(TimeSpan.Zero));
        Assert.Equal("500us", DurationParser.Format(TimeSpan.FromMilliseconds(0.5)));
    }

    [Fact]
    public void A_stress_that_never_reached_its_target_makes_a_graceful_verdict_inconclusive()
    {
        var v = new DegradationVerdict { Verdict = "Graceful", Passed = true };
        var unreached = new StressResult { Kind = "Cpu", Target = "host", Unit = "%", TargetValue = 80, Reached = 12 };
        DegradationProbe.ApplyStress(v, [unreached], null);
        Assert.Equal("Inconclusive", v.Verdict);
        Assert.False(v.Passed);
        Assert.False(v.StressReached);
        Assert.Contains(v.Reasons, r => r.Contains("never reached"));
    }

    [Fact]
    public void A_not_graceful_verdict_stands_when_the_stress_fell_short()
    {
        var v = new DegradationVerdict { Verdict = "NotGraceful", Passed = false };
        var unreached = new StressResult { Kind = "Cpu", Target = "host", Unit = "%", TargetValue = 80, Reached = 12 };
        DegradationProbe.ApplyStress(v, [unreached], null);
        Assert.Equal("NotGraceful", v.Verdict);
        Assert.False(v.Passed);
        Assert.False(v.StressReached);
    }

    [Fact]
    public void A_stress_that_reached_its_target_leaves_the_verdict_alone()
    {
        var v = new DegradationVerdict { Verdict = "Graceful", Passed = true };
        var reached = new StressResult { Kind = "Cpu", Target = "host", Unit = "%", TargetValue = 80, Reached = 81, TimeToReach = TimeSpan.FromSeconds(1) };
        DegradationProbe.ApplyStress(v, [reached], null);
        Assert.Equal("Graceful", v.Verdict);
        Assert.True(v.Passed);
        Assert.True(v.StressReached);
    }
}
