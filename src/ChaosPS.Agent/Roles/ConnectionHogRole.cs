using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ChaosPS.Stress;

namespace ChaosPS.Agent.Roles;

/// <summary>
/// `chaosps-agent conn-hog --address A --port P --count N ...`: opens N TCP connections (64 at a time), holds them
/// idle, and reports how many are still open twice a second (a connection the server closed reads as EOF).
/// </summary>
public sealed class ConnectionHogRole : IAgentRole
{
    public string Name => "conn-hog";

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var a = new StressorArgs(args);
        using var life = a.Lifetime(ct);
        var addr = IPAddress.Parse(a.Get("address") ?? "127.0.0.1");
        if (!IPAddress.IsLoopback(addr)) { StressorArgs.Say("ERROR NonLoopbackTarget only loopback targets are allowed"); return 2; }
        int port = a.Int("port", 80), count = a.Int("count", 1000);
        var timeout = TimeSpan.FromMilliseconds(a.Int("connect-timeout-ms", 5000));
        LinuxIo.RaiseFileLimit((ulong)(count + 256));
        var sockets = new ConcurrentBag<Socket>();
        int failed = 0; string? firstError = null;
        using var gate = new SemaphoreSlim(64);
        var tasks = Enumerable.Range(0, count).Select(async _ =>
        {
            await gate.WaitAsync(life.Token);
            var s = new Socket(addr.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                using var to = CancellationTokenSource.CreateLinkedTokenSource(life.Token);
                to.CancelAfter(timeout);
                await s.ConnectAsync(new IPEndPoint(addr, port), to.Token);
                sockets.Add(s);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                Interlocked.Increment(ref failed);
                Interlocked.CompareExchange(ref firstError, e is SocketException se ? se.SocketErrorCode.ToString() : "ConnectTimeout", null);
                s.Dispose();
            }
            finally { gate.Release(); }
        }).ToList();
        try { await Task.WhenAll(tasks); } catch (OperationCanceledException) { }
        StressorArgs.Say($"READY pid={Environment.ProcessId} opened={sockets.Count} failed={failed}" + (firstError is null ? "" : $" error={firstError}"));
        var open = sockets.ToList();
        while (!life.IsCancellationRequested)
        {
            try { await Task.Delay(500, life.Token); } catch (OperationCanceledException) { break; }
            int alive = 0;
            foreach (var s in open)
            {
                try { if (!(s.Poll(0, SelectMode.SelectRead) && s.Available == 0)) alive++; }
                catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            }
            StressorArgs.Say($"STATUS open={alive}");
        }
        foreach (var s in open) s.Dispose();
        return 0;
    }
}
