using System.Net.Sockets;
using System.Text;
using ChaosPS.Network;

namespace ChaosPS.Engine.Tests.Network;

/// <summary>The proxy's HTTP mode: request selection, HTTP/1.1 framing, and ordering on real loopback sockets (both data paths).</summary>
[Collection("Network")]
public sealed class HttpModeTests : IDisposable
{
    private readonly ProxyFixture _fx = new();

    public void Dispose() => _fx.Dispose();

    [Theory]
    [InlineData(0.2)]
    [InlineData(0.05)]
    [InlineData(1.0 / 3)]
    [InlineData(0.97)]
    public void Selector_share_is_exact_at_every_point_and_not_periodic(double share)
    {
        var s = new RequestSelector();
        int hits = 0, last = -1;
        var gaps = new HashSet<int>();
        for (int n = 1; n <= 20_000; n++)
        {
            bool hit = s.Next(share);
            if (hit) hits++;
            if (hit == share <= 0.5) { if (last >= 0) gaps.Add(n - last); last = n; } // gaps between the rarer outcome
            Assert.True(Math.Abs(hits - share * n) < 2, $"after {n} requests {hits} hits, expected {share * n:F1}");
        }
        Assert.Equal(20_000, s.Matched);
        // Well mixed: hits are not a fixed pattern (a periodic pick would show one or two gap lengths).
        Assert.True(gaps.Count >= 3, $"gaps seen: {string.Join(",", gaps)}");
    }

    [Fact]
    public void Selector_sequences_differ_between_toxics()
    {
        var a = new RequestSelector();
        var b = new RequestSelector();
        var sa = string.Concat(Enumerable.Range(0, 200).Select(_ => a.Next(0.3) ? '1' : '0'));
        var sb = string.Concat(Enumerable.Range(0, 200).Select(_ => b.Next(0.3) ? '1' : '0'));
        Assert.NotEqual(sa, sb);
    }

    [Theory]
    [InlineData("/api/", "/api/x", true)]
    [InlineData("/api/", "/apix", false)]
    [InlineData("/api/*/items", "/api/1/items", true)]
    [InlineData("/api/*/items", "/api/1/2/items", true)]
    [InlineData("/api/*/items", "/api/1/items/3", false)]
    [InlineData("*.png", "/a/b.png", true)]
    [InlineData("/*.png", "/a/b.jpg", false)]
    [InlineData("", "/anything", true)]
    [InlineData("*", "/anything", true)]
    public void Path_patterns(string pattern, string path, bool matches) => Assert.Equal(matches, HttpRules.PathMatches(pattern, path));

    [Theory]
    [InlineData("api")]
    [InlineData("/a?b")]
    [InlineData("/a b")]
    [InlineData("/a#b")]
    public void Bad_path_patterns_are_refused(string pattern)
    {
        var e = Assert.Throws<ProxyException>(() => ToxicSpec.Create("http_status", "downstream", 1, null, strings: new Dictionary<string, string> { ["path"] = pattern }));
        Assert.Equal("InvalidPathPattern", e.ErrorId);
        Assert.Equal(400, e.HttpStatus);
    }

    [Fact]
    public void Chunked_body_walker_handles_extensions_trailers_and_one_byte_reads()
    {
        var body = Encoding.ASCII.GetBytes("5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n");
        var next = Encoding.ASCII.GetBytes("HTTP/1.1");
        var all = body.Concat(next).ToArray();
        var w = new BodyWalker();
        w.Start(BodyKind.Chunked, -1);
        int consumed = 0;
        bool done = false;
        for (int i = 0; i < all.Length && !done; i++) consumed += w.Consume(all.AsSpan(i, 1), out done);
        Assert.True(done);
        Assert.False(w.Invalid);
        Assert.Equal(body.Length, consumed);
        // in one piece as well
        w.Start(BodyKind.Chunked, -1);
        Assert.Equal(body.Length, w.Consume(all, out done));
        Assert.True(done);
    }

