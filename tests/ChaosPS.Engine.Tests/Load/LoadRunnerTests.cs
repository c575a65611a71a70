using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

public class LoadRunnerTests : IDisposable
{
    private readonly TestHttpServer _srv = new();
    public void Dispose() => _srv.Dispose();

    private LoadTestOptions Opts(string path, Action<LoadTestOptions>? more = null, string method = "GET")
    {
        var o = new LoadTestOptions { Requests = [new LoadRequest { Method = method, Uri = new Uri(_srv.Base + path) }] };
        more?.Invoke(o);
        return o;
    }

    private static LoadTestResult Run(LoadTestOptions o) => new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();

    [Theory]
    [InlineData("Auto")]
    [InlineData("Raw")]
    [InlineData("HttpClient")]
    public void Closed_model_iterations_all_succeed_and_checks_pass(string engine)
    {
        var r = Run(Opts("/json", o =>
        {
            o.Engine = engine; o.Concurrency = 8; o.Iterations = 400; o.Duration = TimeSpan.FromSeconds(30);
            o.Checks = [new LoadCheck { Name = "status", Kind = "Status" }, new LoadCheck { Name = "has ok", Kind = "Contains", Text = "\"ok\"" },
                        new LoadCheck { Name = "n is 42", Kind = "JsonPath", JsonPath = "$.n", Expected = "42" }, new LoadCheck { Name = "regex", Kind = "Regex", Text = "n\":4\\d" }];
            o.Thresholds = ["http_req_failed: rate==0", "http_reqs: count==400", "checks: rate==1"];
        }));
        Assert.Equal(400, r.Requests);
        Assert.Equal(0, r.Failed);
        Assert.Equal(400, _srv.Requests);
        Assert.Equal(1600, r.ChecksPassed);
        Assert.Equal(0, r.ChecksFailed);
        Assert.True(r.Passed, string.Join("; ", r.Thresholds.Select(t => t.Text)));
        Assert.Equal(400, r.Latency!.Count);
        Assert.NotNull(r.TimeToFirstByte);
        Assert.True(r.Connect!.Count is >= 1 and <= 8 + 8, $"connections: {r.Connect.Count}"); // keep-alive: about one connect per VU
        Assert.Equal(400, r.StatusCodes["200"]);
    }

    [Theory]
    [InlineData("Auto", false)]  // epoll, closed model
    [InlineData("Auto", true)]   // epoll, open model
    [InlineData("Raw", false)]
    public void A_request_that_asks_for_Connection_close_gets_a_new_connection_each_time(string engine, bool open)
    {
        // The test server keeps connections alive whatever the request says: the client alone must honour its close.
        var r = Run(Opts("/ok", o =>
        {
            o.Engine = engine; o.Requests[0].Headers.Add(new("Connection", "close"));
            if (open) { o.Rate = 50; o.Duration = TimeSpan.FromSeconds(1); o.Connections = 4; }
            else { o.Concurrency = 2; o.Iterations = 30; o.Duration = TimeSpan.FromSeconds(30); }
        }));
        Assert.Equal(0, r.Failed);
        Assert.True(r.Requests > 0);
        Assert.Equal(r.Requests, r.Connect!.Count); // one connect per request
    }

    [Fact]
    public void Failing_check_and_threshold_fail_the_result()
    {
        var r = Run(Opts("/json", o =>
        {
            o.Concurrency = 2; o.Iterations = 20;
            o.Checks = [new LoadCheck { Name = "n is 43", Kind = "JsonPath", JsonPath = "$.n", Expected = "43" }];
            o.Thresholds = ["checks: rate>0.99", "http_req_duration: p(95)<100000"];
        }));
        Assert.Equal(20, r.ChecksFailed);
        Assert.False(r.Passed);
        Assert.False(r.Thresholds[0].Passed);
        Assert.True(r.Thresholds[1].Passed);
    }

