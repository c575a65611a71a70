using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using static ChaosPS.LinuxIo;

namespace ChaosPS.Load;

/// <summary>
/// The Linux fast path for http:// (the wrk design): a few dedicated threads, each with its own epoll set and timerfd,
/// drive non-blocking keep-alive sockets with recv/send syscalls directly. No thread-pool hops, no async state
/// machines, no allocations per request: a completed response immediately sends the connection's next request from
/// the same thread. Connects are non-blocking too (EINPROGRESS, then EPOLLOUT and SO_ERROR). Open-model
/// requests are released at their intended times by the loop's timerfd (nanosecond timer, no spinning).
/// https:// runs on the same loop through the system's OpenSSL (<see cref="LibSsl"/>, as wrk does): one SSL_CTX per
/// run, an SSL bound to each non-blocking socket, SSL_do_handshake/SSL_write/SSL_read whose WANT_READ/WANT_WRITE set
/// the socket's epoll interest. The certificate and host name (or IP address) are checked unless
/// -SkipCertificateCheck, SNI names a host name, the handshake is timed on its own (the "tls" histogram) and a
/// reconnect offers the endpoint's last session (TLS 1.2 session or TLS 1.3 ticket) for resumption.
/// </summary>
internal sealed unsafe class EpollEngine : ILoadEngine
{
    public static bool Supported => LinuxIo.Supported;

    /// <summary>The epoll engine can run https:// here (Linux x64 and a loadable OpenSSL 3).</summary>
    public static bool TlsSupported => Supported && LibSsl.Available;

    private const ulong TimerTag = ulong.MaxValue;

    private enum St { Idle, Connecting, Handshaking, Sending, Receiving, Sleeping, Done }

    /// <summary>An OpenSSL failure that is not a socket error (a bad certificate, a protocol alert): a "tls" failure.</summary>
    private const int TlsFailure = -2;

    private sealed class Conn
    {
        public int Id;               // worker id (closed model: VU number)
        public int Slot;             // index in its loop
        public Socket? Sock;
        public int Fd = -1;
        public St State;
        public byte[] Buf = new byte[4096];
        public int Start, End;
        public readonly Http1ResponseParser Parser = new();
        public int Request;
        public long Intended, SentAt, FirstByte, Since, WakeAt;
        public int SendOffset;
        public bool Reused, Retried, WantOut;
        public EndPoint? Ep;
        public long ConnectStart;
        public long IdleSince;
        public int Host = -1;        // TLS host index of the connection (-1: plain http://)
        public nint Ssl;             // the connection's SSL (0: none)
        public long HandshakeStart;
        public bool SessionTaken, SslWantsRead;
    }

    private readonly LoadRunContext _run;
    private readonly EndPoint[] _eps;
    /// <summary>Bytes the loop threads allocated while they ran (tests check the hot loop allocates nothing per request).</summary>
    public long LoopAllocatedBytes;
    private readonly int _loops;
    private readonly Loop[] _loopObjs;
    private int _running;

    // TLS: per request its endpoint index (host and port; -1 for http://); per endpoint its host name (native UTF-8),
    // whether that is an IP literal, and the last resumable session a connection to it got.
    private readonly int[] _hostOf;
    private readonly nint[] _hostName = [];
    private readonly bool[] _hostIsIp = [];
    private readonly nint[] _sessions = [];
    private readonly object _sessionLock = new();
    private nint _ctx;

