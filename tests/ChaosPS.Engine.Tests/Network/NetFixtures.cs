using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using ChaosPS.Network;

namespace ChaosPS.Engine.Tests.Network;

/// <summary>Network tests share one collection: they run one at a time, so a bulk transfer does not skew a latency check.</summary>
[CollectionDefinition("Network", DisableParallelization = true)]
public sealed class NetworkCollection;

/// <summary>
/// Timing tolerances for a busy 2-core CI: every timed check asserts a lower bound (the toxic really delayed) and a
/// generous upper bound. CHAOSPS_NET_SLACK_MS widens the upper bounds (default 1000 ms).
/// </summary>
public static class Slack
{
    public static readonly double Ms = double.TryParse(Environment.GetEnvironmentVariable("CHAOSPS_NET_SLACK_MS"), out var v) ? v : 1000;
    /// <summary>Timers may fire a little early relative to our stopwatch; allow this much below a lower bound.</summary>
    public const double Early = 5;

    public static void AtLeast(double actualMs, double expectedMs, string what)
        => Assert.True(actualMs >= expectedMs - Early, $"{what}: {actualMs:F1} ms, expected at least {expectedMs} ms");

    public static void Around(double actualMs, double expectedMs, double jitterMs, string what)
    {
        Assert.True(actualMs >= expectedMs - jitterMs - Early, $"{what}: {actualMs:F1} ms, expected >= {expectedMs - jitterMs} ms");
        Assert.True(actualMs <= expectedMs + jitterMs + Ms, $"{what}: {actualMs:F1} ms, expected <= {expectedMs + jitterMs + Ms} ms (slack {Ms})");
    }
}

/// <summary>A toxiproxy API server on a free port over its own proxies, and an HttpClient that talks to it as toxiproxy-cli.</summary>
public abstract class ToxiproxyApiFixture : IAsyncLifetime
{
    protected ProxyCollection Proxies { get; } = new();
    protected ToxiproxyApiServer Server { get; private set; } = null!;
    protected HttpClient Client { get; private set; } = null!;

    public Task InitializeAsync()
    {
        Server = ToxiproxyApiServer.Start("127.0.0.1:0", Proxies);
        Client = new HttpClient { BaseAddress = Server.Uri };
        Client.DefaultRequestHeaders.UserAgent.ParseAdd("toxiproxy-cli");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
        Proxies.Clear();
    }
}

public sealed class ProxyFixture : IDisposable
{
    public ProxyCollection Proxies { get; } = new();

    /// <summary>A proxy on a free port; <paramref name="relay"/> false keeps every byte on the managed path.</summary>
    public ChaosProxy Create(string upstream, string name = "test", bool relay = true)
    {
        var p = Proxies.Create(name, "127.0.0.1:0", upstream);
        p.UseRelay = relay && RelayLoop.Supported;
        return p;
    }

    public static async Task<Socket> ConnectAsync(string address)
    {
        var (host, port) = ListenAddress.Split(address);
        var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await s.ConnectAsync(IPAddress.Parse(host), port);
        return s;
    }

    public void Dispose() => Proxies.Clear();
}

public static class Net
{
    public static async Task SendAllAsync(Socket s, ReadOnlyMemory<byte> data)
    {
        while (data.Length > 0) data = data[await s.SendAsync(data, SocketFlags.None)..];
    }

    public static async Task<byte[]> ReadExactlyAsync(Socket s, int count, int timeoutMs = 30000)
    {
        var buf = new byte[count];
        int got = 0;
        using var cts = new CancellationTokenSource(timeoutMs);
        while (got < count)
        {
            int n = await s.ReceiveAsync(buf.AsMemory(got), SocketFlags.None, cts.Token);
            if (n == 0) throw new EndOfStreamException($"EOF after {got} of {count} bytes");
            got += n;
        }
        return buf;
    }

    /// <summary>Reads until EOF (or the timeout): everything received.</summary>
    public static async Task<byte[]> ReadToEndAsync(Socket s, int timeoutMs = 30000)
    {
        using var ms = new MemoryStream();
        var buf = new byte[65536];
        using var cts = new CancellationTokenSource(timeoutMs);
        int n;
        while ((n = await s.ReceiveAsync(buf, SocketFlags.None, cts.Token)) > 0) ms.Write(buf, 0, n);
        return ms.ToArray();
    }

    public static async Task<string> ReadLineAsync(Socket s, int timeoutMs = 30000)
    {
        var sb = new StringBuilder();
        var one = new byte[1];
        using var cts = new CancellationTokenSource(timeoutMs);
        while (true)
        {
            int n = await s.ReceiveAsync(one, SocketFlags.None, cts.Token);
            if (n == 0) throw new EndOfStreamException("EOF before newline");
            if (one[0] == (byte)'\n') return sb.ToString();
            sb.Append((char)one[0]);
        }
    }

    public static double Ms(long fromTimestamp) => Stopwatch.GetElapsedTime(fromTimestamp).TotalMilliseconds;

    public static async Task EventuallyAsync(Func<bool> condition, int timeoutMs = 5000, string? what = null)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.ElapsedMilliseconds > timeoutMs) Assert.Fail($"timed out waiting for {what ?? "condition"}");
            await Task.Delay(10);
        }
    }
}
