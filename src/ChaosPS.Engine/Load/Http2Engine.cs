using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;
using System.Threading.Tasks.Sources;

namespace ChaosPS.Load;

/// <summary>
/// The HTTP/2 load engine: its own lean client, h2c by prior knowledge for http:// and TLS with ALPN "h2" for
/// https://. Every virtual user (closed model) or sender (open model) is a <see cref="Http2Slot"/> that loops like
/// the HTTP/1.1 workers (NextAsync → send → response → ThinkAsync); -StreamsPerConnection slots share one connection
/// per origin and multiplex their requests on it as concurrent streams. One read loop per connection parses frames,
/// completes streams and, while it works through a read, collects what the slots it wakes send, so a read of many
/// responses is answered by one write of as many requests; on an epoll thread that write waits until the thread has
/// read every connection that was ready (and polled a few more times without waiting), as h2load writes in its event
/// loop's next turn. A request template's header fields are encoded once; each connection sends a field with
/// incremental indexing the first time and by its index in the server's HPACK table afterwards (as h2load does).
/// The server is told to keep no HPACK dynamic table, so responses are decoded without one.
/// Closed model: -Concurrency slots on ceil(VUs / streams) connections. Open model: -Connections connections with
/// -StreamsPerConnection slots each.
/// </summary>
internal sealed class Http2Engine : ILoadEngine
{
    public readonly List<Http2Slot> Slots = [];
    private readonly bool _tls;
    private Timer? _timeouts;
    /// <summary>Epoll threads for cleartext connections (Linux x64); null elsewhere (a thread per connection).</summary>
    public readonly Http2Poller[]? Pollers;

    public Http2Engine(LoadRunContext run, int workers)
    {
        var o = run.Options;
        _tls = o.UsesTls;
        int m = Math.Max(1, o.StreamsPerConnection);
        var origins = new List<Http2Origin>();
        var originOf = new int[o.Requests.Count];
        // CHAOSPS_H2_HPACK_INDEX=0 (for the h2 bench's before/after rows) sends every field as a literal without
        // indexing, as before the encoder used the server's dynamic table. Measured at h2c c10 m10 against nginx:
        // 14 bytes sent per request instead of 58; nginx's CPU per request moved by less than the machine's noise.
        var fieldTable = new HpackFieldTable(Environment.GetEnvironmentVariable("CHAOSPS_H2_HPACK_INDEX") == "0" ? 0 : 4096);
        var blocks = new HpackTemplate[o.Requests.Count];
        for (int i = 0; i < o.Requests.Count; i++)
        {
            var u = o.Requests[i].Uri;
            int k = origins.FindIndex(x => x.Matches(u));
            if (k < 0) { origins.Add(new Http2Origin(u, o.SkipCertificateCheck)); k = origins.Count - 1; }
            originOf[i] = k;
            blocks[i] = fieldTable.Add(o.Requests[i]);
        }
        int slots = o.IsOpen ? workers * m : workers;
        if (LinuxIo.Supported)
        {
            int loops = int.TryParse(Environment.GetEnvironmentVariable("CHAOSPS_LOAD_THREADS"), out var lt) && lt > 0 ? lt : Math.Max(1, Environment.ProcessorCount / 2);
            // CHAOSPS_H2_REPOLL (for the h2 bench's before/after rows): -1 writes after each connection's read as
            // before, 0 at the end of each epoll turn, N (default 3) after up to N more non-blocking polls. Measured
            // at TLS c10 m10: 1.8 requests per write with -1, 2.2 with 1, 3.1 with 3 (h2load 4), and nginx's CPU
            // per request fell with each step; 8 was no better than 3.
            int repoll = int.TryParse(Environment.GetEnvironmentVariable("CHAOSPS_H2_REPOLL"), out var rp) && rp >= -1 ? rp : 3;
            Pollers = Enumerable.Range(0, loops).Select(_ => new Http2Poller(repoll)).ToArray();
        }
        Http2Group? group = null;
        for (int i = 0; i < slots; i++)
        {
            if (i % m == 0) group = new Http2Group(run, origins.ToArray(), Pollers, fieldTable);
            var slot = new Http2Slot(run, i, group!, originOf, blocks, Pollers);
            if (Pollers is not null) foreach (var pl in Pollers) pl.AddUser();
            group!.Members.Add(slot);
            Slots.Add(slot);
        }
    }

    public string Name => _tls ? LoadEngineSelector.Http2Tls : LoadEngineSelector.Http2;

    /// <summary>One task per slot; a 50 ms timer checks every slot for a request past -Timeout (no per-request timers).</summary>
    public Task[] Start()
    {
        var tasks = Slots.Select(s => Task.Run(s.RunAsync)).ToArray();
        _timeouts = new Timer(_ =>
        {
            long t = Stopwatch.GetTimestamp();
            foreach (var s in Slots) s.CheckTimeout(t);
        }, null, 50, 50);
        return tasks;
    }

    /// <summary>A hard stop aborts every connection: the streams in flight end at once.</summary>
    public void Stop(bool hard)
    {
        if (hard) foreach (var s in Slots) s.Abort();
    }

    public void ReleaseIdle(int connection)
    {
        if (connection < Slots.Count) Slots[connection].CloseIdle();
    }

    public void Dispose()
    {
        _timeouts?.Dispose();
        foreach (var s in Slots) s.Dispose();
    }
}

/// <summary>Where a connection goes: host, port, and the TLS options (ALPN h2) for https://.</summary>
internal sealed class Http2Origin
{
    private readonly Uri _uri;
    private EndPoint? _ep;
    public readonly SslClientAuthenticationOptions? Tls;

    public Http2Origin(Uri u, bool skipCertificateCheck)
    {
        _uri = u;
        if (u.Scheme == Uri.UriSchemeHttps)
        {
            Tls = new SslClientAuthenticationOptions
            {
                TargetHost = u.IdnHost.Trim('[', ']'),
                EnabledSslProtocols = SslProtocols.None, // the system's default: TLS 1.2 and 1.3
                ApplicationProtocols = [SslApplicationProtocol.Http2],
                CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
            };
            if (skipCertificateCheck) Tls.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
        }
    }