    public EpollEngine(LoadRunContext run, EndPoint[] endpoints, int connections, int loops)
    {
        _run = run;
        _eps = endpoints;
        var reqs = run.Options.Requests;
        _hostOf = new int[reqs.Count];
        var hosts = new List<string>();
        var keys = new List<string>();
        for (int i = 0; i < reqs.Count; i++)
        {
            if (reqs[i].Uri.Scheme != Uri.UriSchemeHttps) { _hostOf[i] = -1; continue; }
            string host = reqs[i].Uri.IdnHost.Trim('[', ']');
            string key = host.ToLowerInvariant() + "|" + reqs[i].Uri.Port;
            int h = keys.IndexOf(key);
            if (h < 0) { h = keys.Count; keys.Add(key); hosts.Add(host); }
            _hostOf[i] = h;
        }
        if (hosts.Count > 0)
        {
            _hostName = hosts.Select(Marshal.StringToCoTaskMemUTF8).ToArray();
            _hostIsIp = hosts.Select(h => IPAddress.TryParse(h, out _)).ToArray();
            _sessions = new nint[hosts.Count];
            _ctx = LibSsl.CtxNew();
            if (_ctx != 0)
            {
                LibSsl.SSL_CTX_set_options(_ctx, LibSsl.SSL_OP_IGNORE_UNEXPECTED_EOF);
                LibSsl.SSL_CTX_ctrl(_ctx, LibSsl.SSL_CTRL_MODE, LibSsl.SSL_MODE_ENABLE_PARTIAL_WRITE | LibSsl.SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER, 0);
                // Read ahead: one read(2) takes a whole record, header and body (half the reads per response). Without
                // pipelining nothing but a close alert can follow a response into OpenSSL's buffer, and the peer's FIN
                // still wakes the idle connection.
                LibSsl.SSL_CTX_ctrl(_ctx, LibSsl.SSL_CTRL_SET_READ_AHEAD, 1, 0);
                if (run.Options.SkipCertificateCheck) LibSsl.SSL_CTX_set_verify(_ctx, LibSsl.SSL_VERIFY_NONE, 0);
                else
                {
                    LibSsl.SSL_CTX_set_verify(_ctx, LibSsl.SSL_VERIFY_PEER, 0);
                    LibSsl.SSL_CTX_set_default_verify_paths(_ctx);
                }
            }
        }
        _loops = Math.Max(1, Math.Min(loops, connections));
        _loopObjs = new Loop[_loops];
        for (int i = 0; i < _loops; i++) _loopObjs[i] = new Loop(this, i);
        for (int id = 0; id < connections; id++) _loopObjs[id % _loops].Add(id);
    }

    public Task[] Start()
    {
        _running = _loopObjs.Length;
        return _loopObjs.Select(l => Task.Factory.StartNew(() =>
        {
            try { l.Run(); }
            finally { if (Interlocked.Decrement(ref _running) == 0) FreeTls(); }
        }, TaskCreationOptions.LongRunning)).ToArray();
    }

    /// <summary>After the last loop ended (every SSL freed): the sessions, the context and the host names.</summary>
    private void FreeTls()
    {
        lock (_sessionLock)
            for (int i = 0; i < _sessions.Length; i++) { LibSsl.SessionFree(_sessions[i]); _sessions[i] = 0; }
        LibSsl.CtxFree(_ctx);
        _ctx = 0;
        for (int i = 0; i < _hostName.Length; i++) { Marshal.FreeCoTaskMem(_hostName[i]); _hostName[i] = 0; }
    }

    /// <summary>SNI, the certificate's name or address check, and the endpoint's last session to resume.</summary>
    private void Configure(nint ssl, int host)
    {
        nint name = _hostName[host];
        if (!_hostIsIp[host]) LibSsl.SSL_ctrl(ssl, LibSsl.SSL_CTRL_SET_TLSEXT_HOSTNAME, LibSsl.TLSEXT_NAMETYPE_host_name, name);
        if (!_run.Options.SkipCertificateCheck)
        {
            if (_hostIsIp[host]) LibSsl.X509_VERIFY_PARAM_set1_ip_asc(LibSsl.SSL_get0_param(ssl), name);
            else LibSsl.SSL_set1_host(ssl, name);
        }
        lock (_sessionLock)
            if (_sessions[host] != 0) LibSsl.SSL_set_session(ssl, _sessions[host]);
    }

