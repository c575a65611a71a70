using System.Globalization;
using System.Net.Sockets;
using System.Text;
using ChaosPS.Network;

namespace ChaosPS.Engine.Tests.Network;

/// <summary>
/// Nothing leaks when links end: this process's descriptors are counted before and after many proxied connections
/// that end every way a link can end (client close, upstream close, reset by a toxic, toxics added and removed
/// mid-stream, /reset, dial failures, a disabled proxy), on the relay loops and on the managed path. No timing is
/// asserted: the test waits (generously) until the proxy has no links, then counts.
/// </summary>
[Collection("Network")]
public sealed class ProxyDescriptorTests : IDisposable
{
    private readonly ProxyFixture _fx = new();
    public void Dispose() => _fx.Dispose();

    private static int OpenDescriptors() => Directory.GetFiles("/proc/self/fd").Length;

    /// <summary>Pipes among this process's descriptors (the relay's splice pipes are pipes; few else here are).</summary>
    private static int OpenPipes() => Directory.GetFiles("/proc/self/fd").Count(fd =>
    {
        try { return new FileInfo(fd).LinkTarget?.StartsWith("pipe:", StringComparison.Ordinal) == true; } catch (IOException) { return false; }
    });

    /// <summary>What the descriptors point at, counted by kind (socket, pipe, anon_inode:[eventpoll], a path), for a failure message.</summary>
    private static string DescribeDescriptors()
    {
        var kinds = new Dictionary<string, int>();
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            string kind;
            try { kind = new FileInfo(fd).LinkTarget ?? "?"; } catch (IOException) { continue; }
            int b = kind.IndexOf(":[", StringComparison.Ordinal);
            if (b > 0) kind = kind[..b];
            kinds[kind] = kinds.GetValueOrDefault(kind) + 1;
        }
        return string.Join(", ", kinds.OrderByDescending(k => k.Value).Take(6).Select(k => $"{k.Key} {k.Value}"));
    }

    /// <summary>Echoes until EOF or an error, and always closes its socket (TestServer.Echo leaves a reset one open).</summary>
    private static TestServer ClosingEcho() => new(async s =>
    {
        try
        {
            var buf = new byte[65536];
            int n;
            while ((n = await s.ReceiveAsync(buf, SocketFlags.None)) > 0)
                await s.SendAsync(buf.AsMemory(0, n), SocketFlags.None);
            s.Shutdown(SocketShutdown.Send);
        }
        finally { s.Dispose(); }
    });

    /// <summary>Socket inodes of this process's descriptors.</summary>
    private static HashSet<string> SocketInodes()
    {
        var set = new HashSet<string>();
        foreach (var fd in Directory.GetFiles("/proc/self/fd"))
        {
            string? target;
            try { target = new FileInfo(fd).LinkTarget; } catch (IOException) { continue; }
            if (target is not null && target.StartsWith("socket:[", StringComparison.Ordinal)) set.Add(target[8..^1]);
        }
        return set;
    }

    /// <summary>
    /// This process's connected TCP sockets that touch one of <paramref name="ports"/> (local or remote) by /proc/net/tcp{,6}: the
    /// exact leak check (other tests running meanwhile may open descriptors of their own, never on these ports).
    /// </summary>
    private static List<string> SocketsOnPorts(params int[] ports)
    {
        var mine = SocketInodes();
        var hits = new List<string>();
        foreach (var table in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            if (!File.Exists(table)) continue;
            foreach (var line in File.ReadLines(table).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 10 || !mine.Contains(f[9]) || f[3] == "0A") continue; // listeners (state LISTEN) stay
                int local = int.Parse(f[1][(f[1].IndexOf(':') + 1)..], NumberStyles.HexNumber);
                int remote = int.Parse(f[2][(f[2].IndexOf(':') + 1)..], NumberStyles.HexNumber);
                if (ports.Contains(local) || ports.Contains(remote)) hits.Add($"{f[1]} -> {f[2]} state {f[3]} inode {f[9]}");
            }
        }
        return hits;
    }

    private static async Task RoundTripAsync(Socket c, string text)
    {
        await Net.SendAllAsync(c, Encoding.ASCII.GetBytes(text));
        Assert.Equal(text, Encoding.ASCII.GetString(await Net.ReadExactlyAsync(c, text.Length)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Many_connections_ending_every_way_leave_no_descriptor_behind(bool relay)
    {
        if (!OperatingSystem.IsLinux()) return; // /proc
        using var server = ClosingEcho();
        var p = _fx.Create(server.Address, relay: relay);
        int listenPort = ListenAddress.Split(p.Listen).Port;
        // Warm up once (loop threads, their epoll and eventfd descriptors, the runtime's own) before the first count.
        using (var w = await ProxyFixture.ConnectAsync(p.Listen)) await RoundTripAsync(w, "warm");
        await Net.EventuallyAsync(() => p.ActiveConnections == 0, 30000, "the warm-up link closed");
        int before = OpenDescriptors(), pipesBefore = OpenPipes();
        string beforeKinds = DescribeDescriptors();

        const int Rounds = 60;
        for (int i = 0; i < Rounds; i++)
        {
            // 1. plain: a round trip, the client closes.
            using (var c = await ProxyFixture.ConnectAsync(p.Listen)) await RoundTripAsync(c, $"plain {i}");

            // 2. a toxic added to the live link, traffic through it, removed again, then closed (relay -> chain -> relay).
            using (var c = await ProxyFixture.ConnectAsync(p.Listen))
            {
                await RoundTripAsync(c, "before");
                p.AddToxic(ToxicSpec.Create("latency", "downstream", 1, new Dictionary<string, long> { ["latency"] = 0 }, "lat"));
                await RoundTripAsync(c, "during");
                p.RemoveToxic("lat");
                await RoundTripAsync(c, "after");
            }

            // 3. /reset while a toxic sits on the live link; the client half-closes and reads to the end.
            using (var c = await ProxyFixture.ConnectAsync(p.Listen))
            {
                p.AddToxic(ToxicSpec.Create("bandwidth", "upstream", 1, new Dictionary<string, long> { ["rate"] = 1000 }, "bw"));
                await RoundTripAsync(c, "reset");
                p.RemoveAllToxics();
                c.Shutdown(SocketShutdown.Send);
                await Net.ReadToEndAsync(c);
            }

            // 4. reset by a toxic added mid-stream (both sockets closed with SO_LINGER 0).
            using (var c = await ProxyFixture.ConnectAsync(p.Listen))
            {
                await RoundTripAsync(c, "x");
                p.AddToxic(ToxicSpec.Create("reset_peer", "upstream", 1, new Dictionary<string, long> { ["timeout"] = 0 }, "rst"));
                try { await Net.SendAllAsync(c, "boom"u8.ToArray()); await Net.ReadToEndAsync(c); }
                catch (SocketException) { } // the reset
                p.RemoveToxic("rst");
            }

            // 5. data in flight when the client resets its own end.
            var r = await ProxyFixture.ConnectAsync(p.Listen);
            await Net.SendAllAsync(r, new byte[100_000]);
            r.LingerState = new LingerOption(true, 0);
            r.Dispose();
        }

        // 6. dial failures: an upstream nobody listens on.
        using (var dead = new TestServer(_ => Task.CompletedTask))
        {
            var q = _fx.Create(dead.Address, name: "dead", relay: relay);
            dead.Dispose();
            for (int i = 0; i < 20; i++)
            {
                using var c = await ProxyFixture.ConnectAsync(q.Listen);
                await Net.ReadToEndAsync(c); // the proxy closes the client: EOF
            }
            await Net.EventuallyAsync(() => q.Snapshot().DialFailures == 20, 30000, "every dial failed");
            _fx.Proxies.Remove(q.Name);
        }

        // 7. bulk streams (on the relay they move through splice pipes), ending by EOF, with a toxic joining mid-stream,
        //    and by a client reset mid-stream.
        const long Bulk = 24L * 1024 * 1024;
        using var source = new TestServer(async s =>
        {
            try
            {
                var chunk = new byte[256 * 1024];
                for (long sent = 0; sent < Bulk; sent += chunk.Length) await Net.SendAllAsync(s, chunk);
                s.Shutdown(SocketShutdown.Send);
                await Net.ReadToEndAsync(s);
            }
            finally { s.Dispose(); }
        });
        var bulk = _fx.Create(source.Address, name: "bulk", relay: relay);
        int bulkPort = ListenAddress.Split(bulk.Listen).Port;
        long spliced = 0;
        for (int i = 0; i < 6; i++)
        {
            using var c = await ProxyFixture.ConnectAsync(bulk.Listen);
            var buf = new byte[1024 * 1024];
            long got = 0;
            bool toxicAdded = false;
            int n;
            while ((n = await c.ReceiveAsync(buf, SocketFlags.None)) > 0)
            {
                got += n;
                if (got > Bulk / 2 && !toxicAdded)
                {
                    spliced += bulk.Links.Sum(l => l.Down.SplicedReads);
                    if (i % 3 == 1) { c.LingerState = new LingerOption(true, 0); break; } // reset mid-stream
                    if (i % 3 == 2) bulk.AddToxic(ToxicSpec.Create("latency", "downstream", 1, new Dictionary<string, long> { ["latency"] = 0 }, "mid"));
                    toxicAdded = true;
                }
            }
            if (bulk.HasToxic("mid")) bulk.RemoveToxic("mid");
            if (i % 3 != 1) Assert.Equal(Bulk, got);
        }
        if (relay && RelayLoop.Supported && RelayLoop.SplicePipes) Assert.True(spliced > 0, "no bulk read went through a splice pipe");
        await Net.EventuallyAsync(() => bulk.ActiveConnections == 0, 60000, "every bulk link closed");
        await Net.EventuallyAsync(() => SocketsOnPorts(bulkPort, source.Port).Count == 0, 60000,
            "the bulk proxy's sockets closed: " + string.Join("; ", SocketsOnPorts(bulkPort, source.Port)));
        _fx.Proxies.Remove(bulk.Name);

        // 8. a proxy disabled with links open, then enabled again (the listener leaves the loops and comes back).
        var open = new List<Socket>();
        for (int i = 0; i < 10; i++) { var c = await ProxyFixture.ConnectAsync(p.Listen); await RoundTripAsync(c, "open"); open.Add(c); }
        p.Disable();
        p.Enable();
        foreach (var c in open) c.Dispose();
        using (var c = await ProxyFixture.ConnectAsync(p.Listen)) await RoundTripAsync(c, "back");

        await Net.EventuallyAsync(() => p.ActiveConnections == 0, 60000, "every link closed");
        await Net.EventuallyAsync(() => SocketsOnPorts(listenPort, server.Port).Count == 0, 60000,
            "the proxy's sockets closed: " + string.Join("; ", SocketsOnPorts(listenPort, server.Port)));
        // A handful of descriptors may come and go with the runtime (and tests in other collections); a leak here would
        // be hundreds (Rounds x 5 links x 2 sockets).
        // Splice pipes: a leak would be two per bulk link (12); other tests' processes may hold a pipe or two meanwhile.
        await Net.EventuallyAsync(() => OpenPipes() <= pipesBefore + 4, 60000, $"pipes back to {pipesBefore} (+4): now {DescribeDescriptors()}");
        await Net.EventuallyAsync(() => OpenDescriptors() <= before + 16, 60000,
            $"descriptors back to {before} (+16): before {beforeKinds}; now {DescribeDescriptors()}");
        Assert.Equal(1 + Rounds * 5 + 10 + 1, p.Snapshot().ConnectionsTotal);
    }
}