    [Theory]
    [InlineData("Auto")]
    [InlineData("Raw")]
    public void Open_model_sends_at_the_scheduled_rate(string engine)
    {
        var r = Run(Opts("/ok", o => { o.Engine = engine; o.Rate = 200; o.Duration = TimeSpan.FromSeconds(2); }));
        // 2 s at 200 req/s = 400 scheduled; all of them either sent or counted as dropped.
        Assert.Equal(400, r.Scheduled);
        Assert.Equal(400, r.Requests + r.Dropped);
        Assert.InRange(r.Requests, 360, 400);
        Assert.Equal("Open", r.Model);
        Assert.Equal(engine == "Raw" ? "RawSocket" : "Epoll", r.Engine);
        Assert.NotNull(r.ServiceTime);
    }

    [Theory]
    [InlineData("Auto")]
    [InlineData("Raw")]
    public void Open_model_latency_counts_from_the_intended_time(string engine)
    {
        // 50 req/s over 2 connections, each response takes 100 ms: capacity 20 req/s, so requests queue and
        // latency (from the intended time) grows far beyond the 100 ms service time.
        var r = Run(Opts("/slow?ms=100", o => { o.Engine = engine; o.Rate = 50; o.Connections = 2; o.Duration = TimeSpan.FromSeconds(2); o.Timeout = TimeSpan.FromSeconds(5); }));
        Assert.True(r.Requests >= 4, $"{r.Requests} requests");
        Assert.True(r.ServiceTime!.P50 < 1000, $"service p50 {r.ServiceTime.P50}");
        Assert.True(r.Latency!.Max > r.ServiceTime.Max + 300, $"latency max {r.Latency.Max} vs service max {r.ServiceTime.Max}");
        Assert.True(r.Late > 0);
        Assert.True(r.Generator.LateSends < r.Late, $"late {r.Late}, blamed on the generator {r.Generator.LateSends}: most waited for a busy connection");
        Assert.Contains("waited for a free connection", r.Generator.Notes);
        Assert.True(r.Dropped > 0, "requests still queued at the end are counted as dropped");
    }

    [Theory]
    [InlineData("Auto")]
    [InlineData("Raw")]
    [InlineData("HttpClient")]
    public void Refused_connections_are_counted_by_kind_without_throwing(string engine)
    {
        var o = new LoadTestOptions { Engine = engine, Requests = [new LoadRequest { Uri = new Uri($"http://127.0.0.1:{TestHttpServer.FreePort()}/") }], Concurrency = 2, Iterations = 10 };
        var r = Run(o);
        Assert.Equal(10, r.Requests);
        Assert.Equal(10, r.Failed);
        Assert.Equal(10, r.ErrorsByKind["refused"]);
        Assert.Equal(1.0, r.ErrorRate);
    }

    [Theory]
    [InlineData("Auto")]
    [InlineData("Raw")]
    public void Status_errors_timeouts_and_connection_close(string engine)
    {
        var r = Run(Opts("/status/503", o => { o.Engine = engine; o.Concurrency = 2; o.Iterations = 6; }));
        Assert.Equal(6, r.ErrorsByKind["status_503"]);
        var t = Run(Opts("/slow?ms=3000", o => { o.Engine = engine; o.Concurrency = 1; o.Iterations = 2; o.Timeout = TimeSpan.FromMilliseconds(300); }));
        Assert.Equal(2, t.ErrorsByKind["timeout"]);
        var c = Run(Opts("/close", o => { o.Engine = engine; o.Concurrency = 2; o.Iterations = 10; }));
        Assert.Equal(0, c.Failed);
        Assert.Equal(10, c.Connect!.Count);
    }

    [Fact]
    public void Expected_status_set_changes_what_fails()
    {
        var r = Run(Opts("/status/404", o => { o.Concurrency = 1; o.Iterations = 5; o.ExpectStatus = [404]; }));
        Assert.Equal(0, r.Failed);
    }