    /// <summary>Keeps a connection's session for the next connection to its endpoint (TLS 1.3: once the ticket came, after the first read).</summary>
    private void KeepSession(nint ssl, int host)
    {
        nint s = LibSsl.Get1Session(ssl);
        if (s == 0) return;
        if (LibSsl.SSL_SESSION_is_resumable(s) == 0) { LibSsl.SessionFree(s); return; }
        nint old;
        lock (_sessionLock) { old = _sessions[host]; _sessions[host] = s; }
        LibSsl.SessionFree(old);
    }

    public string Name => _run.Options.UsesTls ? LoadEngineSelector.EpollTls : LoadEngineSelector.Epoll;
    /// <summary>The loops see StopRequested/StoppingHard on their next turn (at most 50 ms).</summary>
    public void Stop(bool hard) { }
    /// <summary>A ramped-down user's connection is closed by the loop itself (TryStartClosed).</summary>
    public void ReleaseIdle(int connection) { }
    public void Dispose() { }

    private sealed class Loop
    {
        private readonly EpollEngine _e;
        private readonly LoadRunContext _run;
        private readonly List<Conn> _conns = [];
        private readonly Stack<Conn> _idle = new();
        private readonly List<Conn> _sleepers = [];
        private long _minWake = long.MaxValue;
        private int _ep = -1, _timer = -1;
        private long _timerArmedFor;
        private int _live; // connections not Done
        private readonly int _index;
        // Per request template, read once: its wire bytes, whether it is HEAD, whether it closes its connection.
        private readonly byte[][] _wire;
        private readonly bool[] _head, _close;
        private readonly bool _open;
        // This loop's share of the run's InFlight and BytesOut, added to the shared counters once per turn (before
        // epoll_wait) instead of with an interlocked operation per request; the ticker reads them at most one turn late.
        private long _inFlightDelta, _bytesOutDelta;

        public Loop(EpollEngine e, int index)
        {
            _e = e; _run = e._run; _index = index;
            var reqs = _run.Options.Requests;
            _wire = reqs.Select(r => r.Wire).ToArray();
            _head = reqs.Select(r => r.Method == "HEAD").ToArray();
            _close = reqs.Select(r => r.CloseConnection).ToArray();
            _open = _run.Options.IsOpen;
        }

        /// <summary>Adds this loop's pending InFlight and BytesOut changes to the run's counters.</summary>
        private void Publish()
        {
            if (_inFlightDelta != 0) { Interlocked.Add(ref _run.InFlight, _inFlightDelta); _inFlightDelta = 0; }
            if (_bytesOutDelta != 0) { Interlocked.Add(ref _run.BytesOut, _bytesOutDelta); _bytesOutDelta = 0; }
        }