    public bool Matches(Uri u) => u.Scheme == _uri.Scheme && u.Port == _uri.Port && string.Equals(u.Host, _uri.Host, StringComparison.OrdinalIgnoreCase);

    public async ValueTask<EndPoint> EndPointAsync()
    {
        if (_ep is { } ep) return ep;
        IPAddress ip = IPAddress.TryParse(_uri.Host.Trim('[', ']'), out var a) ? a
            : (await Dns.GetHostAddressesAsync(_uri.DnsSafeHost).ConfigureAwait(false)).First();
        return _ep = new IPEndPoint(ip, _uri.Port);
    }
}

/// <summary>The slots that share connections: one live connection per origin, replaced when it goes away.</summary>
internal sealed class Http2Group
{
    private readonly LoadRunContext _run;
    private readonly Http2Origin[] _origins;
    private readonly Http2Connection?[] _conns;
    private bool _aborted;
    public readonly List<Http2Slot> Members = [];

    private readonly Http2Poller[]? _pollers;
    private readonly HpackFieldTable _fields;

    public Http2Group(LoadRunContext run, Http2Origin[] origins, Http2Poller[]? pollers, HpackFieldTable fields)
    {
        _fields = fields;
        _run = run;
        _pollers = pollers;
        _origins = origins;
        _conns = new Http2Connection?[origins.Length];
    }

    public Http2Connection Get(int origin)
    {
        lock (this)
        {
            var c = _conns[origin];
            if (c is null || c.Unusable)
            {
                c = _conns[origin] = new Http2Connection(_run, _origins[origin], _pollers, _fields);
                if (_aborted) c.Abort(false);
            }
            return c;
        }
    }

    /// <summary>Closed model below its peak: the connections close once none of the slots sharing them has a request in flight.</summary>
    public void CloseIdle()
    {
        foreach (var m in Members) if (m.Busy) return;
        lock (this) foreach (var c in _conns) c?.CloseIfIdle();
    }

    public void Abort()
    {
        lock (this)
        {
            _aborted = true;
            foreach (var c in _conns) c?.Abort(false);
        }
    }
}

/// <summary>One HTTP/2 connection: its socket (and TLS), stream table, flow-control windows, write batch and read loop.</summary>
internal sealed class Http2Connection
{
    internal enum Start { Started, Full, Gone }

    private readonly LoadRunContext _run;
    private readonly Http2Origin _origin;
    private readonly object _lock = new();
    private readonly Dictionary<int, Http2Slot> _streams = [];
    private readonly List<Http2Slot> _blocked = [];
    private Socket? _sock;
    private SslStream? _ssl;
    private Task? _open;
    private volatile bool _unusable, _dead, _timeoutAbort;
    private int _nextId = 1, _maxStreams = int.MaxValue, _peerInitialWindow = 65535, _peerMaxFrame = H2.DefaultMaxFrame;
    private long _sendWindow = 65535, _recvUnacked;
    private byte[] _out = new byte[16384];
    private int _outLen;
    private bool _batching;
    private readonly byte[] _rbuf = new byte[65536];
    private int _rs, _re;
    private byte[] _hdr = [];
    private int _hdrLen, _hdrStream;
    private byte _hdrFlags;
    private int _served;

    private readonly Http2Poller[]? _pollers;

    // Request headers: this connection's HPACK encoder (a new connection starts with an empty table) and the
    // buffer its blocks are encoded into.
    private readonly HpackEncoder _hpack;
    private byte[] _block = [];

    public Http2Connection(LoadRunContext run, Http2Origin origin, Http2Poller[]? pollers, HpackFieldTable fields)
    {
        _hpack = new HpackEncoder(fields);
        _run = run;
        _origin = origin;
        _pollers = pollers;
    }

    /// <summary>GOAWAY received, failed or closed: no new streams; the group makes a new connection.</summary>
    public bool Unusable => _unusable;
    /// <summary>The connection was aborted because a request waiting for it ran past -Timeout.</summary>
    public bool TimedOut => _timeoutAbort;
    /// <summary>Responses this connection has completed (a request on a connection that served some may be resent once when it dies).</summary>
    public int Served => Volatile.Read(ref _served);

    /// <summary>The connection's thread is started on first use; the task completes once the connection is ready.</summary>
    public Task OpenAsync()
    {
        lock (_lock)
        {
            if (_open is null)
            {
                var ready = new TaskCompletionSource();
                _open = ready.Task;
                // A thread connects and shakes hands with blocking calls, then reads the connection (TLS) or hands it
                // to an epoll thread (cleartext on Linux x64). Whoever reads also sends the requests that the
                // responses free, before reading again. Async socket reads pass every read through the thread pool's
                // queue: measured at c50 m1, that version made 0.72x h2load, and the same code with the runtime's
                // inline socket completions 1.29x, so the hop, not the parsing, was the bound.
                new Thread(() => Run(ready), 256 * 1024) { IsBackground = true, Name = "ChaosPS HTTP/2" }.Start();
            }
            return _open;
        }
    }

