using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ChaosPS.Network;

namespace ChaosPS.Engine.Tests.Network;

/// <summary>toxiproxy's link/proxy tests plus ChaosPS's improvements (async dial, bounded memory, live metrics, safety).</summary>
[Collection("Network")]
public sealed class ChaosProxyTests : IDisposable
{
    private readonly ProxyFixture _fx = new();
    public void Dispose() => _fx.Dispose();

    [Theory]
    [InlineData(5, true)]
    [InlineData(65536, true)]
    [InlineData(1_000_000, true)]
    [InlineData(5, false)]
    [InlineData(1_000_000, false)]
    public async Task Messages_arrive_intact(int size, bool relay)
    {
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address, relay: relay);
        var data = new byte[size];
        Random.Shared.NextBytes(data);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        var send = Net.SendAllAsync(c, data);
        Assert.Equal(data, await Net.ReadExactlyAsync(c, size));
        await send;
        // Live (the connection is still open). A counter moves just after its write, so the peer may read first.
        await Net.EventuallyAsync(() => p.Snapshot() is { BytesUpstream: var u, BytesDownstream: var d } && u == size && d == size,
            what: $"{size} bytes counted each way (now {p.Snapshot().BytesUpstream} up, {p.Snapshot().BytesDownstream} down)");
        Assert.Equal(1, p.Snapshot().ActiveConnections);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task No_data_lost_while_a_latency_toxic_is_added_and_removed(bool relay)
    {
        // toxiproxy's "no data dropped": 65,535 sequential 2-byte values while a 1000 ms latency toxic churns.
        var received = new TaskCompletionSource<byte[]>();
        using var server = new TestServer(async s => received.TrySetResult(await Net.ReadToEndAsync(s, 60000)));
        var p = _fx.Create(server.Address, relay: relay);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        using var stop = new CancellationTokenSource();
        var churn = Task.Run(async () =>
        {
            int i = 0;
            while (!stop.IsCancellationRequested)
            {
                p.AddToxic(ToxicSpec.Create("latency", "upstream", 1, new Dictionary<string, long> { ["latency"] = 1000 }, "churn"));
                await Task.Delay(Random.Shared.Next(0, 3));
                p.RemoveToxic("churn");
                if (++i % 50 == 0) await Task.Delay(1);
            }
        });
        var buf = new byte[2];
        for (int v = 0; v < 65535; v++)
        {
            buf[0] = (byte)(v >> 8); buf[1] = (byte)v;
            await Net.SendAllAsync(c, buf);
        }
        c.Shutdown(SocketShutdown.Send);
        var data = await received.Task.WaitAsync(TimeSpan.FromSeconds(60));
        stop.Cancel();
        await churn;
        Assert.Equal(65535 * 2, data.Length);
        for (int v = 0; v < 65535; v++)
            Assert.True(data[2 * v] == (byte)(v >> 8) && data[2 * v + 1] == (byte)v, $"value {v} out of order or corrupt");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Hundred_echo_round_trips_while_toxics_churn(bool relay)
    {
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address, relay: relay);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        using var stop = new CancellationTokenSource();
        var churn = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                p.AddToxic(ToxicSpec.Create("noop", "upstream", 1, null, "n1"));
                p.AddToxic(ToxicSpec.Create("latency", "downstream", 1, new Dictionary<string, long> { ["latency"] = 1 }, "n2"));
                await Task.Yield();
                p.RemoveToxic("n1");
                p.RemoveToxic("n2");
            }
        });
        for (int i = 0; i < 100; i++)
        {
            var msg = Encoding.ASCII.GetBytes($"message {i} " + new string('x', i * 10));
            await Net.SendAllAsync(c, msg);
            Assert.Equal(msg, await Net.ReadExactlyAsync(c, msg.Length));
        }
        stop.Cancel();
        await churn;
    }

    [Fact]
    public async Task Reset_keeps_a_persistent_connection_working()
    {
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        for (int round = 0; round < 3; round++)
        {
            p.AddToxic(ToxicSpec.Create("noop", "upstream", 1, null, "nu"));
            p.AddToxic(ToxicSpec.Create("noop", "downstream", 1, null, "nd"));
            await Net.SendAllAsync(c, Encoding.ASCII.GetBytes("ping"));
            Assert.Equal("ping", Encoding.ASCII.GetString(await Net.ReadExactlyAsync(c, 4)));
            _fx.Proxies.Reset();
            Assert.Empty(p.Toxics);
        }
    }

    [Fact]
    public async Task An_unreachable_upstream_gives_the_client_EOF()
    {
        int deadPort = TestServer.FreePort();
        var p = _fx.Create($"127.0.0.1:{deadPort}");
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        long t0 = Stopwatch.GetTimestamp();
        Assert.Empty(await Net.ReadToEndAsync(c, 5000));
        Assert.True(Net.Ms(t0) < 500 + Slack.Ms);
        await Net.EventuallyAsync(() => p.Snapshot().DialFailures == 1, what: "dial failure counted");
    }

    [Fact]
    public async Task A_slow_upstream_dial_does_not_block_other_accepts()
    {
        // An upstream whose accept queue is full never completes the handshake; dials to it hang until the timeout.
        using var full = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        full.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        full.Listen(0);
        var fillers = new List<Socket>();
        var slowAddr = (IPEndPoint)full.LocalEndPoint!;
        for (int i = 0; i < 8; i++)
        {
            var f = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            _ = f.ConnectAsync(slowAddr);
            fillers.Add(f);
        }
        await Task.Delay(100);
        var p = _fx.Proxies.Create("slow", "127.0.0.1:0", $"127.0.0.1:{slowAddr.Port}", connectTimeout: TimeSpan.FromMilliseconds(1500));
        var hanging = new List<Socket>();
        for (int i = 0; i < 5; i++) hanging.Add(await ProxyFixture.ConnectAsync(p.Listen));
        // Meanwhile another proxy (and this one's accept loop) still answer promptly.
        using var echo = TestServer.Echo();
        var q = _fx.Create(echo.Address, "fast");
        using var c = await ProxyFixture.ConnectAsync(q.Listen);
        await Net.SendAllAsync(c, Encoding.ASCII.GetBytes("x"));
        Assert.Equal("x", Encoding.ASCII.GetString(await Net.ReadExactlyAsync(c, 1, 5000)));
        var sw = Stopwatch.StartNew();
        using var extra = await ProxyFixture.ConnectAsync(p.Listen); // accept is not serialised behind the hanging dials
        Assert.True(sw.ElapsedMilliseconds < 1000, $"accept took {sw.ElapsedMilliseconds} ms");
        // After the connect timeout the clients get EOF and the failures are counted.
        foreach (var h in hanging) Assert.Empty(await Net.ReadToEndAsync(h, 10000));
        await Net.EventuallyAsync(() => p.Snapshot().DialFailures >= 5, 10000, "dial failures");
        foreach (var s in hanging.Concat(fillers)) s.Dispose();
    }

    [Fact]
    public async Task Disable_closes_every_connection_and_refuses_new_ones_and_enable_keeps_toxics()
    {
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address);
        p.AddToxic(ToxicSpec.Create("latency", "downstream", 1, new Dictionary<string, long> { ["latency"] = 1 }, "keep"));
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        await Net.SendAllAsync(c, new byte[] { 1 });
        await Net.ReadExactlyAsync(c, 1);
        var listen = p.Listen;
        p.Disable();
        Assert.Empty(await Net.ReadToEndAsync(c, 5000));
        var e = await Assert.ThrowsAsync<SocketException>(() => ProxyFixture.ConnectAsync(listen));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
        p.Enable();
        Assert.Equal(listen, p.Listen);
        Assert.Single(p.Toxics);
        using var c2 = await ProxyFixture.ConnectAsync(listen);
        await Net.SendAllAsync(c2, new byte[] { 2 });
        Assert.Equal(2, (await Net.ReadExactlyAsync(c2, 1))[0]);
    }

    [Fact]
    public async Task Refuse_connect_refuses_new_connections_and_keeps_open_ones()
    {
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        // Open means through the proxy: a round trip first (a connect returns once the kernel's handshake is done,
        // possibly before the proxy accepted it, and one still in the backlog is refused like a new one).
        await Net.SendAllAsync(c, new byte[] { 1 });
        Assert.Equal(1, (await Net.ReadExactlyAsync(c, 1))[0]);
        p.AddToxic(ToxicSpec.Create("refuse_connect", "downstream", 1, null, "refuse"));
        var e = await Assert.ThrowsAsync<SocketException>(() => ProxyFixture.ConnectAsync(p.Listen));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
        await Net.SendAllAsync(c, new byte[] { 7 });
        Assert.Equal(7, (await Net.ReadExactlyAsync(c, 1))[0]);
        p.RemoveToxic("refuse");
        using var c2 = await ProxyFixture.ConnectAsync(p.Listen);
    }

    [Fact]
    public void A_listen_address_in_use_is_an_error_naming_it_and_nothing_is_created()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var addr = $"127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}";
        var e = Assert.Throws<ProxyException>(() => _fx.Proxies.Create("clash", addr, "127.0.0.1:1"));
        Assert.Equal(500, e.HttpStatus);
        Assert.Equal($"listen tcp {addr}: bind: address already in use", e.ApiMessage);
        Assert.Equal("ListenAddressInUse", e.ErrorId);
        Assert.Contains(addr, e.Message);
        Assert.False(_fx.Proxies.TryGet("clash", out _));
    }

    [Fact]
    public void A_non_loopback_listen_needs_the_explicit_switch()
    {
        var e = Assert.Throws<ProxyException>(() => _fx.Proxies.Create("wide", "0.0.0.0:0", "127.0.0.1:1"));
        Assert.Equal("NonLoopbackListen", e.ErrorId);
        Assert.False(_fx.Proxies.TryGet("wide", out _));
        // With the opt-in it is allowed (created disabled: this test sends no traffic anywhere).
        var p = _fx.Proxies.Create("wide", "0.0.0.0:0", "127.0.0.1:1", enabled: false, allowNonLoopback: true);
        Assert.False(p.Enabled);
    }

    [Fact]
    public void Bad_toxics_are_rejected_before_anything_changes()
    {
        var p = _fx.Create("127.0.0.1:1");
        Assert.Equal("InvalidToxicity", Assert.Throws<ProxyException>(() => ToxicSpec.Create("latency", "upstream", 1.5, null)).ErrorId);
        Assert.Equal("InvalidToxicAttribute", Assert.Throws<ProxyException>(() => ToxicSpec.Create("latency", "upstream", 1, new Dictionary<string, long> { ["latency"] = -1 })).ErrorId);
        Assert.Equal("InvalidToxicAttribute", Assert.Throws<ProxyException>(() => ToxicSpec.Create("latency", "upstream", 1, new Dictionary<string, long> { ["rate"] = 1 })).ErrorId);
        Assert.Equal("InvalidToxicAttribute", Assert.Throws<ProxyException>(() => ToxicSpec.Create("slicer", "upstream", 1, new Dictionary<string, long> { ["average_size"] = 0 })).ErrorId);
        Assert.Equal("InvalidToxicType", Assert.Throws<ProxyException>(() => ToxicSpec.Create("walrus", "upstream", 1, null)).ErrorId);
        Assert.Equal("InvalidToxicStream", Assert.Throws<ProxyException>(() => ToxicSpec.Create("latency", "walrustream", 1, null)).ErrorId);
        p.AddToxic(ToxicSpec.Create("latency", "upstream", 1, new Dictionary<string, long> { ["latency"] = 5 }));
        Assert.Throws<ProxyException>(() => p.UpdateToxic("latency_upstream", 2.0, null));
        Assert.Equal(1.0, p.GetToxic("latency_upstream").Toxicity);
        Assert.Equal(409, Assert.Throws<ProxyException>(() => p.AddToxic(ToxicSpec.Create("latency", "upstream", 1, null))).HttpStatus);
    }

    [Fact]
    public async Task Both_stream_applies_in_both_directions()
    {
        long serverGotAt = 0;
        using var server = new TestServer(async s =>
        {
            await Net.ReadLineAsync(s);
            serverGotAt = Stopwatch.GetTimestamp();
            await Net.SendAllAsync(s, Encoding.ASCII.GetBytes("ok\n"));
        });
        var p = _fx.Create(server.Address);
        p.AddToxic(ToxicSpec.Create("latency", "both", 1, new Dictionary<string, long> { ["latency"] = 200 }));
        Assert.Equal("latency_both", p.Toxics.Single().Name);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        long t0 = Stopwatch.GetTimestamp();
        await Net.SendAllAsync(c, Encoding.ASCII.GetBytes("hi\n"));
        await Net.ReadLineAsync(c);
        Slack.AtLeast(Stopwatch.GetElapsedTime(t0, serverGotAt).TotalMilliseconds, 200, "upstream half");
        Slack.AtLeast(Net.Ms(serverGotAt), 200, "downstream half");
    }

    [Fact]
    public async Task Memory_stays_bounded_under_a_1000ms_latency_with_a_fast_sender()
    {
        // The server floods; the client reads nothing for a while. The proxy may hold at most its queue (16 MiB per
        // direction) plus socket buffers: the sender is pushed back, not buffered without bound.
        long sent = 0;
        using var server = new TestServer(async s =>
        {
            var chunk = new byte[65536];
            try { while (true) { await Net.SendAllAsync(s, chunk); Interlocked.Add(ref sent, chunk.Length); } } catch { }
        });
        var p = _fx.Create(server.Address);
        p.AddToxic(ToxicSpec.Create("latency", "downstream", 1, new Dictionary<string, long> { ["latency"] = 1000 }));
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        c.ReceiveBufferSize = 64 * 1024;
        await Task.Delay(1500);
        long a = Interlocked.Read(ref sent);
        await Task.Delay(1000);
        long b = Interlocked.Read(ref sent);
        long proxied = p.Snapshot().BytesDownstream;
        long limit = Pipe.QueueCapacity * (long)Pipe.BufferSize + 32 * 1024 * 1024; // queue + generous socket buffers
        Assert.True(b - proxied <= limit, $"sender got {b / 1e6:F1} MB ahead of delivery ({proxied / 1e6:F1} MB); bound {limit / 1e6:F1} MB");
        Assert.True(b - a <= limit, $"sender kept going ({(b - a) / 1e6:F1} MB in 1 s) while nobody read");
    }

    [Fact]
    public async Task Bulk_transfer_with_no_toxics_arrives_whole()
    {
        const int Total = 256 * 1024 * 1024;
        var done = new TaskCompletionSource<long>();
        using var server = new TestServer(async s =>
        {
            var buf = new byte[256 * 1024];
            long got = 0; int n;
            while ((n = await s.ReceiveAsync(buf, SocketFlags.None)) > 0) got += n;
            done.TrySetResult(got);
        });
        var p = _fx.Create(server.Address);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        var chunk = new byte[1024 * 1024];
        var sw = Stopwatch.StartNew();
        for (int sentBytes = 0; sentBytes < Total; sentBytes += chunk.Length) await Net.SendAllAsync(c, chunk);
        c.Shutdown(SocketShutdown.Send);
        Assert.Equal(Total, await done.Task.WaitAsync(TimeSpan.FromSeconds(60)));
        // Reported, never asserted (shared CI): scripts/bench/proxy.ps1 measures it side by side.
        Console.WriteLine($"bulk through proxy: {Total / sw.Elapsed.TotalSeconds / 1e6:F0} MB/s");
    }

    [Fact]
    public async Task Live_metrics_count_connections_and_activations()
    {
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address);
        p.AddToxic(ToxicSpec.Create("noop", "upstream", 1, null, "n"));
        var socks = new List<Socket>();
        for (int i = 0; i < 3; i++)
        {
            var s = await ProxyFixture.ConnectAsync(p.Listen);
            await Net.SendAllAsync(s, new byte[] { 1, 2, 3 });
            await Net.ReadExactlyAsync(s, 3);
            socks.Add(s);
        }
        await Net.EventuallyAsync(() => p.Snapshot() is { BytesUpstream: 9, BytesDownstream: 9 }, what: "9 bytes counted each way");
        var snap = p.Snapshot();
        Assert.Equal(3, snap.ActiveConnections);
        Assert.Equal(3, snap.ConnectionsTotal);
        Assert.Equal(3, snap.ToxicActivations);
        foreach (var s in socks) s.Dispose();
        await Net.EventuallyAsync(() => p.Snapshot().ActiveConnections == 0, what: "connections closed");
    }

    [Fact]
    public async Task Stop_is_idempotent_and_the_name_is_free_again()
    {
        var p = _fx.Create("127.0.0.1:1", "again");
        var listen = p.Listen;
        _fx.Proxies.Remove("again");
        Assert.Throws<ProxyException>(() => _fx.Proxies.Remove("again"));
        p.Disable(); p.Disable();
        await Assert.ThrowsAsync<SocketException>(() => ProxyFixture.ConnectAsync(listen));
        _fx.Proxies.Create("again", listen, "127.0.0.1:1"); // same address can be bound again at once
    }

    [Fact]
    public async Task Close_race_add_dial_write_close_remove_never_deadlocks()
    {
        // toxiproxy's CloseRace (1000 loops there; 200 here to stay fast on a 2-core CI).
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < 200; i++)
        {
            p.AddToxic(ToxicSpec.Create("latency", "upstream", 1, new Dictionary<string, long> { ["latency"] = 10 }, "race"));
            using (var c = await ProxyFixture.ConnectAsync(p.Listen))
                await Net.SendAllAsync(c, Encoding.ASCII.GetBytes("hello"));
            p.RemoveToxic("race");
        }
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(60));
        await Net.EventuallyAsync(() => p.ActiveConnections == 0, 10000, "all links closed");
    }

    [Fact]
    public async Task Removing_rate_0_bandwidth_toxics_under_a_flood_does_not_hang()
    {
        using var server = new TestServer(async s => { await Net.ReadToEndAsync(s, 30000); });
        var p = _fx.Create(server.Address);
        p.AddToxic(ToxicSpec.Create("bandwidth", "upstream", 1, new Dictionary<string, long> { ["rate"] = 0 }, "b1"));
        p.AddToxic(ToxicSpec.Create("bandwidth", "upstream", 1, new Dictionary<string, long> { ["rate"] = 0 }, "b2"));
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        using var stop = new CancellationTokenSource();
        var flood = Task.Run(async () => { var b = new byte[65536]; try { while (!stop.IsCancellationRequested) await Net.SendAllAsync(c, b); } catch { } });
        await Task.Delay(200);
        var sw = Stopwatch.StartNew();
        p.RemoveToxic("b1");
        p.RemoveToxic("b2");
        Assert.True(sw.ElapsedMilliseconds < 1000, $"removal took {sw.ElapsedMilliseconds} ms");
        stop.Cancel();
        c.Dispose();
        await flood;
    }

    [Fact]
    public async Task Update_to_port_0_moves_and_same_address_keeps_live_connections()
    {
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        var listen = p.Listen;
        p.Update(listen.Replace("127.0.0.1", "localhost"), null, null); // same resolved address: nothing restarts
        await Net.SendAllAsync(c, new byte[] { 9 });
        Assert.Equal(9, (await Net.ReadExactlyAsync(c, 1))[0]);
        p.Update("localhost:0", null, null);                             // a new address: restart on a new port
        Assert.NotEqual(listen, p.Listen);
        Assert.Empty(await Net.ReadToEndAsync(c, 5000));               // the old connections were dropped
        using var c2 = await ProxyFixture.ConnectAsync(p.Listen);
        await Net.SendAllAsync(c2, new byte[] { 8 });
        Assert.Equal(8, (await Net.ReadExactlyAsync(c2, 1))[0]);
    }

    [Fact]
    public async Task Proxy_overhead_per_hop_is_reported()
    {
        // toxiproxy asserts < 300 us per hop on average; measured and printed here, asserted only loosely (shared CI).
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address);
        using var direct = await ProxyFixture.ConnectAsync(server.Address);
        using var via = await ProxyFixture.ConnectAsync(p.Listen);
        var msg = Encoding.ASCII.GetBytes("hello world\n");
        async Task<double> Run(Socket s)
        {
            for (int i = 0; i < 20; i++) { await Net.SendAllAsync(s, msg); await Net.ReadExactlyAsync(s, msg.Length); }
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 100; i++) { await Net.SendAllAsync(s, msg); await Net.ReadExactlyAsync(s, msg.Length); }
            return sw.Elapsed.TotalMicroseconds / 100;
        }
        double d = await Run(direct), v = await Run(via);
        Console.WriteLine($"echo round trip: direct {d:F0} us, via proxy {v:F0} us, added per hop {(v - d) / 2:F0} us");
        Assert.True(v < 1_000_000);
    }
}