        public void Add(int id)
        {
            var c = new Conn { Id = id, Slot = _conns.Count };
            c.Parser.CaptureBody = _run.NeedsBody;
            c.Parser.OnEvent = (now, prev) => _run.Record(prev == 0 ? LoadMetrics.HFirstEvent : LoadMetrics.HInterEvent, now - (prev == 0 ? c.SentAt : prev));
            _conns.Add(c);
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public void Run()
        {
            _ep = epoll_create1(0x80000);
            _timer = timerfd_create(1, 0x800 | 0x80000);
            if (_ep < 0 || _timer < 0) throw new InvalidOperationException($"epoll/timerfd failed: errno {Marshal.GetLastPInvokeError()}");
            var tev = new EpollEvent { Events = EPOLLIN, Data = TimerTag };
            epoll_ctl(_ep, EPOLL_CTL_ADD, _timer, &tev);
            var events = stackalloc EpollEvent[256];
            byte* scratch = stackalloc byte[8];
            _live = _conns.Count;
            foreach (var c in _conns) { c.State = St.Idle; _idle.Push(c); }
            long lastScan = Stopwatch.GetTimestamp();
            long allocated0 = GC.GetAllocatedBytesForCurrentThread();
            long scanEvery = Stopwatch.Frequency / 20;
            try
            {
                while (true)
                {
                    long now = Stopwatch.GetTimestamp();
                    if (_run.StoppingHard) { foreach (var c in _conns) if (c.State != St.Done) Finish(c); }
                    else if (_run.StopRequested) { foreach (var c in _conns) if (c.State is St.Idle or St.Sleeping) Finish(c); _idle.Clear(); }
                    if (_live == 0) return;
                    long nextWake = Dispatch(now);
                    if (now - lastScan > scanEvery) { Scan(now); lastScan = now; }
                    int timeoutMs = 50;
                    if (nextWake != long.MaxValue)
                    {
                        long delta = nextWake - Stopwatch.GetTimestamp();
                        if (delta <= 0) timeoutMs = 0;
                        else if (delta < 50L * Stopwatch.Frequency / 1000) { ArmTimer(nextWake, delta); }
                    }
                    Publish();
                    int n = epoll_wait(_ep, events, 256, timeoutMs);
                    if (n < 0) { if (Marshal.GetLastPInvokeError() == EINTR) continue; throw new InvalidOperationException($"epoll_wait failed: errno {Marshal.GetLastPInvokeError()}"); }
                    long t = Stopwatch.GetTimestamp();
                    for (int i = 0; i < n; i++)
                    {
                        if (events[i].Data == TimerTag) { read(_timer, scratch, 8); _timerArmedFor = 0; continue; }
                        int slot = (int)events[i].Data;
                        if (slot < 0 || slot >= _conns.Count) continue;
                        var c = _conns[slot];
                        uint ev = events[i].Events;
                        if (c.State == St.Connecting && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) OnConnectEvent(c, t);
                        else if (c.State == St.Handshaking) Handshake(c, t);
                        else if (c.State == St.Sending && ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0 || (c.SslWantsRead && (ev & EPOLLIN) != 0))) TrySend(c, t);
                        else if (c.State == St.Receiving && ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0 || (c.WantOut && (ev & EPOLLOUT) != 0))) OnReadable(c, t);
                        else if (c.State is St.Idle or St.Sleeping && (ev & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0) CheckIdleClosed(c);
                    }
                }
            }
            finally
            {
                Interlocked.Add(ref _e.LoopAllocatedBytes, GC.GetAllocatedBytesForCurrentThread() - allocated0);
                foreach (var c in _conns) CloseSocket(c);
                Publish();
                close(_timer);
                close(_ep);
            }
        }


        private void ArmTimer(long at, long delta)
        {
            if (_timerArmedFor != 0 && _timerArmedFor <= at) return;
            long ns = delta * 1_000_000_000 / Stopwatch.Frequency;
            if (ns < 1000) ns = 1000;
            var spec = new ITimerSpec { ValueSec = ns / 1_000_000_000, ValueNsec = ns % 1_000_000_000 };
            timerfd_settime(_timer, 0, &spec, null);
            _timerArmedFor = at;
        }

        /// <summary>Gives idle connections work; returns the next time something becomes due (or MaxValue).</summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private long Dispatch(long now)
        {
            long next = long.MaxValue;
            if (_open)
            {
                while (_idle.Count > 0)
                {
                    var r = _run.TryClaimOpen(now, _idle.Peek().IdleSince, out long intended, out int ri, out long due);
                    if (r == LoadClaim.Go) { StartRequest(_idle.Pop(), ri, intended, now); continue; }
                    if (r == LoadClaim.NotYet) next = due;
                    else while (_idle.Count > 0) Finish(_idle.Pop());
                    break;
                }
                return next;
            }
            // Closed model: idle VUs (at the start) and sleepers whose time has come ask for work.
            while (_idle.Count > 0) TryStartClosed(_idle.Pop(), now);
            if (_minWake <= now)
            {
                _minWake = long.MaxValue;
                for (int i = _sleepers.Count - 1; i >= 0; i--)
                {
                    var c = _sleepers[i];
                    if (c.State != St.Sleeping) { _sleepers.RemoveAt(i); continue; }
                    if (c.WakeAt <= now) { _sleepers.RemoveAt(i); TryStartClosed(c, now); }
                    else _minWake = Math.Min(_minWake, c.WakeAt);
                }
            }
            return _minWake;
        }

