using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace ChaosPS.Load;

/// <summary>
/// One keep-alive HTTP/1.1 connection over a raw socket, driven by one async loop for its whole life: the request is
/// pre-serialised, the receive buffer is reused, the parser allocates nothing, and the socket's awaitables are
/// cached, so the steady state allocates nothing per request. Timeouts and hard stops close the socket from the
/// runner's ticker (no per-request timers or cancellation registrations).
/// </summary>
internal sealed class RawWorker : IConnectionWorker
{
    private readonly LoadRunContext _run;
    private readonly int _id;
    private readonly EndPoint[] _endpoints;
    private readonly Http1ResponseParser _parser;
    private byte[] _buf = new byte[4096];
    private int _start, _end;
    private Socket? _sock;
    private EndPoint? _connectedTo;
    private long _inFlightSince; // 0 when idle
    private volatile bool _timedOut;
    private long _sentAt;

    public RawWorker(LoadRunContext run, int id, EndPoint[] endpoints)
    {
        _run = run;
        _id = id;
        _endpoints = endpoints;
        _parser = new Http1ResponseParser { CaptureBody = run.NeedsBody };
        _parser.OnEvent = (now, prev) => _run.Record(prev == 0 ? LoadTestRunner.HFirstEvent : LoadTestRunner.HInterEvent, now - (prev == 0 ? _sentAt : prev));
    }

    public async Task RunAsync()
    {
        try
        {
            while (true)
            {
                var (go, intended, ri) = await _run.NextAsync(_id).ConfigureAwait(false);
                if (!go) return;
                await ExecuteAsync(ri, intended).ConfigureAwait(false);
                await _run.ThinkAsync().ConfigureAwait(false);
            }
        }
        finally { CloseSocket(); }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ExecuteAsync(int ri, long intended)
    {
        var req = _run.Options.Requests[ri];
        var ep = _endpoints[ri];
        Interlocked.Increment(ref _run.InFlight);
        _timedOut = false;
        Volatile.Write(ref _inFlightSince, Stopwatch.GetTimestamp());
        bool retried = false;
        try
        {
        again:
            bool reused = _sock is not null && Equals(_connectedTo, ep);
            long firstByte = 0;
            try
            {
                if (!reused)
                {
                    CloseSocket();
                    var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    _sock = s;
                    long c0 = Stopwatch.GetTimestamp();
                    await s.ConnectAsync(ep).ConfigureAwait(false);
                    _run.Record(LoadTestRunner.HConnect, Stopwatch.GetTimestamp() - c0);
                    _connectedTo = ep;
                    _start = _end = 0;
                }
                var sock = _sock!;
                _sentAt = Stopwatch.GetTimestamp();
                int sent = 0;
                var wire = req.Wire;
                while (sent < wire.Length)
                    sent += await sock.SendAsync(wire.AsMemory(sent), SocketFlags.None).ConfigureAwait(false);
                Interlocked.Add(ref _run.BytesOut, wire.Length);
                _parser.Reset(req.Method == "HEAD");
                while (true)
                {
                    if (_start < _end)
                    {
                        long now = Stopwatch.GetTimestamp();
                        _start += _parser.Parse(_buf.AsSpan(_start, _end - _start), now);
                        if (_parser.Done) break;
                    }
                    if (_start == _end) _start = _end = 0;
                    else if (_end == _buf.Length)
                    {
                        if (_start > 0) { Buffer.BlockCopy(_buf, _start, _buf, 0, _end - _start); _end -= _start; _start = 0; }
                        else Array.Resize(ref _buf, _buf.Length * 2); // a header line longer than the buffer
                    }
                    int n = await sock.ReceiveAsync(_buf.AsMemory(_end), SocketFlags.None).ConfigureAwait(false);
                    if (n == 0)
                    {
                        if (_parser.OnEof()) break;
                        throw new EndOfStreamException("the server closed the connection before the response was complete");
                    }
                    if (firstByte == 0) firstByte = Stopwatch.GetTimestamp();
                    _end += n;
                }
                long end = Stopwatch.GetTimestamp();
                _run.Complete(ri, _parser.Status, intended, _sentAt, firstByte, end, _parser);
                if (_parser.ConnectionClose || _parser.ReadsToEnd || req.CloseConnection) CloseSocket();
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or EndOfStreamException or InvalidDataException or IOException)
            {
                CloseSocket();
                if (_run.StoppingHard && !_timedOut) return; // interrupted: not the server's fault
                // A kept-alive connection the server closed while idle: resend once on a fresh one (as browsers do).
                if (reused && firstByte == 0 && !retried && !_timedOut && e is EndOfStreamException or SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted })
                {
                    retried = true;
                    goto again;
                }
                string kind = _timedOut ? "timeout" : e is ObjectDisposedException ? "other" : LoadTestRunner.Classify(e);
                _run.Fail(ri, kind, intended, Stopwatch.GetTimestamp());
            }
        }
        finally
        {
            Volatile.Write(ref _inFlightSince, 0);
            Interlocked.Decrement(ref _run.InFlight);
        }
    }

    /// <summary>Called by the runner's ticker: a request in flight longer than -Timeout is aborted.</summary>
    public void CheckTimeout(long now)
    {
        long since = Volatile.Read(ref _inFlightSince);
        if (since != 0 && now - since > _run.TimeoutTicks)
        {
            _timedOut = true;
            CloseSocket();
        }
    }

    public void Abort() => CloseSocket();

    public void CloseIdle()
    {
        if (Volatile.Read(ref _inFlightSince) == 0 && _sock is not null) CloseSocket();
    }

    private void CloseSocket()
    {
        var s = Interlocked.Exchange(ref _sock, null);
        _connectedTo = null;
        if (s is null) return;
        try { s.Dispose(); } catch { /* already gone */ }
    }

    public void Dispose() => CloseSocket();
}