    private void Run(TaskCompletionSource ready)
    {
        try
        {
            var ep = _origin.EndPointAsync().AsTask().GetAwaiter().GetResult();
            var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            lock (_lock)
            {
                if (_dead) { s.Dispose(); throw new ObjectDisposedException(nameof(Http2Connection)); }
                _sock = s;
            }
            long c0 = Stopwatch.GetTimestamp();
            s.Connect(ep);
            long c1 = Stopwatch.GetTimestamp();
            _run.Record(LoadMetrics.HConnect, c1 - c0);
            if (_origin.Tls is { } tls)
            {
                Stream inner = _pollers is { Length: > 0 } ? (_polled = new PolledSocketStream(s)) : new NetworkStream(s, ownsSocket: true);
                var ssl = new SslStream(inner, leaveInnerStreamOpen: false);
                lock (_lock)
                {
                    if (_dead) { ssl.Dispose(); throw new ObjectDisposedException(nameof(Http2Connection)); }
                    _ssl = ssl;
                }
                ssl.AuthenticateAsClient(tls);
                _run.Record(LoadMetrics.HTls, Stopwatch.GetTimestamp() - c1);
                if (ssl.NegotiatedApplicationProtocol != SslApplicationProtocol.Http2)
                    throw new InvalidDataException("the server did not agree to HTTP/2 in the TLS handshake (ALPN)");
            }
            lock (_lock)
            {
                Append(H2.ClientStart());
                FlushLocked();
                if (_dead || _sock is null) throw new ObjectDisposedException(nameof(Http2Connection));
            }
        }
        catch (Exception e)
        {
            Kill(e);
            ready.TrySetException(e);
            return;
        }
        ready.TrySetResult();
        if (_pollers is { Length: > 0 } pollers)
        {
            if (_polled is not null)
            {
                // TLS on Linux x64: SslStream reads asynchronously from a stream the epoll thread feeds, so the
                // decryption, the frames and the next requests all run on the epoll thread without a hop.
                _polled.Polled = true;
                _ = ReadLoopAsync();
            }
            // Cleartext on Linux x64: one epoll thread reads many connections (as h2load's event loop), so a busy
            // machine wakes one thread for a batch of responses instead of one per connection.
            try
            {
                lock (_lock)
                {
                    if (_sock is not { } sock) return;
                    var poller = pollers[(int)(Interlocked.Increment(ref s_next) % pollers.Length)];
                    _pollId = poller.Add(this, sock);
                    _poller = poller;
                }
            }
            catch (Exception e) { Kill(e); }
            return;
        }
        // Elsewhere than Linux x64: this thread reads the connection with blocking reads.
        ReadLoop();
    }

    private PolledSocketStream? _polled;

    private async Task ReadLoopAsync()
    {
        var ssl = _ssl;
        try
        {
            if (ssl is null) throw new ObjectDisposedException(nameof(Http2Connection));
            while (true)
            {
                int n = await ssl.ReadAsync(_rbuf.AsMemory(_re)).ConfigureAwait(false);
                if (n == 0) throw new EndOfStreamException("the server closed the connection");
                OnReceived(n);
            }
        }
        catch (Exception e)
        {
            Kill(e);
        }
    }

    private static long s_next;
    private Http2Poller? _poller;
    private long _pollId;

    /// <summary>Opens a stream for <paramref name="slot"/>'s request and queues its HEADERS (and DATA).</summary>
    public Start TryStart(Http2Slot slot, HpackTemplate template, byte[]? body)
    {
        lock (_lock)
        {
            if (_unusable) return Start.Gone;
            if (_streams.Count >= _maxStreams) return Start.Full;
            // Encoded under the lock, in the order the blocks are queued: the server's table follows that order.
            if (_block.Length < template.MaxLength) _block = new byte[Math.Max(template.MaxLength, 256)];
            ReadOnlySpan<byte> block = _block.AsSpan(0, _hpack.Encode(template, _block));
            int id = _nextId;
            _nextId += 2;
            if (_nextId > int.MaxValue - 2) _unusable = true; // stream ids are used up: the next request opens a new connection
            slot.StreamId = id;
            slot.SendWindow = _peerInitialWindow;
            slot.Received = 0;
            slot.Body = body;
            slot.BodySent = 0;
            _streams[id] = slot;
            int before = _outLen;
            bool noBody = body is not { Length: > 0 };
            if (block.Length <= _peerMaxFrame)
                Frame(H2.Headers, (byte)(H2.FlagEndHeaders | (noBody ? H2.FlagEndStream : 0)), id, block);
            else
            {
                Frame(H2.Headers, noBody ? H2.FlagEndStream : (byte)0, id, block[.._peerMaxFrame]);
                for (int at = _peerMaxFrame; at < block.Length; at += _peerMaxFrame)
                {
                    int n = Math.Min(_peerMaxFrame, block.Length - at);
                    Frame(H2.Continuation, at + n == block.Length ? H2.FlagEndHeaders : (byte)0, id, block.Slice(at, n));
                }
            }
            if (!noBody) SendBodyLocked(slot);
            Interlocked.Add(ref _run.BytesOut, _outLen - before);
            if (!_batching) FlushLocked();
            return Start.Started;
        }
    }

    /// <summary>Sends as much of the slot's body as the windows allow; parks the rest until a WINDOW_UPDATE.</summary>
    private void SendBodyLocked(Http2Slot slot)
    {
        var body = slot.Body!;
        while (slot.BodySent < body.Length)
        {
            int n = (int)Math.Min(Math.Min(body.Length - slot.BodySent, _peerMaxFrame), Math.Min(slot.SendWindow, _sendWindow));
            if (n <= 0)
            {
                if (!_blocked.Contains(slot)) _blocked.Add(slot);
                return;
            }
            bool last = slot.BodySent + n == body.Length;
            Frame(H2.Data, last ? H2.FlagEndStream : (byte)0, slot.StreamId, body.AsSpan(slot.BodySent, n));
            slot.BodySent += n;
            slot.SendWindow -= n;
            _sendWindow -= n;
        }
        _blocked.Remove(slot);
    }

    private void ResumeBlockedLocked()
    {
        for (int i = _blocked.Count - 1; i >= 0; i--)
        {
            var s = _blocked[i];
            if (s.StreamId == 0 || !_streams.ContainsKey(s.StreamId)) { _blocked.RemoveAt(i); continue; }
            long before = _outLen;
            SendBodyLocked(s);
            Interlocked.Add(ref _run.BytesOut, _outLen - before);
        }
    }

    private void Frame(byte type, byte flags, int stream, ReadOnlySpan<byte> payload)
    {
        Reserve(H2.FrameHeader + payload.Length);
        H2.WriteHeader(_out.AsSpan(_outLen), payload.Length, type, flags, stream);
        payload.CopyTo(_out.AsSpan(_outLen + H2.FrameHeader));
        _outLen += H2.FrameHeader + payload.Length;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        Reserve(bytes.Length);
        bytes.CopyTo(_out.AsSpan(_outLen));
        _outLen += bytes.Length;
    }

    private void Reserve(int n)
    {
        if (_outLen + n > _out.Length) Array.Resize(ref _out, Math.Max(_out.Length * 2, _outLen + n));
    }

    private void WindowUpdateLocked(int stream, int increment)
    {
        Span<byte> p = stackalloc byte[4];
        BinaryPrimitives.WriteInt32BigEndian(p, increment);
        Frame(H2.WindowUpdate, 0, stream, p);
    }

