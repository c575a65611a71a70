using System.Net;
using System.Net.Sockets;
using System.Text;
using ChaosPS.Http;

namespace ChaosPS.Engine.Tests.Http;

/// <summary>The engine's HTTP/1.1 server (the testbed's and the toxiproxy API's transport), over raw sockets.</summary>
public sealed class HttpServerTests
{
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(30); // a guard against hangs, not a timed assertion

    /// <summary>Echoes method, path, query and body; /status/N answers N; /throw throws.</summary>
    private static async Task Echo(HttpRequest req, HttpResponse resp)
    {
        if (req.Path == "/throw") throw new InvalidOperationException("boom");
        if (req.Path.StartsWith("/status/", StringComparison.Ordinal))
        {
            await resp.SendAsync(int.Parse(req.Path[8..]), "", []);
            return;
        }
        await resp.SendAsync(200, "text/plain", Encoding.UTF8.GetBytes($"{req.Method} {req.Path} {req.Query} [{req.BodyText}]"));
    }

    private static HttpServer Serve(Func<HttpRequest, HttpResponse, Task>? handler = null, HttpServerOptions? options = null)
    {
        var s = new HttpServer(new IPEndPoint(IPAddress.Loopback, 0), handler ?? Echo, options);
        s.Start();
        return s;
    }

    private sealed record Answer(int Status, Dictionary<string, string> Headers, string Body);

    private sealed class Client : IDisposable
    {
        private readonly Socket _s = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        private readonly List<byte> _buf = [];
        public Client(int port) => _s.Connect(IPAddress.Loopback, port);
        public Socket Socket => _s;
        public Task SendAsync(string raw) => _s.SendAsync(Encoding.Latin1.GetBytes(raw), SocketFlags.None);

        private async Task<bool> Fill(CancellationToken ct)
        {
            var b = new byte[8192];
            int n;
            try { n = await _s.ReceiveAsync(b, SocketFlags.None, ct); }
            catch (SocketException) { return false; }
            if (n == 0) return false;
            _buf.AddRange(b.AsSpan(0, n).ToArray());
            return true;
        }

        /// <summary>The next response (Content-Length or none), or null when the server closed the connection first.</summary>
        public async Task<Answer?> ReadAsync(bool head = false)
        {
            using var cts = new CancellationTokenSource(Hang);
            int end;
            while ((end = IndexOf("\r\n\r\n")) < 0) if (!await Fill(cts.Token)) return null;
            var lines = Encoding.Latin1.GetString(_buf.GetRange(0, end).ToArray()).Split("\r\n");
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            foreach (var l in lines.Skip(1)) { int c = l.IndexOf(':'); headers[l[..c]] = l[(c + 1)..].Trim(); }
            _buf.RemoveRange(0, end + 4);
            int length = !head && headers.TryGetValue("Content-Length", out var cl) ? int.Parse(cl) : 0;
            while (_buf.Count < length) if (!await Fill(cts.Token)) return null;
            var body = Encoding.UTF8.GetString(_buf.GetRange(0, length).ToArray());
            _buf.RemoveRange(0, length);
            return new Answer(int.Parse(lines[0].Split(' ')[1]), headers, body);
        }

        /// <summary>True when the server closes the connection (after whatever it still sends).</summary>
        public async Task<bool> ClosedAsync()
        {
            using var cts = new CancellationTokenSource(Hang);
            while (await Fill(cts.Token)) { }
            return true;
        }

        private int IndexOf(string what)
        {
            var w = Encoding.ASCII.GetBytes(what);
            for (int i = 0; i + w.Length <= _buf.Count; i++)
            {
                int j = 0;
                while (j < w.Length && _buf[i + j] == w[j]) j++;
                if (j == w.Length) return i;
            }
            return -1;
        }

        public void Dispose() => _s.Dispose();
    }

    [Fact]
    public async Task Pipelined_requests_in_one_write_get_their_answers_in_order_on_one_kept_alive_connection()
    {
        await using var server = Serve();
        using var c = new Client(server.Port);
        await c.SendAsync("GET /a?x=1 HTTP/1.1\r\nHost: t\r\n\r\nPOST /b HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /c HTTP/1.1\r\nHost: t\r\n\r\n");
        Assert.Equal("GET /a x=1 []", (await c.ReadAsync())!.Body);
        Assert.Equal("POST /b  [hello]", (await c.ReadAsync())!.Body);
        var third = await c.ReadAsync();
        Assert.Equal("GET /c  []", third!.Body);
        Assert.False(third.Headers.ContainsKey("Connection"));
        // Still open: a later request on the same connection is answered too.
        await c.SendAsync("GET /d HTTP/1.1\r\nHost: t\r\n\r\n");
        Assert.Equal("GET /d  []", (await c.ReadAsync())!.Body);
    }