    [Fact]
    public void Head_end_is_found_across_reads()
    {
        var head = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: x\r\n\r\nBODY");
        for (int split = 1; split < head.Length - 4; split++)
        {
            int state = 0;
            int a = HttpWire.FindHeadEnd(head.AsSpan(0, split), ref state);
            int end = a >= 0 ? a : split + HttpWire.FindHeadEnd(head.AsSpan(split), ref state);
            Assert.Equal(head.Length - 4, end);
        }
    }

    /// <summary>An upstream that answers every request head with 200 and the path as the body (no request bodies).</summary>
    private static TestServer PathEcho(bool byteByByte = false) => new(async s =>
    {
        var buf = new byte[65536];
        var pending = new StringBuilder();
        int n;
        while ((n = await s.ReceiveAsync(buf, SocketFlags.None)) > 0)
        {
            pending.Append(Encoding.ASCII.GetString(buf, 0, n));
            int end;
            while ((end = pending.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal)) >= 0)
            {
                var head = pending.ToString(0, end);
                pending.Remove(0, end + 4);
                var path = head.Split(' ')[1];
                var resp = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {path.Length}\r\n\r\n{path}");
                if (byteByByte) foreach (var b in resp) await s.SendAsync(new[] { b }, SocketFlags.None);
                else await Net.SendAllAsync(s, resp);
            }
        }
        s.Dispose();
    });

    private static async Task<List<(int Status, string Body)>> ReadResponsesAsync(Socket c, int count)
    {
        var list = new List<(int, string)>();
        var data = new StringBuilder();
        var buf = new byte[65536];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (list.Count < count)
        {
            int end = data.ToString().IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                var head = data.ToString(0, end);
                var len = int.Parse(head.Split("\r\n").First(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))[15..].Trim());
                if (data.Length >= end + 4 + len)
                {
                    list.Add((int.Parse(head[9..12]), data.ToString(end + 4, len)));
                    data.Remove(0, end + 4 + len);
                    continue;
                }
            }
            int n = await c.ReceiveAsync(buf, SocketFlags.None, cts.Token);
            if (n == 0) break;
            data.Append(Encoding.ASCII.GetString(buf, 0, n));
        }
        return list;
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task Pipelined_requests_get_answers_in_order_between_upstream_responses(bool relay, bool byteByByte)
    {
        using var server = PathEcho(byteByByte);
        var p = _fx.Proxies.Create("pipe", "127.0.0.1:0", server.Address, mode: "http");
        p.UseRelay = relay && RelayLoop.Supported;
        p.AddToxic(ToxicSpec.Create("http_status", "downstream", 1, new Dictionary<string, long> { ["status"] = 503 }, "blocked",
            new Dictionary<string, string> { ["path"] = "/blocked" }));
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        var req = Encoding.ASCII.GetBytes(string.Concat(new[] { "/a", "/blocked", "/c", "/blocked/2", "/e" }.Select(x => $"GET {x} HTTP/1.1\r\nHost: t\r\n\r\n")));
        if (byteByByte) foreach (var b in req) await c.SendAsync(new[] { b }, SocketFlags.None);
        else await Net.SendAllAsync(c, req);
        var got = await ReadResponsesAsync(c, 5);
        Assert.Equal([(200, "/a"), (503, ""), (200, "/c"), (503, ""), (200, "/e")], got.Select(r => (r.Status, r.Status == 503 ? "" : r.Body)).ToList());
        var t = p.Toxics.Single(x => x.Name == "blocked");
        Assert.Equal(2, t.ActivationCount);
        Assert.Equal(2, t.RequestsMatched);
    }

    [Fact]
    public void Http_toxics_need_http_mode_and_tcp_json_stays_toxiproxys()
    {
        var p = _fx.Proxies.Create("plain", "127.0.0.1:0", "127.0.0.1:9");
        var e = Assert.Throws<ProxyException>(() => p.AddToxic(ToxicSpec.Create("http_status", "downstream", 1, null, "x")));
        Assert.Equal("HttpFaultNeedsHttpMode", e.ErrorId);
        Assert.Empty(p.Toxics);
        using var ms = new MemoryStream();
        using (var w = new System.Text.Json.Utf8JsonWriter(ms)) p.WriteJson(w);
        Assert.DoesNotContain("mode", Encoding.UTF8.GetString(ms.ToArray()));
    }
}