    /// <summary>Writes the batch (called with the lock held). A failed write closes the socket: the read loop then fails the streams.</summary>
    private void FlushLocked()
    {
        if (_outLen == 0) return;
        int len = _outLen;
        _outLen = 0;
        try
        {
            if (_ssl is { } ssl) ssl.Write(_out, 0, len);
            else if (_sock is { } s)
            {
                int sent = 0;
                while (sent < len) sent += s.Send(_out, sent, len - sent, SocketFlags.None);
            }
        }
        catch (Exception e)
        {
            // The read side may never see it (a polled socket leaves the poll set here): fail the streams from
            // outside this lock.
            CloseSocketLocked();
            ThreadPool.UnsafeQueueUserWorkItem(static x => x.Conn.Kill(x.Error), (Conn: this, Error: e), preferLocal: false);
        }
    }

    private void CloseSocketLocked()
    {
        _unusable = true;
        var s = _sock; var ssl = _ssl;
        _sock = null; _ssl = null;
        if (_poller is { } poller && s is not null) { _poller = null; poller.Remove(s, _pollId); }
        if (s is not null) try { s.Dispose(); } catch { /* already gone */ }
        if (ssl is not null) try { ssl.Dispose(); } catch { /* already gone */ }
    }

    private void ReadLoop()
    {
        var sock = _sock;
        var ssl = _ssl;
        try
        {
            if (sock is null) throw new ObjectDisposedException(nameof(Http2Connection));
            while (true)
            {
                int n = ssl is not null
                    ? ssl.Read(_rbuf, _re, _rbuf.Length - _re)
                    : sock.Receive(_rbuf, _re, _rbuf.Length - _re, SocketFlags.None);
                if (n == 0) throw new EndOfStreamException("the server closed the connection");
                OnReceived(n);
            }
        }
        catch (Exception e)
        {
            Kill(e);
        }
    }

    /// <summary>Cleartext on Linux x64: the poller calls this when the socket is readable; one non-blocking read.</summary>
    internal unsafe void OnReadable()
    {
        if (_polled is { } polled) { polled.OnReadable(); return; }
        var sock = _sock;
        if (sock is null) return;
        try
        {
            bool added = false;
            nint n;
            int errno = 0;
            var h = sock.SafeHandle;
            h.DangerousAddRef(ref added); // the descriptor stays ours (not closed and reused) during the call
            try
            {
                fixed (byte* b = &_rbuf[_re]) n = LinuxIo.recv((int)h.DangerousGetHandle(), b, _rbuf.Length - _re, MsgDontWait);
                if (n < 0) errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            }
            finally { if (added) h.DangerousRelease(); }
            if (n < 0)
            {
                if (errno is LinuxIo.EAGAIN or LinuxIo.EINTR) return;
                throw new SocketException((int)(errno switch
                {
                    LinuxIo.ECONNRESET or LinuxIo.EPIPE => SocketError.ConnectionReset,
                    LinuxIo.ECONNREFUSED => SocketError.ConnectionRefused,
                    LinuxIo.ETIMEDOUT => SocketError.TimedOut,
                    _ => SocketError.SocketError,
                }));
            }
            if (n == 0) throw new EndOfStreamException("the server closed the connection");
            OnReceived((int)n);
        }
        catch (Exception e)
        {
            Kill(e);
        }
    }

    private const int MsgDontWait = 0x40;
    private bool _flushQueued;

    /// <summary>The epoll thread, after a turn: writes what <see cref="OnReceived"/> left queued (whatever another
    /// thread has not flushed since).</summary>
    internal void FlushQueued()
    {
        lock (_lock)
        {
            _flushQueued = false;
            if (!_batching) FlushLocked();
        }
    }

    /// <summary>Works through what a read brought: frames are handled and the requests the finished streams free
    /// are collected, then written at once.</summary>
    private void OnReceived(int n)
    {
        _re += n;
        long now = Stopwatch.GetTimestamp();
        lock (_lock) _batching = true;
        try { ProcessFrames(now); }
        finally
        {
            var poller = Http2Poller.Current;
            lock (_lock)
            {
                _batching = false;
                // On an epoll thread the write waits until the thread has worked through every connection that
                // epoll_wait reported (as h2load writes in the loop's next turn): responses that arrive meanwhile
                // join the batch, so the server gets fewer, larger writes (TLS: fewer records to decrypt).
                if (poller is null) FlushLocked();
                else if (_outLen > 0 && !_flushQueued) { _flushQueued = true; poller.QueueFlush(this); }
            }
        }
        if (_rs == _re) _rs = _re = 0;
        else if (_rbuf.Length - _re < H2.FrameHeader + H2.DefaultMaxFrame)
        {
            Buffer.BlockCopy(_rbuf, _rs, _rbuf, 0, _re - _rs);
            _re -= _rs;
            _rs = 0;
        }
    }

    private void ProcessFrames(long now)
    {
        var b = _rbuf;
        while (_re - _rs >= H2.FrameHeader)
        {
            int p = _rs;
            int len = (b[p] << 16) | (b[p + 1] << 8) | b[p + 2];
            if (len > H2.DefaultMaxFrame) throw new InvalidDataException($"HTTP/2: a {len}-byte frame is larger than SETTINGS_MAX_FRAME_SIZE");
            if (_re - p - H2.FrameHeader < len) return;
            byte type = b[p + 3], flags = b[p + 4];
            int sid = BinaryPrimitives.ReadInt32BigEndian(b.AsSpan(p + 5)) & 0x7fffffff;
            _rs = p + H2.FrameHeader + len;
            OnFrame(type, flags, sid, b.AsSpan(p + H2.FrameHeader, len), now);
        }
    }

    private Http2Slot? Lookup(int sid)
    {
        lock (_lock) return _streams.GetValueOrDefault(sid);
    }

    private Http2Slot? Remove(int sid)
    {
        lock (_lock)
        {
            if (!_streams.Remove(sid, out var s)) return null;
            s.StreamId = 0;
            return s;
        }
    }

