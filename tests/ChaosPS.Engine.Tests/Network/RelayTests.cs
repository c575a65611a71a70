using System.Net;
using System.Net.Sockets;
using System.Text;
using ChaosPS.Network;

namespace ChaosPS.Engine.Tests.Network;

/// <summary>
/// The relay loop (the toxic-free fast path) and its hand-over to the managed path and back: bytes are never lost,
/// duplicated or reordered, whoever reads a direction; back-pressure and half-closes behave as on the managed path.
/// </summary>
[Collection("Network")]
public sealed class RelayTests : IDisposable
{
    private readonly ProxyFixture _fx = new();
    public void Dispose() => _fx.Dispose();

    private static byte Pattern(long i) => (byte)(i * 7 % 251);

    /// <summary>A server that sends <paramref name="total"/> pattern bytes, then closes.</summary>
    private static TestServer PatternSource(long total) => new(async s =>
    {
        var chunk = new byte[256 * 1024];
        long sent = 0;
        while (sent < total)
        {
            int n = (int)Math.Min(chunk.Length, total - sent);
            for (int i = 0; i < n; i++) chunk[i] = Pattern(sent + i);
            await Net.SendAllAsync(s, chunk.AsMemory(0, n));
            sent += n;
        }
        s.Shutdown(SocketShutdown.Send);
        s.Dispose();
    });

    /// <summary>Reads to EOF in small pieces with pauses (a slow reader), checking every byte against the pattern.</summary>
    private static async Task<long> ReadPatternSlowlyAsync(Socket c, int pauseEvery)
    {
        var buf = new byte[4096];
        long got = 0;
        int reads = 0;
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        int n;
        while ((n = await c.ReceiveAsync(buf, SocketFlags.None, cts.Token)) > 0)
        {
            for (int i = 0; i < n; i++)
                if (buf[i] != Pattern(got + i)) Assert.Fail($"byte {got + i} is {buf[i]}, expected {Pattern(got + i)}");
            got += n;
            if (++reads % pauseEvery == 0) await Task.Delay(1);
        }
        return got;
    }

