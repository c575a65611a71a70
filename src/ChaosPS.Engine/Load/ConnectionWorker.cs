using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace ChaosPS.Load;

/// <summary>What the raw engines' timers and stop path need from a connection worker.</summary>
internal interface IConnectionWorker : IDisposable
{
    Task RunAsync();
    void CheckTimeout(long now);
    void Abort();
    void CloseIdle();
}

/// <summary>
/// One keep-alive HTTP/1.1 connection of the async raw-socket engine, driven by one async loop for its whole life: the
/// request is pre-serialised, the receive buffer is pooled and reused, the parser allocates nothing, and the async
/// methods are pooled, so the steady state allocates nothing per request. Timeouts and hard stops close the connection
/// from the engine's timer (no per-request timers or cancellation registrations). A kept-alive connection the server
/// closed while idle is retried once on a fresh one, as browsers do. Subclasses say how a connection is opened, written
/// and read: <see cref="RawWorker"/> on the socket itself, <see cref="TlsWorker"/> through SslStream.
/// </summary>
internal abstract class ConnectionWorker : IConnectionWorker
{
    protected readonly LoadRunContext Run;
    private readonly int _id;
    private readonly EndPoint[] _endpoints;
    private readonly Http1ResponseParser _parser;
    private byte[] _buf;
    private int _start, _end;
    private long _inFlightSince; // 0 when idle
    private volatile bool _timedOut;
    private long _sentAt;

    protected ConnectionWorker(LoadRunContext run, int id, EndPoint[] endpoints, int bufferSize)
    {
        Run = run;
        _id = id;
        _endpoints = endpoints;
        _buf = ArrayPool<byte>.Shared.Rent(bufferSize);
        _parser = new Http1ResponseParser { CaptureBody = run.NeedsBody };
        _parser.OnEvent = (now, prev) => Run.Record(prev == 0 ? LoadMetrics.HFirstEvent : LoadMetrics.HInterEvent, now - (prev == 0 ? _sentAt : prev));
    }

    /// <summary>An open connection that request <paramref name="request"/> (to <paramref name="ep"/>) can reuse.</summary>
    protected abstract bool CanReuse(int request, EndPoint ep);
    /// <summary>Opens a new connection for the request (the old one is closed already) and records its connect time(s).</summary>
    protected abstract ValueTask ConnectAsync(int request, EndPoint ep);
    protected abstract ValueTask SendAsync(ReadOnlyMemory<byte> wire);
    protected abstract ValueTask<int> ReceiveAsync(Memory<byte> buffer);
    /// <summary>Whether a connection is open (idle or not).</summary>
    protected abstract bool HasConnection { get; }
    /// <summary>Closes the connection; may run on the timer while a read is pending (which then fails).</summary>
    protected abstract void CloseConnection();

    /// <summary>The failures of one request that count as the server's or the network's (anything else is a bug and surfaces).</summary>
    protected virtual bool IsConnectionError(Exception e)
        => e is SocketException or ObjectDisposedException or EndOfStreamException or InvalidDataException or IOException;
    /// <summary>The socket error behind <paramref name="e"/> (streams wrap it in an IOException).</summary>
    protected virtual Exception Cause(Exception e) => e;
    /// <summary>A failure that is ChaosPS's own doing (a connection closed under a request), not the server's.</summary>
    protected virtual bool IsOwnClose(Exception e) => e is ObjectDisposedException;

    public async Task RunAsync()
    {
        try
        {
            while (true)
            {
                var (go, intended, ri) = await Run.NextAsync(_id).ConfigureAwait(false);
                if (!go) return;
                await ExecuteAsync(ri, intended).ConfigureAwait(false);
                await Run.ThinkAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            CloseConnection();
            var b = Interlocked.Exchange(ref _buf, []);
            if (b.Length > 0) ArrayPool<byte>.Shared.Return(b);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ExecuteAsync(int ri, long intended)
    {
        var req = Run.Options.Requests[ri];
        var ep = _endpoints[ri];
        Interlocked.Increment(ref Run.InFlight);
        _timedOut = false;
        Volatile.Write(ref _inFlightSince, Stopwatch.GetTimestamp());
        bool retried = false;
        try
        {
        again:
            bool reused = CanReuse(ri, ep);
            long firstByte = 0;
            try
            {
                if (!reused)
                {
                    CloseConnection();
                    await ConnectAsync(ri, ep).ConfigureAwait(false);
                    _start = _end = 0;
                }
                _sentAt = Stopwatch.GetTimestamp();
                await SendAsync(req.Wire).ConfigureAwait(false);
                Interlocked.Add(ref Run.BytesOut, req.Wire.Length);
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
                        else
                        {
                            var bigger = ArrayPool<byte>.Shared.Rent(_buf.Length * 2); // a header line longer than the buffer
                            Buffer.BlockCopy(_buf, 0, bigger, 0, _end);
                            ArrayPool<byte>.Shared.Return(_buf);
                            _buf = bigger;
                        }
                    }
                    int n = await ReceiveAsync(_buf.AsMemory(_end)).ConfigureAwait(false);
                    if (n == 0)
                    {
                        if (_parser.OnEof()) break;
                        throw new EndOfStreamException("the server closed the connection before the response was complete");
                    }
                    if (firstByte == 0) firstByte = Stopwatch.GetTimestamp();
                    _end += n;
                }
                long end = Stopwatch.GetTimestamp();
                Run.Complete(ri, _parser.Status, intended, _sentAt, firstByte, end, _parser);
                if (_parser.ConnectionClose || _parser.ReadsToEnd || req.CloseConnection) CloseConnection();
            }
            catch (Exception e) when (IsConnectionError(e))
            {
                CloseConnection();
                if (Run.StoppingHard && !_timedOut) return; // interrupted: not the server's fault
                // A kept-alive connection the server closed while idle: resend once on a fresh one (as browsers do).
                if (reused && firstByte == 0 && !retried && !_timedOut && (e is EndOfStreamException
                    || Cause(e) is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted }))
                {
                    retried = true;
                    goto again;
                }
                string kind = _timedOut ? "timeout" : IsOwnClose(e) ? "other" : LoadMetrics.Classify(e);
                Run.Fail(ri, kind, intended, Stopwatch.GetTimestamp());
            }
        }
        finally
        {
            Volatile.Write(ref _inFlightSince, 0);
            Interlocked.Decrement(ref Run.InFlight);
        }
    }

    /// <summary>Called by the engine's timer: a request in flight longer than -Timeout is aborted.</summary>
    public void CheckTimeout(long now)
    {
        long since = Volatile.Read(ref _inFlightSince);
        if (since != 0 && now - since > Run.TimeoutTicks)
        {
            _timedOut = true;
            CloseConnection();
        }
    }

    public void Abort() => CloseConnection();

    public void CloseIdle()
    {
        if (Volatile.Read(ref _inFlightSince) == 0 && HasConnection) CloseConnection();
    }

    public void Dispose() => CloseConnection();
}
