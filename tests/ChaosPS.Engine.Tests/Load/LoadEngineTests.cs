using System.Text;
using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

public class ParserTests
{
    private static Http1ResponseParser Feed(string wire, int chunk, out int consumedTotal, bool capture = false)
    {
        var p = new Http1ResponseParser { CaptureBody = capture };
        p.Reset(false);
        var bytes = Encoding.ASCII.GetBytes(wire);
        var pending = new List<byte>();
        consumedTotal = 0;
        for (int i = 0; i < bytes.Length && !p.Done; i += chunk)
        {
            pending.AddRange(bytes.Skip(i).Take(chunk));
            int c = p.Parse(pending.ToArray(), 1);
            consumedTotal += c;
            pending.RemoveRange(0, c);
        }
        return p;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(1000)]
    public void Content_length_response_parses_in_any_split(int chunk)
    {
        var p = Feed("HTTP/1.1 201 Created\r\nContent-Length: 11\r\nX-A: b\r\n\r\nhello world", chunk, out _, capture: true);
        Assert.True(p.Done);
        Assert.Equal(201, p.Status);
        Assert.Equal(11, p.BodyBytes);
        Assert.Equal("hello world", p.BodyText());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(1000)]
    public void Chunked_response_with_extensions_and_trailers(int chunk)
    {
        var p = Feed("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\nTrailer: 1\r\n\r\n", chunk, out _, capture: true);
        Assert.True(p.Done);
        Assert.Equal("hello world", p.BodyText());
        Assert.Equal(2, p.Events); // chunks of a non-SSE stream count as events
    }

    [Fact]
    public void Two_pipelined_responses_in_one_buffer_are_split_exactly()
    {
        var wire = Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 503 No\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        var p = new Http1ResponseParser();
        p.Reset(false);
        int used = p.Parse(wire, 1);
        Assert.True(p.Done);
        Assert.Equal(200, p.Status);
        p.Reset(false);
        int used2 = p.Parse(wire.AsSpan(used), 1);
        Assert.True(p.Done);
        Assert.Equal(503, p.Status);
        Assert.True(p.ConnectionClose);
        Assert.Equal(wire.Length, used + used2);
    }

    [Fact]
    public void Sse_events_are_counted_across_reads_and_interim_100_is_skipped()
    {
        var p = Feed("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 38\r\n\r\ndata: a\r\n\r\ndata: b\n\nevent: x\ndata: c\n\n", 4, out _);
        Assert.True(p.Done);
        Assert.Equal(200, p.Status);
        Assert.Equal(3, p.Events);
    }

    [Fact]
    public void Body_without_length_reads_to_close()
    {
        var p = Feed("HTTP/1.0 200 OK\r\n\r\nabc", 100, out _);
        Assert.False(p.Done);
        Assert.True(p.ReadsToEnd);
        Assert.True(p.OnEof());
        Assert.Equal(3, p.BodyBytes);
    }

    [Fact]
    public void Garbage_status_line_is_a_protocol_error()
    {
        var p = new Http1ResponseParser();
        p.Reset(false);
        Assert.Throws<InvalidDataException>(() => p.Parse("SSH-2.0-OpenSSH\r\n"u8, 1));
    }
}

public class ThresholdTests
{
    [Theory]
    [InlineData("http_req_duration: p(95)<500", "http_req_duration", "p", 95, "<", 500)]
    [InlineData("http_req_failed: rate<0.01", "http_req_failed", "rate", 0, "<", 0.01)]
    [InlineData("ttfb: p(99.9)<=200", "ttfb", "p", 99.9, "<=", 200)]
    [InlineData("http_reqs: count>=10", "http_reqs", "count", 0, ">=", 10)]
    [InlineData("http_req_duration: avg < 1s", "http_req_duration", "avg", 0, "<", 1000)]
    [InlineData("http_req_duration: med==3", "http_req_duration", "med", 0, "==", 3)]
    public void Parses_k6_syntax(string text, string metric, string agg, double p, string op, double limit)
    {
        var s = ThresholdSpec.Parse(text);
        Assert.Equal((metric, agg, p, op, limit), (s.Metric, s.Aggregation, s.Percentile, s.Operator, s.Limit));
    }

    [Theory]
    [InlineData("http_req_durration: p(95)<500", "UnknownThresholdMetric", "http_req_durration")]
    [InlineData("http_req_duration: p(95)<<500", "InvalidThreshold", "p(95)<<500")]
    [InlineData("http_req_duration p(95)<500", "InvalidThreshold", "http_req_duration p(95)<500")]
    [InlineData("http_req_failed: p(95)<1", "InvalidThreshold", "p(95)<1")]
    [InlineData("http_req_duration: p(101)<1", "InvalidThreshold", "p(101)<1")]
    public void Rejects_bad_expressions_naming_the_token(string text, string id, string token)
    {
        var e = Assert.Throws<ChaosException>(() => ThresholdSpec.ParseMany(text));
        Assert.Equal(id, e.ErrorId);
        Assert.Contains(token, e.Message);
    }