        private void Sleep(Conn c, long until)
        {
            c.State = St.Sleeping;
            c.WakeAt = until;
            _sleepers.Add(c);
            if (until < _minWake) _minWake = until;
        }

        private void TryStartClosed(Conn c, long now)
        {
            var r = _run.TryClaimClosed(c.Id, now, out int ri);
            if (r == LoadClaim.Go) StartRequest(c, ri, now, now);
            else if (r == LoadClaim.NotYet)
            {
                if (c.Sock is not null) CloseSocket(c, clean: true); // ramped down: release the connection
                Sleep(c, now + Stopwatch.Frequency / 10);
            }
            else Finish(c);
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private void StartRequest(Conn c, int ri, long intended, long now)
        {
            c.Request = ri;
            c.Intended = intended;
            c.Since = now;
            c.Retried = false;
            _inFlightDelta++;
            var ep = _e._eps[ri];
            int host = _e._hostOf[ri];
            if (c.Sock is null || !Equals(c.Ep, ep) || c.Host != host) { CloseSocket(c); c.Host = host; BeginConnect(c, ep); return; }
            c.Reused = true;
            BeginSend(c, now);
        }

        /// <summary>Non-blocking connect from the loop thread: EINPROGRESS, then EPOLLOUT says it is done (SO_ERROR says how).</summary>
        private void BeginConnect(Conn c, EndPoint ep)
        {
            long now = Stopwatch.GetTimestamp();
            c.State = St.Connecting;
            c.Ep = ep;
            c.ConnectStart = now;
            Socket s;
            try { s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, Blocking = false }; }
            catch (SocketException e) { EndRequestFailed(c, LoadMetrics.Classify(e), now); return; }
            c.Sock = s;
            c.Fd = (int)s.Handle;
            bool done;
            try { s.Connect(ep); done = true; }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress or SocketError.AlreadyInProgress) { done = false; }
            catch (SocketException e) { CloseSocket(c); EndRequestFailed(c, LoadMetrics.Classify(e), now); return; }
            var ev = new EpollEvent { Events = EPOLLIN | EPOLLRDHUP | (done ? 0 : EPOLLOUT), Data = (ulong)c.Slot };
            if (epoll_ctl(_ep, EPOLL_CTL_ADD, c.Fd, &ev) != 0) { CloseSocket(c); EndRequestFailed(c, "other", now); return; }
            c.WantOut = !done;
            if (done) Connected(c, now);
        }

        private void OnConnectEvent(Conn c, long now)
        {
            int err;
            try { err = (int)c.Sock!.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!; }
            catch (Exception) { err = -1; }
            if (err != 0)
            {
                CloseSocket(c);
                // .NET reports SO_ERROR as a SocketError value (10061 = ConnectionRefused); raw errnos are accepted too.
                string kind = err switch
                {
                    ECONNREFUSED => "refused", ETIMEDOUT => "timeout", 113 or 101 => "unreachable", ECONNRESET => "reset",
                    > 10000 => LoadMetrics.Classify(new SocketException(err)),
                    _ => "other",
                };
                EndRequestFailed(c, kind, now);
                return;
            }
            SetOut(c, false);
            Connected(c, now);
        }

        private void Connected(Conn c, long now)
        {
            _run.Record(LoadMetrics.HConnect, now - c.ConnectStart);
            c.Start = c.End = 0;
            c.Reused = false;
            if (c.Host >= 0) BeginHandshake(c, now);
            else BeginSend(c, now);
        }

