using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace ChaosPS.Load;

/// <summary>
/// A plain http:// <see cref="ConnectionWorker"/>: writes and reads the socket itself (no stream), with the socket's
/// cached awaitables, so the steady state allocates nothing per request.
/// </summary>
internal sealed class RawWorker(LoadRunContext run, int id, EndPoint[] endpoints) : ConnectionWorker(run, id, endpoints, 4096)
{
    private Socket? _sock;
    private EndPoint? _connectedTo;

    protected override bool CanReuse(int request, EndPoint ep) => _sock is not null && Equals(_connectedTo, ep);

    protected override bool HasConnection => _sock is not null;

    protected override async ValueTask ConnectAsync(int request, EndPoint ep)
    {
        var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _sock = s;
        long c0 = Stopwatch.GetTimestamp();
        await s.ConnectAsync(ep).ConfigureAwait(false);
        Run.Record(LoadMetrics.HConnect, Stopwatch.GetTimestamp() - c0);
        _connectedTo = ep;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    protected override async ValueTask SendAsync(ReadOnlyMemory<byte> wire)
    {
        var sock = Socket;
        int sent = 0;
        while (sent < wire.Length)
            sent += await sock.SendAsync(wire[sent..], SocketFlags.None).ConfigureAwait(false);
    }

    protected override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => Socket.ReceiveAsync(buffer, SocketFlags.None);

    /// <summary>The open socket; closed under a request (timeout, stop) it reads as disposed, as the socket would.</summary>
    private Socket Socket => _sock ?? throw new ObjectDisposedException(nameof(Socket));

    protected override void CloseConnection()
    {
        var s = Interlocked.Exchange(ref _sock, null);
        _connectedTo = null;
        if (s is null) return;
        try { s.Dispose(); } catch { /* already gone */ }
    }
}