    [Fact]
    public void Several_expressions_in_one_string()
    {
        var l = ThresholdSpec.ParseMany("http_req_duration: p(95)<500, p(99)<1000");
        Assert.Equal(2, l.Count);
        Assert.Equal(99, l[1].Percentile);
    }

    [Fact]
    public void Evaluates_every_threshold_on_the_stats()
    {
        var st = new LoadStats { Requests = 100, Failed = 5, DurationSeconds = 10 };
        for (int i = 1; i <= 100; i++) st.Hist("latency").RecordValue(i * 1000); // 1..100 ms
        var outs = ThresholdEvaluator.Evaluate(new[] { "http_req_duration: p(95)<90", "http_req_duration: max<=100.1", "http_req_failed: rate<0.01", "http_reqs: rate>=10", "ttfb: p(95)<1" }
            .SelectMany(ThresholdSpec.ParseMany), st);
        Assert.Equal(5, outs.Count);
        Assert.False(outs[0].Passed); Assert.InRange(outs[0].Actual!.Value, 94.9, 95.1);
        Assert.True(outs[1].Passed);
        Assert.False(outs[2].Passed); Assert.Equal(0.05, outs[2].Actual!.Value, 6);
        Assert.True(outs[3].Passed);
        Assert.False(outs[4].Passed); Assert.Null(outs[4].Actual); // no data fails
    }
}

public class ProfileAndHistogramTests
{
    [Fact]
    public void Constant_rate_schedules_evenly()
    {
        var p = new LoadProfile(100, [], 10);
        Assert.Equal(0, p.TimeOf(0), 9);
        Assert.Equal(0.5, p.TimeOf(50), 9);
        Assert.Equal(1000, p.CountAt(10), 6);
        Assert.True(double.IsPositiveInfinity(p.TimeOf(1000)));
    }

    [Fact]
    public void Ramp_schedule_inverts_the_integral()
    {
        // 0 -> 100 req/s over 10 s (500 requests), then hold 100 for 5 s (500 more).
        var p = new LoadProfile(0, [LoadStage.Parse("10s:100"), LoadStage.Parse("5s:100")], 15);
        Assert.Equal(500, p.CountAt(10), 6);
        Assert.Equal(1000, p.CountAt(15), 6);
        foreach (long n in new long[] { 1, 10, 125, 499, 500, 750, 999 })
            Assert.Equal(n, p.CountAt(p.TimeOf(n)), 6);
        Assert.Equal(50, p.LevelAt(5), 6);
        Assert.Equal(1, p.StageAt(12));
    }

    [Theory]
    [InlineData("30x:10", "30x")]
    [InlineData("30s:abc", "abc")]
    [InlineData("30s", "30s")]
    public void Bad_stage_names_the_token(string text, string token)
    {
        var e = Assert.Throws<ChaosException>(() => LoadStage.Parse(text));
        Assert.Equal("InvalidStage", e.ErrorId);
        Assert.Contains(token, e.Message);
    }

    [Fact]
    public void Histograms_round_trip_uncompressed_and_merge_exactly()
    {
        var rnd = new Random(7);
        var a = HistogramCodec.New(); var b = HistogramCodec.New(); var all = HistogramCodec.New();
        for (int i = 0; i < 200_000; i++)
        {
            long v = 1 + (long)(Math.Exp(rnd.NextDouble() * 14));
            (i % 3 == 0 ? a : b).RecordValue(v);
            all.RecordValue(v);
        }
        var ra = HistogramCodec.Decode(HistogramCodec.Encode(a));
        var rb = HistogramCodec.Decode(HistogramCodec.Encode(b));
        Assert.Equal(a.TotalCount, ra.TotalCount);
        ra.Add(rb);
        foreach (var p in new[] { 50, 90, 99, 99.9, 99.99, 100 })
            Assert.Equal(all.GetValueAtPercentile(p), ra.GetValueAtPercentile(p));
    }

    [Fact]
    public void Stats_merge_through_json()
    {
        var s1 = new LoadStats { Requests = 10, Failed = 1, DurationSeconds = 5 };
        s1.Hist("latency").RecordValue(1000);
        s1.Errors["refused"] = 1;
        s1.Thresholds.Add("http_req_failed: rate<0.5");
        var s2 = new LoadStats { Requests = 30, Failed = 3, DurationSeconds = 6 };
        s2.Hist("latency").RecordValueWithCount(5000, 30);
        s2.Errors["refused"] = 2; s2.Errors["timeout"] = 1;
        var m = LoadStats.FromJson(s1.ToJson());
        m.Merge(LoadStats.FromJson(s2.ToJson()));
        var r = LoadTestResult.From(m);
        Assert.Equal(40, r.Requests);
        Assert.Equal(3, r.ErrorsByKind["refused"]);
        Assert.Equal(2, r.Sources);
        Assert.Equal(31, r.Latency!.Count);
        Assert.True(r.Passed);
        Assert.Single(r.Thresholds);
    }
}