        /// <summary>TLS on the connected socket: an SSL bound to its descriptor, then the handshake, driven by epoll.</summary>
        private void BeginHandshake(Conn c, long now)
        {
            c.State = St.Handshaking;
            c.HandshakeStart = now;
            c.SessionTaken = false;
            c.SslWantsRead = false;
            nint ssl = _e._ctx == 0 ? 0 : LibSsl.New(_e._ctx);
            if (ssl == 0) { CloseSocket(c); EndRequestFailed(c, "tls", now); return; }
            c.Ssl = ssl;
            LibSsl.SSL_set_fd(ssl, c.Fd);
            LibSsl.SSL_set_connect_state(ssl);
            _e.Configure(ssl, c.Host);
            Handshake(c, now);
        }

        private void Handshake(Conn c, long now)
        {
            int r = LibSsl.SSL_do_handshake(c.Ssl);
            if (r == 1)
            {
                if (c.WantOut) SetOut(c, false);
                long t = Stopwatch.GetTimestamp();
                _run.Record(LoadMetrics.HTls, t - c.HandshakeStart);
                BeginSend(c, t);
                return;
            }
            int errno = Marshal.GetLastPInvokeError();
            int err = LibSsl.SSL_get_error(c.Ssl, r);
            if (err == LibSsl.SSL_ERROR_WANT_READ) { if (c.WantOut) SetOut(c, false); return; }
            if (err == LibSsl.SSL_ERROR_WANT_WRITE) { if (!c.WantOut) SetOut(c, true); return; }
            LibSsl.ERR_clear_error();
            // A refused certificate or a protocol alert is a tls failure; a socket error keeps its own kind.
            string kind = err == LibSsl.SSL_ERROR_SYSCALL && errno is ECONNRESET or EPIPE ? "reset"
                        : err == LibSsl.SSL_ERROR_SYSCALL && errno == ETIMEDOUT ? "timeout" : "tls";
            CloseSocket(c);
            EndRequestFailed(c, kind, Stopwatch.GetTimestamp());
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private void BeginSend(Conn c, long now)
        {
            c.State = St.Sending;
            c.SendOffset = 0;
            c.FirstByte = 0;
            c.SentAt = now;
            c.Parser.Reset(_head[c.Request]);
            TrySend(c, now);
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private void TrySend(Conn c, long now)
        {
            var wire = _wire[c.Request];
            if (c.Ssl != 0)
            {
                while (c.SendOffset < wire.Length)
                {
                    int w;
                    fixed (byte* p = wire) w = LibSsl.SSL_write(c.Ssl, p + c.SendOffset, wire.Length - c.SendOffset);
                    if (w > 0) { c.SendOffset += w; continue; }
                    int errno = Marshal.GetLastPInvokeError();
                    int err = LibSsl.SSL_get_error(c.Ssl, w);
                    if (err == LibSsl.SSL_ERROR_WANT_WRITE) { c.SslWantsRead = false; if (!c.WantOut) SetOut(c, true); return; }
                    if (err == LibSsl.SSL_ERROR_WANT_READ) { c.SslWantsRead = true; if (c.WantOut) SetOut(c, false); return; }
                    LibSsl.ERR_clear_error();
                    IoError(c, err == LibSsl.SSL_ERROR_SYSCALL ? (errno == 0 ? -1 : errno) : err == LibSsl.SSL_ERROR_ZERO_RETURN ? -1 : TlsFailure, now);
                    return;
                }
                c.SslWantsRead = false;
            }
            while (c.SendOffset < wire.Length)
            {
                nint n;
                fixed (byte* p = wire) n = send(c.Fd, p + c.SendOffset, wire.Length - c.SendOffset, MSG_NOSIGNAL);
                if (n >= 0) { c.SendOffset += (int)n; continue; }
                int errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                if (errno == EAGAIN) { SetOut(c, true); return; }
                IoError(c, errno, now);
                return;
            }
            if (c.WantOut) SetOut(c, false);
            _bytesOutDelta += wire.Length;
            c.State = St.Receiving; // epoll (level-triggered) reports the response
        }

        private void SetOut(Conn c, bool on)
        {
            c.WantOut = on;
            var ev = new EpollEvent { Events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0), Data = (ulong)c.Slot };
            epoll_ctl(_ep, EPOLL_CTL_MOD, c.Fd, &ev);
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private void OnReadable(Conn c, long now)
        {
            long arrived = now; // when the bytes in the buffer were read (bytes left from an earlier read: this event's time)
            while (true)
            {
                if (c.Start < c.End)
                {
                    c.Start += c.Parser.Parse(c.Buf.AsSpan(c.Start, c.End - c.Start), arrived);
                    if (c.Parser.Done) { Completed(c); return; }
                }
                if (c.Start == c.End) c.Start = c.End = 0;
                else if (c.End == c.Buf.Length)
                {
                    if (c.Start > 0) { Buffer.BlockCopy(c.Buf, c.Start, c.Buf, 0, c.End - c.Start); c.End -= c.Start; c.Start = 0; }
                    else Array.Resize(ref c.Buf, c.Buf.Length * 2);
                }
                nint n;
                int errno;
                if (c.Ssl != 0)
                {
                    fixed (byte* p = c.Buf) n = SslRead(c, p + c.End, c.Buf.Length - c.End, out errno);
                }
                else
                {
                    fixed (byte* p = c.Buf) n = recv(c.Fd, p + c.End, c.Buf.Length - c.End, 0);
                    errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
                }
                if (n > 0)
                {
                    arrived = Stopwatch.GetTimestamp();
                    if (c.FirstByte == 0) c.FirstByte = arrived;
                    c.End += (int)n;
                    continue;
                }
                if (n == 0)
                {
                    if (c.Parser.OnEof()) { Completed(c); return; }
                    IoError(c, -1, Stopwatch.GetTimestamp());
                    return;
                }
                if (errno == EINTR) continue;
                if (errno == EAGAIN) return;
                IoError(c, errno, Stopwatch.GetTimestamp());
                return;
            }
        }

        /// <summary>
        /// SSL_read in recv's terms: bytes, 0 at the end of the stream, or -1 with errno (EAGAIN when OpenSSL waits for
        /// the socket; the epoll interest is set for what it waits for; <see cref="TlsFailure"/> for a TLS error).
        /// </summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private int SslRead(Conn c, byte* p, int len, out int errno)
        {
            int r = LibSsl.SSL_read(c.Ssl, p, len);
            if (r > 0) { errno = 0; return r; }
            int sys = Marshal.GetLastPInvokeError();
            int err = LibSsl.SSL_get_error(c.Ssl, r);
            switch (err)
            {
                case LibSsl.SSL_ERROR_WANT_READ: if (c.WantOut) SetOut(c, false); errno = EAGAIN; return -1;
                case LibSsl.SSL_ERROR_WANT_WRITE: if (!c.WantOut) SetOut(c, true); errno = EAGAIN; return -1;
                case LibSsl.SSL_ERROR_ZERO_RETURN: errno = 0; return 0;
                case LibSsl.SSL_ERROR_SYSCALL when sys == 0: LibSsl.ERR_clear_error(); errno = 0; return 0;
                case LibSsl.SSL_ERROR_SYSCALL: LibSsl.ERR_clear_error(); errno = sys; return -1;
                default: LibSsl.ERR_clear_error(); errno = TlsFailure; return -1;
            }
        }

        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        private void Completed(Conn c)
        {
            long end = Stopwatch.GetTimestamp();
            if (c.Ssl != 0 && !c.SessionTaken) { c.SessionTaken = true; _e.KeepSession(c.Ssl, c.Host); }
            _inFlightDelta--;
            _run.Complete(c.Request, c.Parser.Status, c.Intended, c.SentAt, c.FirstByte, end, c.Parser);
            if (c.Parser.ConnectionClose || c.Parser.ReadsToEnd || _close[c.Request]) CloseSocket(c, clean: true);
            AfterRequest(c, end);
        }

        private void AfterRequest(Conn c, long now)
        {
            if (_open) { c.State = St.Idle; c.IdleSince = now; _idle.Push(c); return; }
            var think = _run.Options.ThinkTime;
            if (think > TimeSpan.Zero) { Sleep(c, now + (long)(think.TotalSeconds * Stopwatch.Frequency)); return; }
            c.State = St.Idle;
            TryStartClosed(c, now);
        }

        private void IoError(Conn c, int errno, long now)
        {
            bool firstByte = c.FirstByte != 0;
            CloseSocket(c);
            if (_run.StoppingHard) { _inFlightDelta--; c.State = St.Done; _live--; return; }
            // A kept-alive connection the server closed while idle: resend once on a fresh connection.
            if (c.Reused && !firstByte && !c.Retried && (errno is -1 or ECONNRESET or EPIPE))
            {
                c.Retried = true;
                BeginConnect(c, c.Ep ?? _e._eps[c.Request]);
                return;
            }
            string kind = errno switch { TlsFailure => "tls", -1 or ECONNRESET or EPIPE => "reset", ECONNREFUSED => "refused", ETIMEDOUT => "timeout", _ => "other" };
            EndRequestFailed(c, kind, now);
        }

        private void EndRequestFailed(Conn c, string kind, long now)
        {
            _run.Fail(c.Request, kind, c.Intended, now);
            _inFlightDelta--;
            AfterRequest(c, now);
        }

        /// <summary>An idle keep-alive connection that the server closed: drop it so the next request reconnects.</summary>
        private void CheckIdleClosed(Conn c)
        {
            byte b;
            if (c.Ssl != 0)
            {
                // A TLS record on an idle connection: a late session ticket (read, keep the connection) or the close.
                int r = LibSsl.SSL_read(c.Ssl, &b, 1);
                if (r <= 0 && LibSsl.SSL_get_error(c.Ssl, r) == LibSsl.SSL_ERROR_WANT_READ) return;
                LibSsl.ERR_clear_error();
                CloseSocket(c, clean: true);
                return;
            }
            nint n = recv(c.Fd, &b, 1, 0x2 /* MSG_PEEK */);
            if (n == 0 || (n < 0 && Marshal.GetLastPInvokeError() != EAGAIN)) CloseSocket(c);
        }

        /// <summary>Timeouts: a request in flight longer than -Timeout fails as a timeout and its connection is closed.</summary>
        private void Scan(long now)
        {
            long limit = _run.TimeoutTicks;
            foreach (var c in _conns)
            {
                if (c.State is St.Sending or St.Receiving && now - c.Since > limit)
                {
                    CloseSocket(c);
                    EndRequestFailed(c, "timeout", now);
                }
                else if (c.State is St.Connecting or St.Handshaking && now - c.Since > limit)
                {
                    CloseSocket(c);
                    EndRequestFailed(c, "timeout", now);
                }
            }
        }

        private void Finish(Conn c)
        {
            if (c.State == St.Done) return;
            if (c.State is St.Sending or St.Receiving or St.Connecting or St.Handshaking) _inFlightDelta--;
            CloseSocket(c);
            c.State = St.Done;
            _live--;
        }

        /// <summary>
        /// Closes the connection (and frees its SSL). <paramref name="clean"/>: it ended as HTTP meant it to (a response
        /// said close, the server closed an idle connection, the test ramped down), so its TLS session stays
        /// resumable (OpenSSL marks a session bad when its SSL is freed without a shutdown; no close_notify is sent).
        /// </summary>
        private void CloseSocket(Conn c, bool clean = false)
        {
            var s = c.Sock;
            c.Sock = null;
            c.Fd = -1;
            c.WantOut = false;
            if (c.Ssl != 0)
            {
                if (clean) LibSsl.SSL_set_shutdown(c.Ssl, LibSsl.SSL_SENT_SHUTDOWN | LibSsl.SSL_RECEIVED_SHUTDOWN);
                LibSsl.Free(c.Ssl);
                c.Ssl = 0;
            }
            if (s is null) return;
            try { s.Dispose(); } catch { /* gone */ }
        }
    }
}