    private static ReadOnlySpan<byte> Unpad(ReadOnlySpan<byte> p, byte flags)
    {
        if ((flags & H2.FlagPadded) == 0) return p;
        if (p.Length < 1 || p[0] > p.Length - 1) throw new InvalidDataException("HTTP/2: bad padding");
        return p.Slice(1, p.Length - 1 - p[0]);
    }

    private void OnFrame(byte type, byte flags, int sid, ReadOnlySpan<byte> p, long now)
    {
        if (_hdrStream != 0 && type != H2.Continuation) throw new InvalidDataException("HTTP/2: a header block was interrupted");
        switch (type)
        {
            case H2.Data:
            {
                if (sid == 0) throw new InvalidDataException("HTTP/2: DATA on stream 0");
                Http2Slot? slot;
                lock (_lock)
                {
                    slot = _streams.GetValueOrDefault(sid);
                    _recvUnacked += p.Length;
                    if (_recvUnacked >= H2.ReceiveWindow / 2) { WindowUpdateLocked(0, (int)_recvUnacked); _recvUnacked = 0; }
                    if (slot is not null)
                    {
                        slot.Received += p.Length;
                        if (slot.Received >= H2.ReceiveWindow / 2) { WindowUpdateLocked(sid, (int)slot.Received); slot.Received = 0; }
                    }
                }
                if (slot is null) return; // a stream this client cancelled
                var data = Unpad(p, flags);
                if (slot.FirstByte == 0) slot.FirstByte = now;
                slot.Parser.OnBody(data, now);
                if ((flags & H2.FlagEndStream) != 0) EndStream(sid, now);
                return;
            }
            case H2.Headers:
            {
                if (sid == 0) throw new InvalidDataException("HTTP/2: HEADERS on stream 0");
                var block = Unpad(p, flags);
                if ((flags & H2.FlagPriority) != 0)
                {
                    if (block.Length < 5) throw new InvalidDataException("HTTP/2: short HEADERS priority");
                    block = block[5..];
                }
                if ((flags & H2.FlagEndHeaders) != 0) { OnHeaderBlock(sid, flags, block, now); return; }
                if (_hdr.Length < block.Length) _hdr = new byte[Math.Max(block.Length * 2, 4096)];
                block.CopyTo(_hdr);
                _hdrLen = block.Length;
                _hdrStream = sid;
                _hdrFlags = flags;
                return;
            }
            case H2.Continuation:
            {
                if (sid == 0 || sid != _hdrStream) throw new InvalidDataException("HTTP/2: CONTINUATION out of place");
                if (_hdr.Length < _hdrLen + p.Length) Array.Resize(ref _hdr, Math.Max(_hdr.Length * 2, _hdrLen + p.Length));
                p.CopyTo(_hdr.AsSpan(_hdrLen));
                _hdrLen += p.Length;
                if ((flags & H2.FlagEndHeaders) != 0)
                {
                    _hdrStream = 0;
                    OnHeaderBlock(sid, _hdrFlags, _hdr.AsSpan(0, _hdrLen), now);
                }
                return;
            }
            case H2.RstStream:
            {
                if (p.Length != 4 || sid == 0) throw new InvalidDataException("HTTP/2: bad RST_STREAM");
                uint code = BinaryPrimitives.ReadUInt32BigEndian(p);
                var slot = Remove(sid);
                // REFUSED_STREAM: the server did not process it, so it may be sent again (once).
                if (slot is not null) slot.Finish(Http2Slot.Failed, "reset", code == H2.RefusedStream && slot.FirstByte == 0, unprocessed: code == H2.RefusedStream);
                CloseIfGoneAndIdle();
                return;
            }
            case H2.Settings:
            {
                if ((flags & H2.FlagAck) != 0) return;
                if (p.Length % 6 != 0 || sid != 0) throw new InvalidDataException("HTTP/2: bad SETTINGS");
                lock (_lock)
                {
                    for (int i = 0; i < p.Length; i += 6)
                    {
                        ushort id = BinaryPrimitives.ReadUInt16BigEndian(p[i..]);
                        uint v = BinaryPrimitives.ReadUInt32BigEndian(p[(i + 2)..]);
                        switch (id)
                        {
                            case H2.SettingHeaderTableSize: _hpack.PeerTableSize(v); break;
                            case H2.SettingMaxConcurrentStreams: _maxStreams = (int)Math.Min(v, int.MaxValue); break;
                            case H2.SettingInitialWindowSize:
                                if (v > int.MaxValue) throw new InvalidDataException("HTTP/2: initial window too large");
                                int delta = (int)v - _peerInitialWindow;
                                _peerInitialWindow = (int)v;
                                foreach (var s in _streams.Values) s.SendWindow += delta;
                                break;
                            case H2.SettingMaxFrameSize:
                                if (v < 16384 || v > 16777215) throw new InvalidDataException("HTTP/2: bad SETTINGS_MAX_FRAME_SIZE");
                                _peerMaxFrame = (int)v;
                                break;
                        }
                    }
                    Frame(H2.Settings, H2.FlagAck, 0, []);
                    ResumeBlockedLocked();
                }
                return;
            }
            case H2.Ping:
                if (p.Length != 8) throw new InvalidDataException("HTTP/2: bad PING");
                if ((flags & H2.FlagAck) == 0) lock (_lock) Frame(H2.Ping, H2.FlagAck, 0, p);
                return;
            case H2.GoAway:
            {
                if (p.Length < 8) throw new InvalidDataException("HTTP/2: bad GOAWAY");
                int last = BinaryPrimitives.ReadInt32BigEndian(p) & 0x7fffffff;
                List<Http2Slot> unprocessed = [];
                lock (_lock)
                {
                    _unusable = true;
                    foreach (var (id, s) in _streams) if (id > last) unprocessed.Add(s);
                    foreach (var s in unprocessed) { _streams.Remove(s.StreamId); s.StreamId = 0; }
                }
                // Streams above the last one the server processed were not handled: they go again on a new connection.
                foreach (var s in unprocessed) s.Finish(Http2Slot.Failed, "reset", true, unprocessed: true);
                CloseIfGoneAndIdle();
                return;
            }
            case H2.WindowUpdate:
            {
                if (p.Length != 4) throw new InvalidDataException("HTTP/2: bad WINDOW_UPDATE");
                int inc = BinaryPrimitives.ReadInt32BigEndian(p) & 0x7fffffff;
                lock (_lock)
                {
                    if (sid == 0) _sendWindow += inc;
                    else if (_streams.TryGetValue(sid, out var s)) s.SendWindow += inc;
                    ResumeBlockedLocked();
                }
                return;
            }
            case H2.PushPromise:
                throw new InvalidDataException("HTTP/2: PUSH_PROMISE although this client disabled push");
            default:
                return; // PRIORITY and unknown frame types are ignored
        }
    }

