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

public class RefusedConnectionCounterTests
{
    [Theory]
    [InlineData(0x02, true)]   // SYN: an attempt
    [InlineData(0x12, false)]  // SYN+ACK: the answer
    [InlineData(0x14, false)]  // RST+ACK: the refusal
    [InlineData(0x10, false)]  // ACK
    public void Counts_a_syn_to_the_port_only(byte flags, bool counted)
    {
        var tcp = new byte[20];
        tcp[2] = 0x1F; tcp[3] = 0x90; // port 8080
        tcp[13] = flags;
        Assert.Equal(counted, ChaosPS.Network.RefusedConnectionCounter.IsSynTo(tcp, 8080));
        Assert.False(ChaosPS.Network.RefusedConnectionCounter.IsSynTo(tcp, 8081));
    }

    [Fact]
    public async Task Counts_every_refused_attempt_exactly_while_other_loopback_traffic_flows()
    {
        // A closed port (bound then released) and, beside it, a busy listener: the counter's kernel filter must pass
        // the SYNs to the closed port and nothing else.
        var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0); probe.Start();
        var closed = (System.Net.IPEndPoint)probe.LocalEndpoint; probe.Stop();
        using var counter = ChaosPS.Network.RefusedConnectionCounter.TryStart(closed);
        if (counter is null) return; // needs root or CAP_NET_RAW (the cmdlet test says so); nothing to measure here
        var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0); busy.Start();
        using var stop = new CancellationTokenSource();
        var server = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try { using var c = await busy.AcceptTcpClientAsync(stop.Token); var b = new byte[65536]; var st = c.GetStream(); while (await st.ReadAsync(b, stop.Token) > 0) { } }
                catch (Exception) { }
            }
        });
        var noise = Task.Run(async () =>
        {
            var payload = new byte[65536];
            while (!stop.IsCancellationRequested)
            {
                try { using var c = new System.Net.Sockets.TcpClient(); await c.ConnectAsync((System.Net.IPEndPoint)busy.LocalEndpoint); for (int i = 0; i < 16; i++) await c.GetStream().WriteAsync(payload); }
                catch (Exception) { }
            }
        });
        await Task.Delay(200);
        int refused = 0;
        for (int i = 0; i < 50; i++)
        {
            using var c = new System.Net.Sockets.TcpClient();
            try { c.Connect(closed); } catch (System.Net.Sockets.SocketException) { refused++; }
        }
        await Task.Delay(300);
        stop.Cancel(); busy.Stop();
        Assert.Equal(50, refused);
        Assert.Equal(50, counter.Count);
    }
}