    [Fact]
    public async Task Toxic_free_directions_are_relayed_and_a_toxic_sends_only_its_direction_through_the_chain_until_removed()
    {
        if (!RelayLoop.Supported) return; // the relay exists on x64 Linux only; the managed path is tested everywhere
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        async Task RoundTrip(string text)
        {
            await Net.SendAllAsync(c, Encoding.ASCII.GetBytes(text));
            Assert.Equal(text, Encoding.ASCII.GetString(await Net.ReadExactlyAsync(c, text.Length)));
        }
        await RoundTrip("one");
        var link = Assert.Single(p.Links);
        Assert.NotNull(link.Relay);
        Assert.Equal((1L, 0L), (link.Up.RelayedReads, link.Up.ChainedReads));
        Assert.Equal((1L, 0L), (link.Down.RelayedReads, link.Down.ChainedReads));
        // A toxic-free link makes no chain queue (it is made when a toxic first needs it, below).
        Assert.False(link.Up.HasQueue || link.Down.HasQueue, "a toxic-free relayed link made a chain queue");
        // The client socket inherits TCP_NODELAY from the listener (no setsockopt per connection); the dial sets it upstream.
        Assert.True(link.Client.NoDelay, "TCP_NODELAY on the client socket");
        Assert.True(link.Server.NoDelay, "TCP_NODELAY on the upstream socket");

        p.AddToxic(ToxicSpec.Create("latency", "downstream", 1, new Dictionary<string, long> { ["latency"] = 20 }, "lat"));
        long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        await RoundTrip("two");
        Slack.AtLeast(Net.Ms(t0), 20, "latency toxic on a relayed link");
        Assert.Equal((2L, 0L), (link.Up.RelayedReads, link.Up.ChainedReads));
        Assert.Equal((1L, 1L), (link.Down.RelayedReads, link.Down.ChainedReads));
        Assert.True(link.Down.HasQueue && !link.Up.HasQueue, "only the toxic's direction made a queue");

        p.RemoveToxic("lat");
        await Net.EventuallyAsync(() => !link.Down.NeedsChain, what: "the chain's queue drained");
        await RoundTrip("three");
        await RoundTrip("four");
        Assert.Equal((4L, 0L), (link.Up.RelayedReads, link.Up.ChainedReads));
        Assert.Equal((3L, 1L), (link.Down.RelayedReads, link.Down.ChainedReads));
        await Net.EventuallyAsync(() => p.Snapshot().BytesDownstream == 3 + 3 + 5 + 4, what: "every byte counted (a counter moves just after its write)");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_slow_reader_gets_every_byte_in_order(bool relay)
    {
        const long Total = 24L * 1024 * 1024;
        using var server = PatternSource(Total);
        var p = _fx.Create(server.Address, relay: relay);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        c.ReceiveBufferSize = 32 * 1024;
        Assert.Equal(Total, await ReadPatternSlowlyAsync(c, pauseEvery: 64));
        await Net.EventuallyAsync(() => p.Snapshot().BytesDownstream == Total, what: "every byte counted");
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public async Task A_reader_that_stops_stalls_the_sender_instead_of_filling_memory(bool relay, bool toxic)
    {
        long sent = 0;
        using var server = new TestServer(async s =>
        {
            var chunk = new byte[65536];
            try { while (true) { await Net.SendAllAsync(s, chunk); Interlocked.Add(ref sent, chunk.Length); } } catch { }
        });
        var p = _fx.Create(server.Address, relay: relay);
        if (toxic) p.AddToxic(ToxicSpec.Create("noop", "downstream", 1, null, "through-the-chain"));
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        c.ReceiveBufferSize = 64 * 1024;
        await Net.SendAllAsync(c, new byte[] { 1 });
        // The sender must come to a stop (socket buffers and the proxy's own hold full) and stay there.
        long before = -1;
        for (int i = 0; i < 40 && Interlocked.Read(ref sent) != before; i++) { before = Interlocked.Read(ref sent); await Task.Delay(500); }
        await Task.Delay(1000);
        Assert.Equal(before, Interlocked.Read(ref sent));
        // What the proxy itself holds (read from upstream, not yet written to the client): at most one read when the
        // relay writes straight on, the bounded chain queue otherwise (the relay pauses reading when it is full).
        long held = Interlocked.Read(ref p.MetricsCore.BytesReceivedDownstream) - Interlocked.Read(ref p.MetricsCore.BytesDownstream);
        long bound = relay && !toxic ? RelayLoop.MaxRead : Pipe.QueueCapacity * (long)Pipe.BufferSize;
        Assert.InRange(held, 0, bound);
    }

    [Fact]
    public async Task Toxics_churning_during_a_bulk_transfer_to_a_slow_reader_lose_nothing()
    {
        // Every add moves the direction to the managed path (with bytes possibly still waiting for the slow reader),
        // every removal lets it come back: the stream must stay whole and in order.
        const long Total = 32L * 1024 * 1024;
        using var server = PatternSource(Total);
        var p = _fx.Create(server.Address);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        c.ReceiveBufferSize = 64 * 1024;
        using var stop = new CancellationTokenSource();
        int rounds = 0;
        var churn = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                p.AddToxic(ToxicSpec.Create("latency", "downstream", 1, new Dictionary<string, long> { ["latency"] = Random.Shared.Next(0, 3) }, "churn"));
                await Task.Delay(Random.Shared.Next(0, 4));
                p.RemoveToxic("churn");
                await Task.Delay(Random.Shared.Next(0, 4));
                rounds++;
            }
        });
        long got = await ReadPatternSlowlyAsync(c, pauseEvery: 256);
        stop.Cancel();
        await churn;
        Assert.Equal(Total, got);
        Assert.True(rounds > 10, $"only {rounds} toxic rounds ran during the transfer");
    }

    [Fact]
    public async Task A_bulk_stream_moves_through_a_splice_pipe_and_a_toxic_added_mid_stream_takes_it_back_to_the_chain()
    {
        if (!RelayLoop.Supported || !RelayLoop.SplicePipes) return;
        const long Total = 96L * 1024 * 1024;
        using var server = PatternSource(Total);
        var p = _fx.Create(server.Address);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        var reading = Task.Run(() => ReadPatternSlowlyAsync(c, pauseEvery: int.MaxValue));
        var link = Assert.Single(p.Links);
        await Net.EventuallyAsync(() => link.Down.SplicedReads > 0 || reading.IsCompleted, 60000, "bulk reads went through the pipe");
        Assert.True(link.Down.SplicedReads > 0, "the transfer ended before it was spliced");
        // A toxic joins mid-stream: the next reads go through the chain (what waits in the pipe is written first).
        p.AddToxic(ToxicSpec.Create("latency", "downstream", 1, new Dictionary<string, long> { ["latency"] = 1 }, "lat"));
        await Net.EventuallyAsync(() => link.Down.ChainedReads > 0 || reading.IsCompleted, 60000, "reads went to the chain");
        p.RemoveToxic("lat");
        Assert.Equal(Total, await reading);
        Assert.True(link.Down.ChainedReads > 0, "the toxic never saw a read");
        await Net.EventuallyAsync(() => p.Snapshot().BytesDownstream == Total, what: "every byte counted");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_half_close_is_passed_on_and_the_other_direction_keeps_going(bool relay)
    {
        using var server = new TestServer(async s =>
        {
            var got = await Net.ReadToEndAsync(s); // the client's FIN arrives as EOF
            await Net.SendAllAsync(s, Encoding.ASCII.GetBytes($"got {got.Length} bytes"));
            s.Shutdown(SocketShutdown.Send);
        });
        var p = _fx.Create(server.Address, relay: relay);
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        await Net.SendAllAsync(c, new byte[100_000]);
        c.Shutdown(SocketShutdown.Send);
        Assert.Equal("got 100000 bytes", Encoding.ASCII.GetString(await Net.ReadToEndAsync(c)));
        await Net.EventuallyAsync(() => p.Snapshot().ActiveConnections == 0, what: "the link closed after both directions ended");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)] // every dial waits for its epoll event: the one-shot registration the link takes over with a MOD
    public async Task Short_links_in_a_row_each_get_their_own_bytes_and_end_as_the_peers_close(bool dialDoneAtOnce)
    {
        RelayLoop.CheckDialAtOnce = dialDoneAtOnce;
        try { await ShortLinksInARow(); }
        finally { RelayLoop.CheckDialAtOnce = true; }
    }

    private async Task ShortLinksInARow()
    {
        // Every link reuses the descriptor numbers and slot of the one before it: the upstream socket joins the epoll
        // set at its dial, and a closing link's sockets leave it by close(2). A stale registration or event reaching a
        // newer link would cross or cut its bytes here. Both orders of closing: the upstream first, then the client.
        using var server = new TestServer(async s =>
        {
            var got = await Net.ReadExactlyAsync(s, 8);
            await Net.SendAllAsync(s, got.Concat(got).ToArray());
            s.Shutdown(SocketShutdown.Send); // the upstream ends first (Connection: close)
            await Net.ReadToEndAsync(s);
        });
        var p = _fx.Create(server.Address);
        for (int i = 0; i < 200; i++)
        {
            using var c = await ProxyFixture.ConnectAsync(p.Listen);
            var mine = Encoding.ASCII.GetBytes($"link{i:D4}");
            await Net.SendAllAsync(c, mine);
            var back = await Net.ReadToEndAsync(c); // all of the answer, then EOF from the upstream's FIN
            Assert.Equal(Encoding.ASCII.GetString(mine.Concat(mine).ToArray()), Encoding.ASCII.GetString(back));
            if (i % 2 == 0) c.Shutdown(SocketShutdown.Send); // odd links: the client just closes
        }
        await Net.EventuallyAsync(() => p.Snapshot().ActiveConnections == 0, what: "every link closed");
        Assert.Equal(200L * 8, p.Snapshot().BytesUpstream);
        Assert.Equal(200L * 16, p.Snapshot().BytesDownstream);
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)] private static extern int dup(int fd);
    [System.Runtime.InteropServices.DllImport("libc")] private static extern int close(int fd);

    [Fact]
    public async Task An_event_left_by_a_closed_link_never_reaches_the_link_that_takes_its_slot()
    {
        // A closing link's sockets leave the epoll set by close(2); while another descriptor still holds one (here a dup,
        // in life a child process between fork and exec) its registration stays, and it keeps reporting under the old
        // link's slot. The slot's next link must not be disturbed: no bytes lost, no direction ended early. (The loop
        // drops such events by the link's generation; the old socket is fully shut down by then, so its events carry
        // EPOLLHUP, which the EOF-from-EPOLLRDHUP shortcut also refuses: this guards the pair.)
        if (!RelayLoop.Supported) return;
        using var server = TestServer.Echo();
        var p = _fx.Create(server.Address);
        var c1 = await ProxyFixture.ConnectAsync(p.Listen);
        await Net.SendAllAsync(c1, Encoding.ASCII.GetBytes("old"));
        await Net.ReadExactlyAsync(c1, 3);
        var old = Assert.Single(p.Links);
        int oldSlot = old.RelaySlot;
        // The upstream socket: the side whose direction ends last, so it is closed while still in the set.
        int held = dup(old.Fd(1));
        Assert.True(held >= 0, "dup failed");
        var open = new List<Socket>();
        try
        {
            c1.Shutdown(SocketShutdown.Send); // the echo server ends in turn, and the link closes
            await Net.EventuallyAsync(() => old.IsClosed && old.RelaySlot < 0, what: "the old link closed");
            // A link on the same loop and slot (one loop: the next link; several: one of the next few).
            Link? heir = null;
            for (int i = 0; i < 16 && heir is null; i++)
            {
                var c = await ProxyFixture.ConnectAsync(p.Listen);
                open.Add(c);
                await Net.SendAllAsync(c, Encoding.ASCII.GetBytes("hi"));
                await Net.ReadExactlyAsync(c, 2);
                var l = p.Links.Single(x => !x.IsClosed && x.ClientEndPoint == c.LocalEndPoint!.ToString());
                if (ReferenceEquals(l.Relay, old.Relay) && l.RelaySlot == oldSlot) heir = l;
            }
            if (heir is null) return; // the loops spread them elsewhere: nothing to check on this machine
            var mine = open[^1];
            for (int i = 0; i < 50; i++)
            {
                var text = $"round {i:D3}";
                await Net.SendAllAsync(mine, Encoding.ASCII.GetBytes(text));
                Assert.Equal(text, Encoding.ASCII.GetString(await Net.ReadExactlyAsync(mine, text.Length)));
                Assert.False(heir.IsClosed, $"the new link closed after round {i}: {heir.CloseReason}");
            }
        }
        finally
        {
            close(held);
            foreach (var c in open) c.Dispose();
            c1.Dispose();
        }
    }

    [Fact]
    public async Task An_IPv6_loopback_upstream_is_dialled_and_relayed()
    {
        TestServer server;
        try { server = TestServer.Echo(IPAddress.IPv6Loopback); }
        catch (SocketException) { return; } // no IPv6 on this host
        using var _ = server;
        var p = _fx.Create($"[::1]:{server.Port}");
        using var c = await ProxyFixture.ConnectAsync(p.Listen);
        await Net.SendAllAsync(c, Encoding.ASCII.GetBytes("over ::1"));
        Assert.Equal("over ::1", Encoding.ASCII.GetString(await Net.ReadExactlyAsync(c, 8)));
    }
}