    private void OnHeaderBlock(int sid, byte flags, ReadOnlySpan<byte> block, long now)
    {
        int status = Hpack.DecodeResponse(block, out bool eventStream); // decoded even for a cancelled stream: it must parse
        var slot = Lookup(sid);
        if (slot is null) return;
        if (slot.FirstByte == 0) slot.FirstByte = now;
        bool end = (flags & H2.FlagEndStream) != 0;
        if (slot.Status == 0)
        {
            if (status == 0)
            {
                lock (_lock) RstLocked(sid, H2.ProtocolError);
                Remove(sid)?.Finish(Http2Slot.Failed, "protocol", false);
                return;
            }
            if (status < 200)
            {
                if (end) { Remove(sid)?.Finish(Http2Slot.Failed, "protocol", false); return; }
                return; // interim response: the final one follows
            }
            slot.Status = status;
            slot.Parser.EventStream = eventStream;
        }
        if (end) EndStream(sid, now);
    }

    private void RstLocked(int sid, uint code)
    {
        Span<byte> p = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(p, code);
        Frame(H2.RstStream, 0, sid, p);
    }

    private void EndStream(int sid, long now)
    {
        var slot = Remove(sid);
        if (slot is null) return;
        Interlocked.Increment(ref _served);
        slot.End = now;
        if (slot.Status == 0) slot.Finish(Http2Slot.Failed, "protocol", false); // the stream ended without a response HEADERS
        else slot.Finish(Http2Slot.Done, null, false);
        CloseIfGoneAndIdle();
    }

    /// <summary>After GOAWAY, the connection closes once its last stream is done.</summary>
    private void CloseIfGoneAndIdle()
    {
        lock (_lock) if (_unusable && _streams.Count == 0 && _open is not null) CloseSocketLocked();
    }

    /// <summary>A request ran past -Timeout: its stream is cancelled (RST_STREAM), or, while the connection is
    /// still being made, the connection is aborted.</summary>
    public void Cancel(Http2Slot slot)
    {
        if (!Monitor.TryEnter(_lock, 200)) { Abort(true); return; } // a write is stuck: end the connection
        bool removed = false;
        try
        {
            int sid = slot.StreamId;
            if (sid != 0 && _streams.Remove(sid))
            {
                slot.StreamId = 0;
                removed = true;
                _blocked.Remove(slot);
                RstLocked(sid, H2.Cancel);
                if (!_batching) FlushLocked();
            }
        }
        finally { Monitor.Exit(_lock); }
        if (removed) slot.Finish(Http2Slot.Failed, "timeout", false);
        else if (_open is { IsCompleted: false }) Abort(true);
    }

    public void CloseIfIdle()
    {
        lock (_lock) if (_streams.Count == 0 && _open is not null) CloseSocketLocked();
    }

    public void Abort(bool timeout)
    {
        if (timeout) _timeoutAbort = true;
        lock (_lock)
        {
            _unusable = true;
            if (_open is null) _dead = true;
            CloseSocketLocked();
        }
        // A polled socket has no blocked reader to notice the close: end its streams here.
        Kill(new ObjectDisposedException(nameof(Http2Connection)));
    }

    /// <summary>The connection failed: every open stream fails with the error's kind; a stream that got nothing on a
    /// connection that had served responses may be sent once more on a new one (the server may have closed it idle).</summary>
    private void Kill(Exception e)
    {
        List<Http2Slot> victims;
        lock (_lock)
        {
            if (_dead && _streams.Count == 0) return;
            _dead = true;
            victims = [.. _streams.Values];
            foreach (var s in victims) s.StreamId = 0;
            _streams.Clear();
            _blocked.Clear();
            CloseSocketLocked();
        }
        if (victims.Count == 0) return;
        string kind = _timeoutAbort ? "timeout" : Http2Slot.KindOf(e);
        bool reused = Served > 0;
        foreach (var s in victims) s.Finish(Http2Slot.Failed, kind, reused && s.FirstByte == 0 && kind == "reset");
    }
}

/// <summary>
/// One virtual user (or open-model sender) of the HTTP/2 engine: it loops NextAsync → request → ThinkAsync as the
/// HTTP/1.1 workers do and awaits its stream's end through a reusable value-task source (no allocation per request).
/// The connection's read loop finishes the stream; the slot records it with Complete or Fail.
/// </summary>
internal sealed class Http2Slot : IConnectionWorker, IValueTaskSource<int>
{
    internal const int Done = 1, Failed = 2;

    private readonly LoadRunContext _run;
    private readonly int _id;
    private readonly Http2Group _group;
    private readonly int[] _originOf;
    private readonly HpackTemplate[] _blocks;
    private ManualResetValueTaskSourceCore<int> _core; // continuations run inline on the read loop
    internal readonly Http1ResponseParser Parser;
    private Http2Connection? _conn;
    private long _inFlightSince;
    private volatile bool _timedOut;
    private long _sentAt;

    // Stream state, written under the connection's lock or by its read loop.
    internal int StreamId, Status, BodySent;
    internal long SendWindow, Received, FirstByte, End;
    internal byte[]? Body;
    private string? _kind;
    private bool _retryable, _unprocessed;

    private readonly Http2Poller[]? _pollers;
    private int _disposed;

    public Http2Slot(LoadRunContext run, int id, Http2Group group, int[] originOf, HpackTemplate[] blocks, Http2Poller[]? pollers)
    {
        _pollers = pollers;
        _run = run;
        _id = id;
        _group = group;
        _originOf = originOf;
        _blocks = blocks;
        _core.RunContinuationsAsynchronously = false;
        Parser = new Http1ResponseParser { CaptureBody = run.NeedsBody };
        Parser.OnEvent = (now, prev) => _run.Record(prev == 0 ? LoadMetrics.HFirstEvent : LoadMetrics.HInterEvent, now - (prev == 0 ? _sentAt : prev));
    }

