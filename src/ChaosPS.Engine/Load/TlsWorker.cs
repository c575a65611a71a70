using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;

namespace ChaosPS.Load;

/// <summary>What the runner's ticker and stop path need from a connection worker of the raw engines.</summary>
internal interface IConnectionWorker : IDisposable
{
    Task RunAsync();
    void CheckTimeout(long now);
    void Abort();
    void CloseIdle();
}

/// <summary>
/// One keep-alive HTTP/1.1 connection over a raw socket with TLS (SslStream) for https:// requests and plain for
/// http://, driven by one async loop for its whole life, like <see cref="RawWorker"/>: the request is pre-serialised,
/// the receive buffer is pooled and reused, and the same allocation-free parser reads the responses. The server's
/// certificate is checked unless -SkipCertificateCheck; the protocol is the system's choice of TLS 1.2/1.3. The TLS
/// handshake is timed on its own (the "tls" histogram), apart from the TCP connect; a reconnect to the same host
/// offers the TLS session it got before (SslStream's session cache), so a resumed handshake is what it measures.
/// </summary>
internal sealed class TlsWorker : IConnectionWorker
{
    private readonly LoadRunContext _run;
    private readonly int _id;
    private readonly EndPoint[] _endpoints;
    private readonly SslClientAuthenticationOptions?[] _tls; // per request; null for http://
    private readonly Http1ResponseParser _parser;
    private byte[] _buf = ArrayPool<byte>.Shared.Rent(16384);
    private int _start, _end;
    private Socket? _sock;
    private Stream? _stream;
    private EndPoint? _connectedTo;
    private SslClientAuthenticationOptions? _connectedTls;
    private long _inFlightSince; // 0 when idle
    private volatile bool _timedOut;
    private long _sentAt;

    public TlsWorker(LoadRunContext run, int id, EndPoint[] endpoints, SslClientAuthenticationOptions?[] tls)
    {
        _run = run;
        _id = id;
        _endpoints = endpoints;
        _tls = tls;
        _parser = new Http1ResponseParser { CaptureBody = run.NeedsBody };
        _parser.OnEvent = (now, prev) => _run.Record(prev == 0 ? LoadTestRunner.HFirstEvent : LoadTestRunner.HInterEvent, now - (prev == 0 ? _sentAt : prev));
    }

    /// <summary>One options object per distinct host, shared by all connections (the session cache keys on its values).</summary>
    internal static SslClientAuthenticationOptions?[] OptionsFor(LoadTestOptions o)
    {
        var byHost = new Dictionary<string, SslClientAuthenticationOptions>(StringComparer.OrdinalIgnoreCase);
        return o.Requests.Select(r =>
        {
            if (r.Uri.Scheme != Uri.UriSchemeHttps) return null;
            string host = r.Uri.IdnHost.Trim('[', ']');
            if (!byHost.TryGetValue(host, out var opt))
            {
                opt = new SslClientAuthenticationOptions
                {
                    TargetHost = host,
                    EnabledSslProtocols = SslProtocols.None, // the system's default: TLS 1.2 and 1.3
                    CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                };
                if (o.SkipCertificateCheck) opt.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
                byHost[host] = opt;
            }
            return opt;
        }).ToArray();
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
        finally
        {
            CloseSocket();
            var b = Interlocked.Exchange(ref _buf, []);
            if (b.Length > 0) ArrayPool<byte>.Shared.Return(b);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ExecuteAsync(int ri, long intended)
    {
        var req = _run.Options.Requests[ri];
        var ep = _endpoints[ri];
        var tls = _tls[ri];
        Interlocked.Increment(ref _run.InFlight);
        _timedOut = false;
        Volatile.Write(ref _inFlightSince, Stopwatch.GetTimestamp());
        bool retried = false;
        try
        {
        again:
            bool reused = _stream is not null && Equals(_connectedTo, ep) && ReferenceEquals(_connectedTls, tls);
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
                    long c1 = Stopwatch.GetTimestamp();
                    _run.Record(LoadTestRunner.HConnect, c1 - c0);
                    var ns = new NetworkStream(s, ownsSocket: true);
                    if (tls is not null)
                    {
                        var ssl = new SslStream(ns, leaveInnerStreamOpen: false);
                        _stream = ssl;
                        await ssl.AuthenticateAsClientAsync(tls).ConfigureAwait(false);
                        _run.Record(LoadTestRunner.HTls, Stopwatch.GetTimestamp() - c1);
                    }
                    else _stream = ns;
                    _connectedTo = ep;
                    _connectedTls = tls;
                    _start = _end = 0;
                }
                var stream = _stream!;
                _sentAt = Stopwatch.GetTimestamp();
                await stream.WriteAsync(req.Wire).ConfigureAwait(false);
                Interlocked.Add(ref _run.BytesOut, req.Wire.Length);
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
                    int n = await stream.ReadAsync(_buf.AsMemory(_end)).ConfigureAwait(false);
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
            catch (Exception e) when (e is SocketException or ObjectDisposedException or EndOfStreamException or InvalidDataException or IOException or AuthenticationException or InvalidOperationException)
            {
                CloseSocket();
                if (_run.StoppingHard && !_timedOut) return; // interrupted: not the server's fault
                // A kept-alive connection the server closed while idle: resend once on a fresh one (as browsers do).
                if (reused && firstByte == 0 && !retried && !_timedOut && (e is EndOfStreamException || Inner(e) is SocketException { SocketErrorCode: SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted }))
                {
                    retried = true;
                    goto again;
                }
                string kind = _timedOut ? "timeout" : e is ObjectDisposedException or InvalidOperationException ? "other" : LoadTestRunner.Classify(e);
                _run.Fail(ri, kind, intended, Stopwatch.GetTimestamp());
            }
        }
        finally
        {
            Volatile.Write(ref _inFlightSince, 0);
            Interlocked.Decrement(ref _run.InFlight);
        }
    }

    private static Exception Inner(Exception e) => e is IOException { InnerException: { } i } ? i : e;

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
        if (Volatile.Read(ref _inFlightSince) == 0 && _stream is not null) CloseSocket();
    }

    private void CloseSocket()
    {
        // May run on the ticker while a read is pending: the socket goes first (the pending read fails), then the
        // stream (SslStream frees its native TLS state; its handles are reference-counted, so a racing read is safe).
        var s = Interlocked.Exchange(ref _sock, null);
        var st = Interlocked.Exchange(ref _stream, null);
        _connectedTo = null;
        _connectedTls = null;
        if (s is not null) try { s.Dispose(); } catch { /* already gone */ }
        if (st is not null) try { st.Dispose(); } catch { /* already gone */ }
    }

    public void Dispose() => CloseSocket();
}