    [Fact]
    public async Task A_body_split_across_writes_and_blank_lines_before_a_request_are_read()
    {
        await using var server = Serve();
        using var c = new Client(server.Port);
        await c.SendAsync("\r\nPOST /split HTTP/1.1\r\nContent-Le");
        await Task.Delay(50);
        await c.SendAsync("ngth: 11\r\n\r\nhello ");
        await Task.Delay(50);
        await c.SendAsync("world");
        Assert.Equal("POST /split  [hello world]", (await c.ReadAsync())!.Body);
    }

    [Fact]
    public async Task Chunked_request_bodies_are_decoded_where_allowed_and_answered_411_where_not()
    {
        await using (var server = Serve(options: new HttpServerOptions { ChunkedRequestBodies = true }))
        {
            using var c = new Client(server.Port);
            await c.SendAsync("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n");
            await Task.Delay(50);
            await c.SendAsync("6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\nGET /after HTTP/1.1\r\n\r\n");
            Assert.Equal("POST /c  [hello world]", (await c.ReadAsync())!.Body);
            Assert.Equal("GET /after  []", (await c.ReadAsync())!.Body);
        }
        await using (var server = Serve())
        {
            using var c = new Client(server.Port);
            await c.SendAsync("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
            var a = await c.ReadAsync();
            Assert.Equal(411, a!.Status);
            Assert.Equal("close", a.Headers["Connection"]);
            Assert.Contains("send Content-Length", a.Body);
            Assert.True(await c.ClosedAsync());
        }
    }

    [Theory]
    [InlineData("GET / HTTP/1.1\r\nX-Big: {big}\r\n\r\n", 431)]
    [InlineData("GET / HTTP/1.1\r\nX-Big: {big}", 431)] // no end of headers in sight
    [InlineData("GARBAGE\r\n\r\n", 400)]
    [InlineData("GET / HTTP/2.0\r\n\r\n", 400)]
    [InlineData("GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413)]
    [InlineData("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400)]
    [InlineData("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n200000\r\n", 413)]
    public async Task Bad_requests_are_answered_with_the_status_they_earn_and_the_connection_closed(string raw, int status)
    {
        var options = new HttpServerOptions { ChunkedRequestBodies = true, MaxHeaderBytes = 8 * 1024, MaxBodyBytes = 1024 * 1024 };
        await using var server = Serve(options: options);
        using var c = new Client(server.Port);
        await c.SendAsync(raw.Replace("{big}", new string('x', 10 * 1024)));
        var a = await c.ReadAsync();
        Assert.NotNull(a);
        Assert.Equal(status, a.Status);
        Assert.Equal("close", a.Headers["Connection"]);
        Assert.StartsWith("{\"error\":{\"type\":\"bad_request\"", a.Body);
        Assert.True(await c.ClosedAsync());
    }

    [Fact]
    public async Task The_error_body_shape_is_the_callers()
    {
        var options = new HttpServerOptions { ErrorBody = (s, m) => ("text/plain", Encoding.UTF8.GetBytes($"{s}:{m}")) };
        await using var server = Serve(options: options);
        using var c = new Client(server.Port);
        await c.SendAsync("GARBAGE\r\n\r\n");
        var a = await c.ReadAsync();
        Assert.Equal("400:malformed request line or header", a!.Body);
        Assert.Equal("text/plain", a.Headers["Content-Type"]);
    }

    [Fact]
    public async Task A_handler_that_throws_before_answering_gets_a_500_and_the_connection_lives_on()
    {
        await using var server = Serve();
        using var c = new Client(server.Port);
        await c.SendAsync("GET /throw HTTP/1.1\r\n\r\n");
        var a = await c.ReadAsync();
        Assert.Equal(500, a!.Status);
        Assert.Equal("{\"error\":{\"type\":\"internal\",\"message\":\"boom\"}}", a.Body);
        await c.SendAsync("GET /ok HTTP/1.1\r\n\r\n");
        Assert.Equal(200, (await c.ReadAsync())!.Status);
    }

    [Fact]
    public async Task Http10_closes_unless_keep_alive_and_204_and_HEAD_carry_no_body()
    {
        await using var server = Serve();
        using (var c = new Client(server.Port))
        {
            await c.SendAsync("GET /old HTTP/1.0\r\n\r\n");
            var a = await c.ReadAsync();
            Assert.Equal("close", a!.Headers["Connection"]);
            Assert.True(await c.ClosedAsync());
        }
        using (var c = new Client(server.Port))
        {
            await c.SendAsync("GET /status/204 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nHEAD /h HTTP/1.1\r\n\r\nGET /last HTTP/1.1\r\nConnection: close\r\n\r\n");
            var noContent = await c.ReadAsync();
            Assert.Equal(204, noContent!.Status);
            Assert.False(noContent.Headers.ContainsKey("Content-Length"));
            Assert.False(noContent.Headers.ContainsKey("Content-Type"));
            var head = await c.ReadAsync(head: true);
            Assert.Equal("HEAD /h  []".Length.ToString(), head!.Headers["Content-Length"]);
            var last = await c.ReadAsync(); // would read the HEAD body here if one had been sent
            Assert.Equal("GET /last  []", last!.Body);
            Assert.Equal("close", last.Headers["Connection"]);
            Assert.True(await c.ClosedAsync());
        }
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_request_is_dropped_without_calling_the_handler()
    {
        int calls = 0;
        await using var server = Serve((req, resp) => { Interlocked.Increment(ref calls); return Echo(req, resp); });
        using (var c = new Client(server.Port)) await c.SendAsync("GET /half HTTP/1.1\r\nHost: t"); // headers cut off
        using (var c = new Client(server.Port)) await c.SendAsync("POST /half HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"); // body cut off
        using (var c = new Client(server.Port))
        {
            await c.SendAsync("POST /chunk HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
        }
        await WaitFor(() => server.OpenConnections == 0);
        Assert.Equal(0, Volatile.Read(ref calls));
        using var ok = new Client(server.Port);
        await ok.SendAsync("GET /after HTTP/1.1\r\n\r\n");
        Assert.Equal(200, (await ok.ReadAsync())!.Status);
        Assert.Equal(1, Volatile.Read(ref calls));
    }

    [Fact]
    public async Task Stop_refuses_new_connections_closes_idle_ones_and_lets_the_request_in_flight_answer()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var server = Serve(async (req, resp) =>
        {
            if (req.Path == "/slow") { entered.TrySetResult(); await release.Task; }
            await Echo(req, resp);
        }, new HttpServerOptions { DrainTimeout = TimeSpan.FromSeconds(60) });
        using var idle = new Client(server.Port);
        await idle.SendAsync("GET /warm HTTP/1.1\r\n\r\n");
        Assert.Equal(200, (await idle.ReadAsync())!.Status);
        using var busy = new Client(server.Port);
        await busy.SendAsync("GET /slow HTTP/1.1\r\n\r\n");
        await entered.Task.WaitAsync(Hang);

        var stop = server.StopAsync();
        Assert.True(await idle.ClosedAsync());                 // the idle connection is closed at once
        await WaitFor(() => !Connects(server.Port));           // no new connections
        Assert.False(stop.IsCompleted);                         // still draining the request in flight
        Assert.Equal(1, server.InFlight);
        release.SetResult();
        var a = await busy.ReadAsync();
        Assert.Equal("GET /slow  []", a!.Body);
        await stop.WaitAsync(Hang);
        Assert.True(await busy.ClosedAsync());
        Assert.Equal(0, server.OpenConnections);
    }

    [Fact]
    public async Task Stop_closes_a_request_that_outlives_the_drain_timeout()
    {
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var never = new TaskCompletionSource();
        var server = Serve(async (req, resp) => { entered.TrySetResult(); await never.Task; },
            new HttpServerOptions { DrainTimeout = TimeSpan.FromMilliseconds(100) });
        using var busy = new Client(server.Port);
        await busy.SendAsync("GET /stuck HTTP/1.1\r\n\r\n");
        await entered.Task.WaitAsync(Hang);
        await server.StopAsync().WaitAsync(Hang);
        Assert.Null(await busy.ReadAsync());
    }

    [Fact]
    public async Task A_taken_port_is_ListenAddressInUse_with_the_socket_error_inside()
    {
        await using var first = Serve(options: new HttpServerOptions { ConfigureListener = _ => { } });
        var e = Assert.Throws<ChaosException>(() => new HttpServer(new IPEndPoint(IPAddress.Loopback, first.Port), Echo,
            new HttpServerOptions { ConfigureListener = _ => { } }));
        Assert.Equal("ListenAddressInUse", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.ResourceBusy, e.Category);
        Assert.IsType<SocketException>(e.InnerException);
    }

    private static bool Connects(int port)
    {
        try { using var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp); s.Connect(IPAddress.Loopback, port); return true; }
        catch (SocketException) { return false; }
    }

    private static async Task WaitFor(Func<bool> condition)
    {
        var until = DateTime.UtcNow + Hang;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < until, "condition not reached");
            await Task.Delay(20);
        }
    }
}