    [Theory]
    [InlineData("Auto")]
    [InlineData("Raw")]
    [InlineData("HttpClient")]
    public void Streaming_sse_records_first_event_and_inter_event_latency(string engine)
    {
        var r = Run(Opts("/sse?n=5&ms=20", o => { o.Engine = engine; o.Concurrency = 2; o.Iterations = 4; }));
        Assert.Equal(0, r.Failed);
        Assert.Equal(20, r.Events);
        Assert.Equal(4, r.StreamingResponses);
        Assert.Equal(4, r.TimeToFirstEvent!.Count);
        Assert.Equal(16, r.InterEventLatency!.Count);
        Assert.True(r.InterEventLatency.P50 >= 10, $"inter-event p50 {r.InterEventLatency.P50} ms with 20 ms between events");
        Assert.True(r.TimeToFirstEvent.P50 >= 10);
    }

    [Fact]
    public void Chunked_bodies_complete_on_keep_alive()
    {
        var r = Run(Opts("/chunked", o => { o.Concurrency = 2; o.Iterations = 20; o.Checks = [new LoadCheck { Name = "hw", Kind = "Contains", Text = "hello world" }]; }));
        Assert.Equal(0, r.Failed);
        Assert.Equal(20, r.ChecksPassed);
        Assert.True(r.Connect!.Count <= 4);
    }

    [Fact]
    public void Request_rotation_records_latency_per_name()
    {
        var o = new LoadTestOptions
        {
            Requests = [new LoadRequest { Name = "a", Uri = new Uri(_srv.Base + "/ok") }, new LoadRequest { Name = "b", Method = "POST", Uri = new Uri(_srv.Base + "/status/500"), Body = "{}"u8.ToArray() }],
            Concurrency = 2, Iterations = 20,
        };
        var r = Run(o);
        Assert.Equal(2, r.ByName.Count);
        Assert.Equal(10, r.ByName.Single(n => n.Name == "a").Requests);
        Assert.Equal(10, r.ByName.Single(n => n.Name == "b").Failed);
    }

    [Theory]
    [InlineData("Auto")]
    [InlineData("Raw")]
    public void Abort_on_fail_stops_early_and_cancel_returns_partial(string engine)
    {
        var r = Run(Opts("/status/500", o => { o.Engine = engine; o.Concurrency = 2; o.Duration = TimeSpan.FromSeconds(20); o.Thresholds = ["http_req_failed: rate<0.01"]; o.AbortOnFail = true; }));
        Assert.True(r.Aborted);
        Assert.Contains("threshold", r.AbortReason);
        Assert.True(r.Duration < TimeSpan.FromSeconds(15));
        Assert.False(r.Passed);

        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
        var c = new LoadTestRunner(Opts("/ok", o => { o.Engine = engine; o.Concurrency = 2; o.Duration = TimeSpan.FromSeconds(30); })).RunAsync(cts.Token).GetAwaiter().GetResult();
        Assert.True(c.Aborted);
        Assert.Equal("cancelled", c.AbortReason);
        Assert.True(c.Requests > 0);
        Assert.True(c.Duration < TimeSpan.FromSeconds(20));
    }

    [Fact]
    public void Validation_rejects_bad_input_before_traffic()
    {
        Assert.Equal("InvalidModel", Assert.Throws<ChaosException>(() => new LoadTestRunner(Opts("/ok"))).ErrorId);
        Assert.Equal("UnknownThresholdMetric", Assert.Throws<ChaosException>(() => new LoadTestRunner(Opts("/ok", o => { o.Concurrency = 1; o.Thresholds = ["foo: p(95)<1"]; }))).ErrorId);
        Assert.Equal("InvalidHeader", Assert.Throws<ChaosException>(() => LoadTestOptions.ParseHeader("no colon here")).ErrorId);
        Assert.Equal("InvalidUri", Assert.Throws<ChaosException>(() => LoadTestOptions.ParseUri("ftp://x/")).ErrorId);
        Assert.Equal(0, _srv.Requests);
    }
}