    public async Task RunAsync()
    {
        while (true)
        {
            var (go, intended, ri) = await _run.NextAsync(_id).ConfigureAwait(false);
            if (!go) return;
            await ExecuteAsync(ri, intended).ConfigureAwait(false);
            await _run.ThinkAsync().ConfigureAwait(false);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ExecuteAsync(int ri, long intended)
    {
        var req = _run.Options.Requests[ri];
        Interlocked.Increment(ref _run.InFlight);
        _timedOut = false;
        Volatile.Write(ref _inFlightSince, Stopwatch.GetTimestamp());
        int resent = 0;
        int gone = 0;
        try
        {
            while (true)
            {
                var conn = _group.Get(_originOf[ri]);
                _conn = conn;
                var open = conn.OpenAsync();
                if (!open.IsCompletedSuccessfully)
                {
                    try { await open.ConfigureAwait(false); }
                    catch (Exception e)
                    {
                        if (_run.StoppingHard && !_timedOut) return; // interrupted: not the server's fault
                        _run.Fail(ri, _timedOut || conn.TimedOut ? "timeout" : KindOf(e), intended, Stopwatch.GetTimestamp());
                        return;
                    }
                }
                if (_timedOut) { _run.Fail(ri, "timeout", intended, Stopwatch.GetTimestamp()); return; }
                Status = 0;
                FirstByte = 0;
                Parser.Reset(req.Method == "HEAD");
                _core.Reset();
                _sentAt = Stopwatch.GetTimestamp();
                var started = conn.TryStart(this, _blocks[ri], req.Body);
                if (started == Http2Connection.Start.Gone)
                {
                    if (++gone > 3) { _run.Fail(ri, "reset", intended, Stopwatch.GetTimestamp()); return; }
                    continue;
                }
                if (started == Http2Connection.Start.Full)
                {
                    // More slots than the server's SETTINGS_MAX_CONCURRENT_STREAMS: wait for a stream to end.
                    if (_run.StoppingHard) return;
                    await Task.Delay(1).ConfigureAwait(false);
                    continue;
                }
                int outcome = await new ValueTask<int>(this, _core.Version).ConfigureAwait(false);
                if (outcome == Done)
                {
                    _run.Complete(ri, Math.Clamp(Status, 0, 599), intended, _sentAt, FirstByte, End, Parser);
                    return;
                }
                if (_run.StoppingHard && !_timedOut) return;
                // The server said it did not process the request (GOAWAY above it, REFUSED_STREAM), or a connection that
                // had served responses died before this request got any byte (a server closing after GOAWAY resets the
                // connection when requests are still arriving, and the reset can drop the GOAWAY itself): it goes again
                // on a new connection, up to 5 times.
                if ((_unprocessed || _retryable) && !_timedOut && ++resent <= 5) continue;
                _run.Fail(ri, _timedOut ? "timeout" : _kind ?? "other", intended, Stopwatch.GetTimestamp());
                return;
            }
        }
        finally
        {
            _conn = null;
            Volatile.Write(ref _inFlightSince, 0);
            Interlocked.Decrement(ref _run.InFlight);
        }
    }

    /// <summary>Called once per stream by whoever removed it from its connection's table.</summary>
    internal void Finish(int outcome, string? kind, bool retryable, bool unprocessed = false)
    {
        _kind = kind;
        _retryable = retryable;
        _unprocessed = unprocessed;
        _core.SetResult(outcome);
    }

    internal static string KindOf(Exception e) => e switch
    {
        ObjectDisposedException => "other",
        AuthenticationException => "tls",
        InvalidDataException => "protocol",
        _ => LoadMetrics.Classify(e),
    };

    /// <summary>Called by the runner's ticker: a request in flight longer than -Timeout is cancelled.</summary>
    public void CheckTimeout(long now)
    {
        long since = Volatile.Read(ref _inFlightSince);
        if (since == 0 || now - since <= _run.TimeoutTicks || _timedOut) return;
        _timedOut = true;
        _conn?.Cancel(this);
    }

    internal bool Busy => Volatile.Read(ref _inFlightSince) != 0;

    public void Abort() => _group.Abort();
    public void CloseIdle() => _group.CloseIdle();
    public void Dispose()
    {
        _group.Abort();
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _pollers is not null) foreach (var p in _pollers) p.ReleaseUser();
    }

    int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}

/// <summary>
/// An epoll thread that reads HTTP/2 connections (level-triggered EPOLLIN, one non-blocking read per event; TLS
/// through <see cref="PolledSocketStream"/>). What a read frees (the next requests, acknowledgements) is written once
/// per turn: after every ready connection was read and, when something waits to be written, after up to three more
/// non-blocking epoll_waits whose connections are read too. Responses that arrive meanwhile join the batch, so the server
/// gets fewer, larger writes (over TLS fewer records), which is what let h2load keep nginx busier per request.
/// Other threads (open-model senders, timeouts, the connecting thread) still write at once. Writes are blocking sends
/// (they only wait when the kernel's send buffer is full). It ends when the run's slots are disposed.
/// </summary>
internal sealed unsafe class Http2Poller
{
    private readonly int _ep;
    private readonly Dictionary<long, Http2Connection> _conns = [];
    private long _nextId;
    private volatile bool _stop;
    private int _users;

    public Http2Poller(int repollTurns = 3)
    {
        _repollTurns = repollTurns;
        _ep = LinuxIo.epoll_create1(0x80000); // EPOLL_CLOEXEC
        if (_ep < 0) throw new SocketException(System.Runtime.InteropServices.Marshal.GetLastPInvokeError());
        new Thread(Run, 256 * 1024) { IsBackground = true, Name = "ChaosPS HTTP/2 poll" }.Start();
    }

    public void AddUser() => Interlocked.Increment(ref _users);

    public void ReleaseUser()
    {
        if (Interlocked.Decrement(ref _users) == 0) _stop = true;
    }

