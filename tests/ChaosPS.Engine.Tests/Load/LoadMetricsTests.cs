using System.Diagnostics;
using System.Net.Http;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

public class LoadMetricsTests
{
    private static readonly long Ms = Stopwatch.Frequency / 1000;

    private static LoadTestOptions Opts(params string[] names) => new()
    {
        Requests = names.Select(n => new LoadRequest { Name = n, Uri = new Uri("http://127.0.0.1:9/" + n) }).ToList(),
        Concurrency = 1,
    };

    private static Http1ResponseParser Response(int status, string body = "hello")
    {
        var p = new Http1ResponseParser();
        p.Reset(false);
        p.Parse(Encoding.ASCII.GetBytes($"HTTP/1.1 {status} X\r\nContent-Length: {body.Length}\r\n\r\n{body}"), 1);
        return p;
    }

    public static TheoryData<Exception, string> Failures => new()
    {
        { new SocketException((int)SocketError.ConnectionRefused), "refused" },
        { new SocketException((int)SocketError.ConnectionReset), "reset" },
        { new SocketException((int)SocketError.ConnectionAborted), "reset" },
        { new SocketException((int)SocketError.Shutdown), "reset" },
        { new SocketException((int)SocketError.TimedOut), "timeout" },
        { new SocketException((int)SocketError.HostUnreachable), "unreachable" },
        { new SocketException((int)SocketError.NetworkUnreachable), "unreachable" },
        { new SocketException((int)SocketError.HostNotFound), "unreachable" },
        { new SocketException((int)SocketError.AccessDenied), "other" },
        { new HttpRequestException(HttpRequestError.SecureConnectionError, "tls"), "tls" },
        { new AuthenticationException("bad certificate"), "tls" },
        { new IOException("wrapped", new SocketException((int)SocketError.ConnectionRefused)), "refused" },
        { new HttpRequestException("wrapped", new SocketException((int)SocketError.TimedOut)), "timeout" },
        { new HttpRequestException(HttpRequestError.ResponseEnded, "ended"), "reset" },
        { new HttpRequestException(HttpRequestError.InvalidResponse, "bad"), "protocol" },
        { new HttpRequestException(HttpRequestError.HttpProtocolError, "bad"), "protocol" },
        { new InvalidDataException("garbage status line"), "protocol" },
        { new EndOfStreamException(), "reset" },
        { new IOException("no inner"), "other" },
        { new InvalidOperationException(), "other" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void Classifies_transport_failures_by_kind(Exception e, string kind) => Assert.Equal(kind, LoadMetrics.Classify(e));

    [Fact]
    public void Histogram_slots_are_in_the_order_of_the_names()
    {
        Assert.Equal(LoadMetrics.HCount, LoadHistograms.Names.Count);
        Assert.Equal(LoadHistograms.Latency, LoadHistograms.Names[LoadMetrics.HLatency]);
        Assert.Equal(LoadHistograms.Service, LoadHistograms.Names[LoadMetrics.HService]);
        Assert.Equal(LoadHistograms.Ttfb, LoadHistograms.Names[LoadMetrics.HTtfb]);
        Assert.Equal(LoadHistograms.Connect, LoadHistograms.Names[LoadMetrics.HConnect]);
        Assert.Equal(LoadHistograms.Tls, LoadHistograms.Names[LoadMetrics.HTls]);
        Assert.Equal(LoadHistograms.Receive, LoadHistograms.Names[LoadMetrics.HReceive]);
        Assert.Equal(LoadHistograms.FirstEvent, LoadHistograms.Names[LoadMetrics.HFirstEvent]);
        Assert.Equal(LoadHistograms.InterEvent, LoadHistograms.Names[LoadMetrics.HInterEvent]);
    }

    [Fact]
    public void Completions_and_failures_count_by_status_kind_and_name()
    {
        var m = new LoadMetrics(Opts("a", "b", "a"));
        m.Complete(0, 200, 0, 0, 1 * Ms, 2 * Ms, Response(200));
        m.Complete(1, 503, 0, 0, 1 * Ms, 2 * Ms, Response(503, "no"));
        m.Complete(2, 302, 0, 0, 0, 2 * Ms, Response(302, ""));
        m.Fail(1, "refused", 0, 3 * Ms);
        m.Fail(0, "tls", 0, 3 * Ms);
        m.Fail(0, "nonsense", 0, 3 * Ms);
        Assert.Equal(6, m.Requests);
        Assert.Equal(4, m.Failed);
        var s = new LoadStats();
        m.CopyCountersTo(s);
        Assert.Equal(7, s.BytesReceived);
        Assert.Equal(new Dictionary<string, long> { ["refused"] = 1, ["tls"] = 1, ["other"] = 1, ["status_503"] = 1 }, s.Errors);
        Assert.Equal(new Dictionary<string, long> { ["200"] = 1, ["302"] = 1, ["503"] = 1 }, s.StatusCodes);
        Assert.Equal([4, 2], s.PerName["a"]);
        Assert.Equal([2, 2], s.PerName["b"]);
    }

    [Fact]
    public void Folding_second_by_second_adds_up_to_the_exact_percentiles_of_the_whole_run()
    {
        // Two names: each has its own recorder (with one name, the latency histogram is the name's, see below).
        var m = new LoadMetrics(Opts("a", "b"));
        var all = HistogramCodec.New();
        var cumulative = new LoadStats();
        var rnd = new Random(11);
        LoadStats window = new();
        for (int second = 0; second < 3; second++)
        {
            for (int i = 0; i < 5000; i++)
            {
                long us = 50 + (long)Math.Exp(rnd.NextDouble() * 12);
                long ticks = (long)Math.Ceiling(us * (Stopwatch.Frequency / 1_000_000.0));
                m.Record(LoadMetrics.HLatency, ticks);
                all.RecordValue(Math.Max(1, (long)(ticks * (1_000_000.0 / Stopwatch.Frequency))));
            }
            window = new LoadStats();
            var lat = m.Fold(cumulative, window);
            Assert.Equal(5000, lat.TotalCount); // the second just ended, not the run so far
            Assert.Same(lat, window.Histograms[LoadHistograms.Latency]);
        }
        var run = cumulative.Find(LoadHistograms.Latency)!;
        Assert.Equal(all.TotalCount, run.TotalCount);
        foreach (var p in new[] { 50, 90, 99, 99.9, 100 })
            Assert.Equal(all.GetValueAtPercentile(p), run.GetValueAtPercentile(p));
        Assert.Null(cumulative.Find(LoadHistograms.Connect)); // nothing recorded there
        Assert.Null(cumulative.Find(LoadHistograms.NamePrefix + "a")); // a timing is not a request: nothing per name
    }

    [Fact]
    public void With_one_name_its_histogram_and_counts_are_the_runs_latency_and_totals()
    {
        // One name over two templates: nothing per name is recorded per request, Fold and CopyCountersTo derive it.
        var m = new LoadMetrics(Opts("a", "a"));
        var rnd = new Random(5);
        var cumulative = new LoadStats();
        for (int second = 0; second < 2; second++)
        {
            for (int i = 0; i < 3000; i++)
            {
                long intended = rnd.Next(0, 1000) * Ms, end = intended + 1 + (long)(Math.Exp(rnd.NextDouble() * 10) * Ms / 1000);
                if (i % 10 == 3) m.Fail(i % 2, "reset", intended, end);
                else m.Complete(i % 2, i % 7 == 0 ? 503 : 200, intended, intended + (end - intended) / 2, 0, end, Response(200));
            }
            m.Fold(cumulative, new LoadStats());
        }
        var name = cumulative.Find(LoadHistograms.NamePrefix + "a")!;
        var latency = cumulative.Find(LoadHistograms.Latency)!;
        Assert.Equal(6000, name.TotalCount);
        Assert.Equal(latency.TotalCount, name.TotalCount);
        foreach (var p in new[] { 0.0, 50, 90, 99, 99.9, 100 })
            Assert.Equal(latency.GetValueAtPercentile(p), name.GetValueAtPercentile(p));
        m.CopyCountersTo(cumulative);
        Assert.Equal([m.Requests, m.Failed], cumulative.PerName["a"]);
        Assert.Equal(6000, m.Requests);
        Assert.True(m.Failed > 600);
        Assert.Single(cumulative.PerName);
    }

    [Fact]
    public void Two_runs_merge_to_the_percentiles_of_one()
    {
        LoadStats RunOf(LoadMetrics m, IEnumerable<long> us)
        {
            foreach (var v in us) m.Fail(0, "other", 0, (long)Math.Ceiling(v * (Stopwatch.Frequency / 1_000_000.0)));
            var s = new LoadStats();
            m.Fold(s, new LoadStats());
            s.Requests = m.Requests; s.Failed = m.Failed;
            m.CopyCountersTo(s);
            return s;
        }
        var a = Enumerable.Range(1, 3000).Select(i => 100L + i * 7).ToArray();
        var b = Enumerable.Range(1, 1000).Select(i => 20_000L + i * 31).ToArray();
        var merged = LoadStats.FromJson(RunOf(new LoadMetrics(Opts("x")), a).ToJson());
        merged.Merge(LoadStats.FromJson(RunOf(new LoadMetrics(Opts("x")), b).ToJson()));
        var one = RunOf(new LoadMetrics(Opts("x")), a.Concat(b));
        var rm = LoadTestResult.From(merged);
        var ro = LoadTestResult.From(one);
        Assert.Equal(4000, rm.Requests);
        Assert.Equal(ro.Latency!.P50, rm.Latency!.P50);
        Assert.Equal(ro.Latency.P99, rm.Latency.P99);
        Assert.Equal(ro.Latency.Max, rm.Latency.Max);
        Assert.Equal(ro.ByName.Single().Latency!.P95, rm.ByName.Single().Latency!.P95);
        Assert.Equal(4000, rm.ErrorsByKind["other"]);
    }
}