    public long Add(Http2Connection c, Socket s)
    {
        long id;
        lock (_conns) { id = ++_nextId; _conns[id] = c; }
        var ev = new LinuxIo.EpollEvent { Events = LinuxIo.EPOLLIN, Data = (ulong)id };
        if (LinuxIo.epoll_ctl(_ep, LinuxIo.EPOLL_CTL_ADD, (int)s.Handle, &ev) != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            lock (_conns) _conns.Remove(id);
            throw new SocketException(errno);
        }
        return id;
    }

    /// <summary>Called before the socket is closed, so the descriptor leaves the set while it is still this socket's.</summary>
    public void Remove(Socket s, long id)
    {
        try { LinuxIo.epoll_ctl(_ep, LinuxIo.EPOLL_CTL_DEL, (int)s.Handle, null); } catch (ObjectDisposedException) { }
        lock (_conns) _conns.Remove(id);
    }

    private void Run()
    {
        const int Max = 256;
        var events = stackalloc LinuxIo.EpollEvent[Max];
        s_current = _repollTurns >= 0 ? this : null;
        try
        {
            while (!_stop)
            {
                int n = LinuxIo.epoll_wait(_ep, events, Max, 100);
                for (int turn = 0; n > 0; turn++)
                {
                    for (int i = 0; i < n; i++)
                    {
                        Http2Connection? c;
                        lock (_conns) c = _conns.GetValueOrDefault((long)events[i].Data);
                        c?.OnReadable();
                    }
                    if (_flush.Count == 0 || turn >= _repollTurns) break;
                    n = LinuxIo.epoll_wait(_ep, events, Max, 0);
                }
                FlushQueued();
            }
        }
        finally
        {
            FlushQueued();
            s_current = null;
            LinuxIo.close(_ep);
        }
    }

    private readonly int _repollTurns;
    [ThreadStatic] private static Http2Poller? s_current;
    private readonly List<Http2Connection> _flush = [];

    /// <summary>The poller whose thread this is (null on any other thread).</summary>
    internal static Http2Poller? Current => s_current;

    /// <summary>On this poller's thread: <paramref name="c"/> writes its batch at the end of the turn.</summary>
    internal void QueueFlush(Http2Connection c) => _flush.Add(c);

    private void FlushQueued()
    {
        // By index: a flush that fails queues nothing, but keep the loop robust to additions all the same.
        for (int i = 0; i < _flush.Count; i++) _flush[i].FlushQueued();
        _flush.Clear();
    }
}

/// <summary>
/// The socket under SslStream for a polled TLS connection: blocking reads during the handshake, then reads the epoll
/// thread completes (<see cref="OnReadable"/>) through a reusable value-task source whose continuation (SslStream's,
/// then the connection's read loop) runs inline on that thread. Writes are blocking sends.
/// </summary>
internal sealed class PolledSocketStream : Stream, IValueTaskSource<int>
{
    private readonly Socket _s;
    private readonly byte[] _buf = new byte[65536];
    private int _bs, _be;
    private Memory<byte> _pending;
    private bool _hasPending, _eof;
    private Exception? _error;
    private ManualResetValueTaskSourceCore<int> _core;
    public volatile bool Polled;

    public PolledSocketStream(Socket s)
    {
        _s = s;
        _core.RunContinuationsAsynchronously = false;
    }

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

    public override int Read(Span<byte> d)
    {
        lock (this)
        {
            if (_be > _bs) return Take(d);
        }
        return _s.Receive(d, SocketFlags.None);
    }

    private int Take(Span<byte> d)
    {
        int n = Math.Min(d.Length, _be - _bs);
        _buf.AsSpan(_bs, n).CopyTo(d);
        _bs += n;
        if (_bs == _be) _bs = _be = 0;
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) => ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    public override ValueTask<int> ReadAsync(Memory<byte> d, CancellationToken ct = default)
    {
        if (!Polled) return _s.ReceiveAsync(d, SocketFlags.None, ct);
        lock (this)
        {
            if (_be > _bs) return new ValueTask<int>(Take(d.Span));
            if (_error is not null) return ValueTask.FromException<int>(_error);
            if (_eof) return new ValueTask<int>(0);
            _pending = d;
            _hasPending = true;
            _core.Reset();
            return new ValueTask<int>(this, _core.Version);
        }
    }

    public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

    public override void Write(ReadOnlySpan<byte> b)
    {
        while (b.Length > 0) b = b[_s.Send(b, SocketFlags.None)..];
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) { Write(buffer, offset, count); return Task.CompletedTask; }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> b, CancellationToken ct = default) { Write(b.Span); return default; }

    /// <summary>The epoll thread: the socket is readable. One non-blocking read; a waiting read gets the bytes.</summary>
    public unsafe void OnReadable()
    {
        int got = 0;
        lock (this)
        {
            if (_error is not null || _eof) return;
            if (_be == _buf.Length) return; // nobody is reading: the loop has ended
            bool added = false;
            nint n;
            int errno = 0;
            var h = _s.SafeHandle;
            try
            {
                h.DangerousAddRef(ref added);
                fixed (byte* p = &_buf[_be]) n = LinuxIo.recv((int)h.DangerousGetHandle(), p, _buf.Length - _be, 0x40 /* MSG_DONTWAIT */);
                if (n < 0) errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            }
            catch (ObjectDisposedException e) { n = -1; _error = e; }
            finally { if (added) h.DangerousRelease(); }
            if (n < 0 && _error is null)
            {
                if (errno is LinuxIo.EAGAIN or LinuxIo.EINTR) return;
                _error = new IOException("TLS connection failed", new SocketException((int)(errno is LinuxIo.ECONNRESET or LinuxIo.EPIPE ? SocketError.ConnectionReset : SocketError.SocketError)));
            }
            else if (n == 0) _eof = true;
            else if (n > 0) _be += (int)n;
            if (!_hasPending) return;
            _hasPending = false;
            if (_be > _bs) got = Take(_pending.Span);
            _pending = default;
        }
        if (got > 0) _core.SetResult(got);
        else if (_error is not null) _core.SetException(_error);
        else _core.SetResult(0);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) try { _s.Dispose(); } catch { /* already gone */ }
        base.Dispose(disposing);
    }

    int IValueTaskSource<int>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<int>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<int>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}
