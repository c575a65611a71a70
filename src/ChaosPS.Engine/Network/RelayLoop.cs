using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using static ChaosPS.LinuxIo;

namespace ChaosPS.Network;

/// <summary>
/// The proxy's data path on Linux: a few dedicated threads, each with its own epoll set, read every link's sockets
/// with plain recv/send system calls (the nginx/haproxy design). A direction with no toxics and nothing queued is
/// written straight on: no thread-pool hop, no async state machine and no allocation per read; one read buffer per loop
/// thread is shared by every link on it, and only bytes the destination cannot take at once are copied aside (that
/// direction then stops reading until they are written, so a slow reader pushes back on the sender as TCP does).
/// <para>
/// A direction with toxics (or with chunks still queued from them) gets its reads as stamped chunks for its toxic
/// chain (<see cref="Pipe"/>'s processor), in order; a full queue pauses reading until the processor makes room. The
/// loop stays the only reader either way, so switching between the two loses, duplicates and reorders nothing, and
/// the runtime's async socket engine never watches these sockets (if it did, every arriving byte would wake two
/// threads). The read size starts at 64 KiB and doubles up to 1 MiB while reads fill it and the destination takes
/// everything (bulk transfers move in few system calls); a partial write drops it back to 64 KiB, which bounds what
/// waits per direction.
/// </para>
/// <para>
/// Sockets registered here are closed only by their loop thread, after they left the epoll set, so a descriptor
/// number can never be reused under the loop's feet.
/// </para>
/// </summary>
internal sealed unsafe partial class RelayLoop
{
    /// <summary>x64 Linux (epoll_event is packed there); CHAOSPS_PROXY_RELAY=0 turns it off (async sockets read every byte then).</summary>
    public static bool Supported { get; } = LinuxIo.Supported && Environment.GetEnvironmentVariable("CHAOSPS_PROXY_RELAY") != "0";

    /// <summary>Loop threads: CHAOSPS_PROXY_LOOPS, else half the processors (at least 1, at most 8).</summary>
    public static int LoopCount { get; } = int.TryParse(Environment.GetEnvironmentVariable("CHAOSPS_PROXY_LOOPS"), out var n) && n > 0
        ? Math.Min(n, 64) : Math.Clamp(Environment.ProcessorCount / 2, 1, 8);

    internal const int MinRead = 64 * 1024, MaxRead = 1024 * 1024;

    private static RelayLoop[]? s_loops;
    private static int s_next;
    private static readonly object s_create = new();

    /// <summary>The loop the next link goes to (round robin; the threads start on first use and live with the process).</summary>
    public static RelayLoop Pick()
    {
        var loops = All();
        return loops[(int)((uint)Interlocked.Increment(ref s_next) % (uint)loops.Length)];
    }

    /// <summary>Every loop (started on first use).</summary>
    private static RelayLoop[] All()
    {
        var loops = Volatile.Read(ref s_loops);
        if (loops is null)
            lock (s_create)
            {
                loops = s_loops;
                if (loops is null)
                {
                    loops = new RelayLoop[LoopCount];
                    for (int i = 0; i < loops.Length; i++) loops[i] = new RelayLoop(i);
                    Volatile.Write(ref s_loops, loops);
                }
            }
        return loops;
    }

    [ThreadStatic] private static RelayLoop? t_current;
    /// <summary>True on this loop's own thread (a link closed from here is unregistered at once).</summary>
    public bool IsCurrent => ReferenceEquals(t_current, this);

    private const ulong WakeTag = ulong.MaxValue, ConnectTag = 1UL << 62, ListenTag = 1UL << 61;
    /// <summary>
    /// A link's epoll data: side in bit 0, slot in bits 1-24, the link's generation in bits 25-56. Sockets are closed
    /// without EPOLL_CTL_DEL where nothing else holds them (close(2) takes them out of the set), so an event already
    /// queued for a closed socket may name a slot a newer link took; the generation tells them apart.
    /// </summary>
    private const int SlotBits = 24, GenShift = SlotBits + 1;
    private const ulong SlotMask = (1UL << SlotBits) - 1;
    private const uint EPOLLONESHOT = 1u << 30;
    /// <summary>InEpoll value of an upstream socket still in the set from its (one-shot) dial; a link never wants it.</summary>
    internal const uint Parked = EPOLLONESHOT;
    private const int ENOENT = 2;

    // ------------------------------------------------------------------ state

    private enum Op { Register, Resume, Unregister, Connect, CancelConnect, Relisten }

    /// <summary>
    /// An upstream dial the loop watches (EPOLLOUT, then SO_ERROR); Done gets 0, an errno, or -1 when cancelled. Its
    /// continuation runs on the loop thread, inline (it only builds the link and registers it: no hop to the pool).
    /// </summary>
    private sealed class PendingConnect(int fd)
    {
        public readonly int Fd = fd;
        public readonly TaskCompletionSource<int> Done = new();
        public long Id;
    }

    private readonly int _ep, _wakeFd;
    private readonly ConcurrentQueue<(Op Op, object Target)> _commands = new();
    private readonly Dictionary<long, PendingConnect> _connects = [];
    /// <summary>Upstream sockets whose dial succeeded: still in the epoll set, so registering the link is one EPOLL_CTL_MOD.</summary>
    private readonly HashSet<int> _parked = [];
    private uint _gen;
    private long _nextConnect;
    private int _wakePending;
    private Link?[] _slots = new Link?[64];
    private readonly Stack<int> _free = new();
    private int _used;
    private readonly byte* _buf;
    private readonly int _index;

    private RelayLoop(int index)
    {
        _ep = epoll_create1(0x80000);
        _wakeFd = eventfd(0, 0x800 | 0x80000); // EFD_NONBLOCK | EFD_CLOEXEC
        if (_ep < 0 || _wakeFd < 0) throw new InvalidOperationException($"relay loop: epoll/eventfd failed (errno {Marshal.GetLastPInvokeError()})");
        var ev = new EpollEvent { Events = EPOLLIN, Data = WakeTag };
        epoll_ctl(_ep, EPOLL_CTL_ADD, _wakeFd, &ev);
        _buf = (byte*)NativeMemory.AlignedAlloc(MaxRead, 4096);
        _index = index;
        new Thread(Run) { IsBackground = true, Name = $"chaosps-relay-{index}" }.Start();
    }

    // ------------------------------------------------------------------ commands (any thread)

    /// <summary>Takes a freshly started link: both directions begin on the fast path.</summary>
    public void Register(Link link)
    {
        if (IsCurrent) RegisterLocal(link);
        else Post(Op.Register, link);
    }

    /// <summary>
    /// Takes a freshly started link: both directions begin on the fast path. On the loop's own thread (a link dialled
    /// there) it is queued behind the event batch, so a slot freed in the batch is not reused while its stale events
    /// are still read.
    /// </summary>
    private void RegisterLocal(Link link) => _commands.Enqueue((Op.Register, link));

    /// <summary>A direction paused for a full chain queue has room again: the loop reads it again.</summary>
    public void Resume(Pipe pipe) => Post(Op.Resume, pipe);

    /// <summary>The link closed: leave the epoll set, then close the sockets (on the loop thread).</summary>
    public void Unregister(Link link)
    {
        if (IsCurrent) UnregisterNow(link);
        else Post(Op.Unregister, link);
    }

    private void Post(Op op, object target)
    {
        _commands.Enqueue((op, target));
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            long one = 1;
            write(_wakeFd, (byte*)&one, 8);
        }
    }

    // ------------------------------------------------------------------ the loop

    private void Run()
    {
        t_current = this;
        var events = stackalloc EpollEvent[256];
        long scratch;
        while (true)
        {
            int n = epoll_wait(_ep, events, 256, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EINTR) continue;
                Thread.Sleep(10); // should not happen; never spin
                continue;
            }
            bool wake = false;
            for (int i = 0; i < n; i++)
            {
                ulong data = events[i].Data;
                if (data == WakeTag) { wake = true; continue; }
                if ((data & ConnectTag) != 0) { ConnectEvent((long)(data & ~ConnectTag)); continue; }
                if ((data & ListenTag) != 0) { ListenEvent((long)(data & ~ListenTag)); continue; }
                var link = _slots[(int)((data >> 1) & SlotMask)];
                if (link is null || link.IsClosed || link.RelayGen != (uint)(data >> GenShift)) continue;
                try { OnEvent(link, (int)(data & 1), events[i].Events); }
                catch (Exception e) { link.Close($"internal error: {e.GetType().Name}: {e.Message}"); }
            }
            // Commands run after the batch, so a slot freed in it is not reused while its stale events are still read.
            if (wake)
            {
                read(_wakeFd, (byte*)&scratch, 8);
                Volatile.Write(ref _wakePending, 0);
            }
            while (_commands.TryDequeue(out var c))
            {
                try
                {
                    switch (c.Op)
                    {
                        case Op.Register: RegisterNow((Link)c.Target); break;
                        case Op.Resume: ResumeNow((Pipe)c.Target); break;
                        case Op.Unregister: UnregisterNow((Link)c.Target); break;
                        case Op.Connect: WatchConnect((PendingConnect)c.Target); break;
                        case Op.CancelConnect: EndConnect((PendingConnect)c.Target, -1); break;
                        case Op.Relisten: ((Listener)c.Target).Watch(this); break;
                    }
                }
                catch (Exception e)
                {
                    if (c.Target is Link l) l.Close($"internal error: {e.GetType().Name}: {e.Message}");
                    else if (c.Target is Pipe p) p.Link.Close($"internal error: {e.GetType().Name}: {e.Message}");
                    else if (c.Target is PendingConnect pc) pc.Done.TrySetResult(-2);
                }
            }
        }
    }

    /// <summary>O_NONBLOCK in one ioctl(FIONBIO) (the Blocking property costs fcntl F_GETFL + F_SETFL); false if it failed.</summary>
    internal static bool SetNonBlocking(int fd)
    {
        int on = 1;
        return ioctl(fd, FIONBIO, &on) == 0;
    }

    /// <summary>Tests turn this off so loopback dials take the waiting path (one-shot registration, then MOD) too.</summary>
    internal static bool CheckDialAtOnce = true;

    /// <summary>
    /// Whether a dial that answered EINPROGRESS is done already (on loopback the handshake usually completes inside
    /// connect(2)): one poll(2) with no wait; 0 when connected, the errno when it failed, EINPROGRESS while it goes on.
    /// Done: no epoll registration, no event and no loop round for the dial.
    /// </summary>
    private static int ConnectedNow(int fd)
    {
        var pfd = new PollFd { Fd = fd, Events = POLLOUT };
        if (poll(&pfd, 1, 0) != 1) return EINPROGRESS;
        if ((pfd.Revents & (POLLERR | POLLHUP)) == 0) return (pfd.Revents & POLLOUT) != 0 ? 0 : EINPROGRESS;
        int err = 0, len = sizeof(int);
        if (getsockopt(fd, 1, 4, &err, &len) < 0) err = Marshal.GetLastPInvokeError(); // SOL_SOCKET, SO_ERROR
        return err == 0 ? EINPROGRESS : err;
    }

    /// <summary>
    /// connect(2) on a non-blocking socket: 0 (connected), EINPROGRESS, or the errno. Called directly, not through
    /// Socket.Connect, which reports "in progress" as an exception on every dial.
    /// </summary>
    private static int StartConnect(int fd, IPEndPoint ep)
    {
        var sa = ep.Serialize();
        int len = sa.Size;
        byte* addr = stackalloc byte[len];
        for (int i = 0; i < len; i++) addr[i] = sa[i];
        if (connect(fd, addr, len) == 0) return 0;
        int err = Marshal.GetLastPInvokeError();
        return err == EINTR ? EINPROGRESS : err; // an interrupted non-blocking connect goes on in the background
    }

    // ------------------------------------------------------------------ accepting

    /// <summary>
    /// A proxy's listening socket, watched by every loop (EPOLLEXCLUSIVE: one loop wakes per arrival), so a connection is
    /// accepted, dialled and relayed on one thread with no hop through the thread pool. The loop that accepts a
    /// connection hands it to the proxy on its own thread.
    /// </summary>
    internal sealed class Listener
    {
        private static readonly ConcurrentDictionary<long, Listener> s_all = new();
        private static long s_nextId;
        private readonly long _id = Interlocked.Increment(ref s_nextId);
        internal readonly Socket Socket;
        internal readonly int Fd;
        internal readonly Action<Socket, RelayLoop> OnAccept;
        private volatile bool _closed;

        private Listener(Socket socket, Action<Socket, RelayLoop> onAccept)
        {
            Socket = socket;
            OnAccept = onAccept;
            socket.Blocking = false;
            Fd = (int)socket.SafeHandle.DangerousGetHandle();
        }

        internal bool Closed => _closed;

        /// <summary>Starts accepting on every loop; <paramref name="onAccept"/> runs on the accepting loop's thread.</summary>
        public static Listener Start(Socket listening, Action<Socket, RelayLoop> onAccept)
        {
            var l = new Listener(listening, onAccept);
            s_all[l._id] = l;
            foreach (var loop in All()) l.Watch(loop);
            return l;
        }

        internal static bool TryGet(long id, out Listener l) => s_all.TryGetValue(id, out l!);

        /// <summary>Adds the socket to a loop's epoll set (epoll_ctl is safe from any thread).</summary>
        internal void Watch(RelayLoop loop)
        {
            if (_closed) return;
            var ev = new EpollEvent { Events = EPOLLIN | EPOLLEXCLUSIVE, Data = ListenTag | (ulong)_id };
            epoll_ctl(loop._ep, EPOLL_CTL_ADD, Fd, &ev);
        }

        /// <summary>
        /// Stops accepting: out of every epoll set before the caller disposes the socket. A loop that is accepting at this
        /// moment holds a reference on the handle, so the descriptor is not closed (or reused) under it.
        /// </summary>
        public void Close()
        {
            _closed = true;
            s_all.TryRemove(_id, out _);
            foreach (var loop in All()) epoll_ctl(loop._ep, EPOLL_CTL_DEL, Fd, null);
        }
    }

    /// <summary>
    /// One connection per event, taken with the runtime's own accept (it wraps the descriptor without asking the kernel
    /// about it again); the epoll set is level-triggered, so more waiting connections report again at once. Handed to
    /// the proxy on this thread.
    /// </summary>
    private void ListenEvent(long id)
    {
        if (!Listener.TryGet(id, out var l) || l.Closed) return;
        Socket client;
        try { client = l.Socket.Accept(); }
        catch (ObjectDisposedException) { return; } // closed meanwhile
        catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.ConnectionAborted or SocketError.ConnectionReset or SocketError.Interrupted)
        {
            return; // another loop took it, or the client gave up while it waited
        }
        catch (SocketException)
        {
            // Out of descriptors or memory: the queue would report forever, so this loop stops watching it for a moment
            // (the connections wait in the backlog meanwhile). The reference keeps the descriptor from closing under us.
            bool held = false;
            try
            {
                l.Socket.SafeHandle.DangerousAddRef(ref held);
                epoll_ctl(_ep, EPOLL_CTL_DEL, l.Fd, null);
            }
            catch (ObjectDisposedException) { return; }
            finally { if (held) l.Socket.SafeHandle.DangerousRelease(); }
            _ = Task.Delay(100).ContinueWith(_ => Post(Op.Relisten, l), TaskScheduler.Default);
            return;
        }
        try { l.OnAccept(client, this); }
        catch (Exception) { client.Dispose(); }
    }

    private void WatchConnect(PendingConnect pc)
    {
        pc.Id = ++_nextConnect;
        _parked.Remove(pc.Fd); // a number a closed, never registered socket left behind
        // One-shot: after its one report the socket stays in the set, silent, until its link re-arms it with one MOD.
        var ev = new EpollEvent { Events = EPOLLOUT | EPOLLONESHOT, Data = ConnectTag | (ulong)pc.Id };
        if (epoll_ctl(_ep, EPOLL_CTL_ADD, pc.Fd, &ev) < 0) { pc.Done.TrySetResult(Marshal.GetLastPInvokeError()); return; }
        _connects[pc.Id] = pc;
    }

    private void ConnectEvent(long id)
    {
        if (!_connects.TryGetValue(id, out var pc)) return;
        int err = 0, len = sizeof(int);
        if (getsockopt(pc.Fd, 1, 4, &err, &len) < 0) err = Marshal.GetLastPInvokeError(); // SOL_SOCKET, SO_ERROR
        EndConnect(pc, err);
    }

    /// <summary>Stops watching a dial (it finished, failed or was cancelled) before its owner may close the socket.</summary>
    private void EndConnect(PendingConnect pc, int result)
    {
        if (!_connects.Remove(pc.Id)) return;
        // Connected: the socket stays in the set (its events are ignored until the link takes it over with one MOD).
        if (result == 0) _parked.Add(pc.Fd);
        else epoll_ctl(_ep, EPOLL_CTL_DEL, pc.Fd, null);
        pc.Done.TrySetResult(result);
    }

    private void RegisterNow(Link link)
    {
        bool parked = _parked.Remove(link.Fd(1));
        if (link.IsClosed) { link.DisposeSockets(); return; }
        int slot;
        if (_free.Count > 0) slot = _free.Pop();
        else
        {
            if (_used > (int)SlotMask) { link.Close("relay loop: too many links"); link.DisposeSockets(); return; }
            if (_used == _slots.Length) Array.Resize(ref _slots, _slots.Length * 2);
            slot = _used++;
        }
        _slots[slot] = link;
        link.RelaySlot = slot;
        link.RelayGen = ++_gen;
        if (parked) link.InEpoll[1] = Parked;
        link.Up.Mode = PipeMode.Fast;
        link.Down.Mode = PipeMode.Fast;
        UpdateInterest(link, 0);
        UpdateInterest(link, 1);
        // The client usually spoke while its upstream was dialled: read it now rather than after another epoll_wait
        // (what haproxy does too). Nothing there: one recv that answers EAGAIN, and the event comes as usual.
        if (!link.IsClosed && !link.Up.NeedsChain && link.Up.InlineStage is null) Forward(link, link.Up, EPOLLIN);
    }

    private void ResumeNow(Pipe p)
    {
        var link = p.Link;
        if (link.IsClosed || link.RelaySlot < 0) return;
        UpdateInterest(link, p.IsUpstream ? 0 : 1);
    }

    private void UnregisterNow(Link link)
    {
        int slot = link.RelaySlot;
        if (slot >= 0)
        {
            // The sockets are closed below, which takes them out of the set. Only where another thread may still hold
            // one (a toxic chain wrote to it), they leave the set first: a socket that stayed open would report forever.
            bool shared = link.Up.ProcessorStarted || link.Down.ProcessorStarted;
            for (int side = 0; side < 2; side++)
            {
                if (shared && link.InEpoll[side] != 0) epoll_ctl(_ep, EPOLL_CTL_DEL, link.Fd(side), null);
                link.InEpoll[side] = 0;
            }
            _slots[slot] = null;
            _free.Push(slot);
            link.RelaySlot = -1;
            link.Up.DropPending();
            link.Down.DropPending();
        }
        link.Up.CloseSplicePipe();
        link.Down.CloseSplicePipe();
        link.DisposeSockets();
    }

    /// <summary>
    /// What the loop waits for on one socket (side 0 = client, 1 = upstream): readable while the direction it feeds is on
    /// the fast path with nothing waiting, writable while the direction that writes to it has bytes waiting. A socket
    /// with nothing to wait for leaves the set (a hung-up socket would otherwise report forever).
    /// </summary>
    private void UpdateInterest(Link link, int side)
    {
        var src = side == 0 ? link.Up : link.Down;
        var dst = side == 0 ? link.Down : link.Up;
        uint want = 0;
        if (src.Mode == PipeMode.Fast && src.PendingCount == 0 && Volatile.Read(ref src.ReadPaused) == 0) want |= EPOLLIN | EPOLLRDHUP;
        if (dst.Mode == PipeMode.Fast && dst.PendingCount > 0) want |= EPOLLOUT;
        uint have = link.InEpoll[side];
        if (want == have) return;
        var ev = new EpollEvent { Events = want, Data = ((ulong)link.RelayGen << GenShift) | ((ulong)link.RelaySlot << 1) | (uint)side };
        int fd = link.Fd(side);
        int rc = want == 0 ? epoll_ctl(_ep, EPOLL_CTL_DEL, fd, null)
            : epoll_ctl(_ep, have == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
        if (rc < 0 && have == Parked && Marshal.GetLastPInvokeError() == ENOENT)
            rc = want == 0 ? 0 : epoll_ctl(_ep, EPOLL_CTL_ADD, fd, &ev); // not in the set after all
        if (rc < 0) throw new InvalidOperationException($"epoll_ctl failed (errno {Marshal.GetLastPInvokeError()})");
        link.InEpoll[side] = want;
    }

    private void OnEvent(Link link, int side, uint ev)
    {
        var src = side == 0 ? link.Up : link.Down;   // the direction this socket feeds
        var dst = side == 0 ? link.Down : link.Up;   // the direction that writes to this socket
        if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0 && dst.Mode == PipeMode.Fast && dst.PendingCount > 0)
        {
            Flush(link, dst);
            if (link.IsClosed) return;
        }
        if ((ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0 && src.Mode == PipeMode.Fast && src.PendingCount == 0)
            Forward(link, src, ev);
    }

    /// <summary>
    /// One read from the direction's source. With no toxics and nothing queued it is written straight on (the rest,
    /// if any, waits for EPOLLOUT); otherwise it becomes a chunk for the direction's toxic chain.
    /// </summary>
    private void Forward(Link link, Pipe p, uint ev)
    {
        int srcSide = p.IsUpstream ? 0 : 1, dstSide = 1 - srcSide;
        bool inline = false;
        if (p.NeedsChain)
        {
            if (!p.CanInline)
            {
                ReadIntoChain(link, p, srcSide);
                return;
            }
            inline = true;
        }
        else if (p.SpliceRead >= 0)
        {
            Splice(link, p, srcSide, dstSide);
            return;
        }
        int asked = p.ReadSize;
        nint n = recv(link.Fd(srcSide), _buf, asked, 0);
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is EAGAIN or EINTR) return;
            link.Close($"{SideName(srcSide)} socket: {ErrnoName(errno)}");
            return;
        }
        if (n == 0 && inline)
        {
            // HTTP mode: the end of the source goes through the stage (answers still owed, a reset due at the end).
            p.Mode = PipeMode.Ended;
            UpdateInterest(link, srcSide);
            p.EnqueueFromRelay(new Chunk(null, 0, 0, System.Diagnostics.Stopwatch.GetTimestamp(), eof: true));
            return;
        }
        if (n == 0) { EndDirection(link, p, srcSide, dstSide); return; }
        p.RelayedReads++;
        p.AddReceived((int)n);
        nint total = n;
        if (inline)
        {
            // HTTP mode: the stage walks the read; what no fault acts on is written straight on, the rest goes to the chain.
            int pass = p.InlineStage!.Inline(new ReadOnlySpan<byte>(_buf, (int)n));
            if (pass < n)
            {
                var rest = ArrayPool<byte>.Shared.Rent((int)(n - pass));
                new ReadOnlySpan<byte>(_buf + pass, (int)(n - pass)).CopyTo(rest);
                var chunk = new Chunk(rest, 0, (int)(n - pass), System.Diagnostics.Stopwatch.GetTimestamp());
                n = pass;
                if (n == 0) { p.EnqueueFromRelay(chunk); return; }
                p.Deferred = chunk; // queued once the bytes before it are written (below, or by Flush)
            }
        }
        // The peer had shut down before this read (EPOLLRDHUP) and the read did not fill the buffer: it took everything
        // before the FIN, so the next read would return 0. The direction ends right after this write, so the write
        // goes with MSG_MORE: the FIN that follows (shutdown or close) rides on the same segment as the data.
        bool lastRead = !inline && p.Deferred is null && total < asked && (ev & EPOLLRDHUP) != 0 && (ev & (EPOLLERR | EPOLLHUP)) == 0;
        nint sent = SendSome(link.Fd(dstSide), _buf, n, out int err, lastRead ? MSG_MORE : 0);
        if (sent > 0) p.AddSent((int)sent);
        if (err != 0) { link.Close($"{SideName(dstSide)} socket: {ErrnoName(err)}"); return; }
        if (sent == n)
        {
            if (p.Deferred is { } deferred) { p.Deferred = null; p.EnqueueFromRelay(deferred); }
            // End the direction now and save the read of 0.
            else if (lastRead)
            {
                EndDirection(link, p, srcSide, dstSide);
                return;
            }
            if (total == p.ReadSize && p.ReadSize < MaxRead) p.ReadSize *= 2;
            // Reads fill the buffer: a bulk transfer. Without toxics or an HTTP stage it moves through a pipe from here on.
            else if (total == MaxRead && !inline && p.InlineStage is null && SplicePipes) OpenSplicePipe(p);
            return;
        }
        // The destination is full: keep the rest, stop reading this direction until it is written.
        p.ReadSize = MinRead;
        p.SetPending(new ReadOnlySpan<byte>(_buf + sent, (int)(n - sent)));
        UpdateInterest(link, srcSide);
        UpdateInterest(link, dstSide);
    }

    /// <summary>A read for the toxic chain: stamped, queued in order, and bounded (a full queue pauses reading).</summary>
    private void ReadIntoChain(Link link, Pipe p, int srcSide)
    {
        if (!p.HasRoom)
        {
            Volatile.Write(ref p.ReadPaused, 1);
            UpdateInterest(link, srcSide);
            // The processor may have made room before it could see the flag: then take the pause back at once.
            if (p.HasRoom && Interlocked.CompareExchange(ref p.ReadPaused, 0, 1) == 1) UpdateInterest(link, srcSide);
            return;
        }
        var buf = ArrayPool<byte>.Shared.Rent(Pipe.BufferSize);
        nint n;
        fixed (byte* b = buf) n = recv(link.Fd(srcSide), b, Pipe.BufferSize, 0);
        long stamp = System.Diagnostics.Stopwatch.GetTimestamp();
        if (n <= 0)
        {
            ArrayPool<byte>.Shared.Return(buf);
            int errno = n < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (n < 0 && errno is EAGAIN or EINTR) return;
            // The end of the source (or its failure) goes through the chain after the data before it.
            p.Mode = PipeMode.Ended;
            UpdateInterest(link, srcSide);
            if (n == 0) p.EnqueueFromRelay(new Chunk(null, 0, 0, stamp, eof: true));
            else p.SourceFailedFromRelay(ErrnoName(errno));
            return;
        }
        p.ChainedReads++;
        p.AddReceived((int)n);
        p.EnqueueFromRelay(new Chunk(buf, 0, (int)n, stamp));
    }

    /// <summary>Bulk relaying through splice(2) is on (CHAOSPS_PROXY_SPLICE=0 turns it off).</summary>
    internal static bool SplicePipes { get; } = Environment.GetEnvironmentVariable("CHAOSPS_PROXY_SPLICE") != "0";

    private static void OpenSplicePipe(Pipe p)
    {
        int* fds = stackalloc int[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) return; // out of descriptors: stay on recv/send
        fcntl(fds[1], F_SETPIPE_SZ, MaxRead); // best effort (pipe-max-size may be lower)
        p.SpliceRead = fds[0];
        p.SpliceWrite = fds[1];
    }

    /// <summary>EOF from the source: pass it on as a half-close; the link closes once both directions ended.</summary>
    private void EndDirection(Link link, Pipe p, int srcSide, int dstSide)
    {
        p.Mode = PipeMode.Ended;
        // The other direction ended already: the link closes now, and close(2) sends the FIN and leaves the epoll set.
        if (link.DirectionsDone == 1) { link.DirectionDone(); return; }
        shutdown(link.Fd(dstSide), SHUT_WR);
        UpdateInterest(link, srcSide);
        link.DirectionDone();
    }

    /// <summary>
    /// One bulk read through the direction's pipe: source to pipe, pipe to destination, both without a copy through
    /// user space. What the destination cannot take stays in the pipe as pending (EPOLLOUT), as recv/send's rest does.
    /// The checks before it (toxics, queued chunks) are the same as for a read, so a toxic added mid-stream takes the
    /// next read and nothing is lost or reordered.
    /// </summary>
    private void Splice(Link link, Pipe p, int srcSide, int dstSide)
    {
        nint n = splice(link.Fd(srcSide), null, p.SpliceWrite, null, (nuint)MaxRead, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        if (n < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is EAGAIN or EINTR) return;
            link.Close($"{SideName(srcSide)} socket: {ErrnoName(errno)}");
            return;
        }
        if (n == 0) { EndDirection(link, p, srcSide, dstSide); return; }
        p.RelayedReads++;
        p.SplicedReads++;
        p.AddReceived((int)n);
        p.PendingCount = (int)n;
        SpliceOut(link, p, dstSide);
        if (p.PendingCount > 0 && !link.IsClosed)
        {
            UpdateInterest(link, srcSide);
            UpdateInterest(link, dstSide);
        }
    }

    /// <summary>Writes what waits in the pipe to the destination until done or full; closes the link on an error.</summary>
    private static void SpliceOut(Link link, Pipe p, int dstSide)
    {
        while (p.PendingCount > 0)
        {
            nint w = splice(p.SpliceRead, null, link.Fd(dstSide), null, (nuint)p.PendingCount, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
            if (w > 0) { p.AddSent((int)w); p.PendingCount -= (int)w; continue; }
            int e = w < 0 ? Marshal.GetLastPInvokeError() : EPIPE;
            if (e == EINTR) continue;
            if (e != EAGAIN) link.Close($"{SideName(dstSide)} socket: {ErrnoName(e)}");
            return;
        }
    }

    private void Flush(Link link, Pipe p)
    {
        int srcSide = p.IsUpstream ? 0 : 1, dstSide = 1 - srcSide;
        if (p.PendingBuffer is null && p.SpliceRead >= 0)
        {
            SpliceOut(link, p, dstSide);
            if (link.IsClosed || p.PendingCount > 0) return;
            UpdateInterest(link, srcSide);
            UpdateInterest(link, dstSide);
            return;
        }
        nint sent;
        int err;
        fixed (byte* b = &p.PendingBuffer![p.PendingOffset])
            sent = SendSome(link.Fd(dstSide), b, p.PendingCount, out err);
        if (sent > 0) { p.AddSent((int)sent); p.PendingOffset += (int)sent; p.PendingCount -= (int)sent; }
        if (err != 0) { link.Close($"{SideName(dstSide)} socket: {ErrnoName(err)}"); return; }
        if (p.PendingCount > 0) return;
        var deferred = p.Deferred;
        p.Deferred = null;
        p.DropPending();
        if (deferred is not null) p.EnqueueFromRelay(deferred);
        UpdateInterest(link, srcSide);
        UpdateInterest(link, dstSide);
    }

    /// <summary>
    /// Writes until done or the socket is full; err is 0, or the errno that ended it. <paramref name="flags"/> adds to
    /// MSG_NOSIGNAL (MSG_MORE when a FIN follows at once; a later write without it, or the FIN, sends what it held).
    /// </summary>
    private static nint SendSome(int fd, byte* data, nint count, out int err, int flags = 0)
    {
        nint done = 0;
        err = 0;
        while (done < count)
        {
            nint w = send(fd, data + done, count - done, MSG_NOSIGNAL | flags);
            if (w >= 0) { done += w; continue; }
            int e = Marshal.GetLastPInvokeError();
            if (e == EINTR) continue;
            if (e != EAGAIN) err = e;
            break;
        }
        return done;
    }

    private static string SideName(int side) => side == 0 ? "client" : "upstream";

    /// <summary>The SocketError the managed path would report for an errno a relay meets (names in close reasons, dial errors).</summary>
    internal static SocketError ToSocketError(int errno) => errno switch
    {
        ECONNRESET => SocketError.ConnectionReset,
        EPIPE => SocketError.Shutdown,
        ETIMEDOUT => SocketError.TimedOut,
        ECONNREFUSED => SocketError.ConnectionRefused,
        103 => SocketError.ConnectionAborted,
        107 => SocketError.NotConnected,
        113 => SocketError.HostUnreachable,
        101 => SocketError.NetworkUnreachable,
        9 => SocketError.OperationAborted,
        _ => SocketError.SocketError,
    };

    internal static string ErrnoName(int errno) => ToSocketError(errno) is var e && e != SocketError.SocketError ? e.ToString() : $"errno {errno}";
}

/// <summary>Who reads a direction: the managed reader (no relay loop), the relay loop, or nobody (its source ended).</summary>
internal enum PipeMode { Managed, Fast, Ended }

// The awaiting half of the dial lives in a part without the unsafe modifier (await is not allowed in unsafe code).
internal sealed partial class RelayLoop
{
    /// <summary>
    /// Connects a new socket without the runtime's socket engine: a non-blocking connect(2) on a descriptor of our own
    /// that this loop watches, handed to the runtime as a connected <see cref="Socket"/> once it succeeded. (A socket
    /// that ever ran an async operation stays in the runtime's own epoll set, and every byte that arrives then wakes
    /// two threads: that halved the relay's throughput.) What follows the await runs on this loop's thread. Throws
    /// SocketException on failure and OperationCanceledException when <paramref name="ct"/> fires first.
    /// </summary>
    public Task<Socket> ConnectAsync(IPEndPoint endPoint, CancellationToken ct) => ConnectCoreAsync(endPoint, ct, null);

    /// <summary>
    /// As <see cref="ConnectAsync(IPEndPoint, CancellationToken)"/>, cancelled after <paramref name="timeout"/>; the
    /// timer exists only while the dial waits (a loopback dial is usually connected before connect(2) returns).
    /// </summary>
    public Task<Socket> ConnectAsync(IPEndPoint endPoint, TimeSpan timeout) => ConnectCoreAsync(endPoint, default, timeout);

    private async Task<Socket> ConnectCoreAsync(IPEndPoint endPoint, CancellationToken ct, TimeSpan? timeout)
    {
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        CancellationTokenSource? timer = null;
        try
        {
            int fd = (int)socket.SafeHandle.DangerousGetHandle();
            if (!SetNonBlocking(fd)) socket.Blocking = false;
            int err = StartConnect(fd, endPoint);
            if (err == EINPROGRESS && CheckDialAtOnce) err = ConnectedNow(fd);
            if (err == EINPROGRESS)
            {
                if (timeout is { } t) { timer = new CancellationTokenSource(t); ct = timer.Token; }
                var pc = new PendingConnect(fd);
                if (IsCurrent) WatchConnect(pc);
                else Post(Op.Connect, pc);
                using (ct.UnsafeRegister(static o => { var (loop, p) = ((RelayLoop, PendingConnect))o!; loop.Post(Op.CancelConnect, p); }, (this, pc)))
                    err = await pc.Done.Task.ConfigureAwait(false); // the loop let go of the descriptor before it answered
                if (err == -1) throw new OperationCanceledException(ct);
            }
            if (err != 0) throw new SocketException(err == -2 ? (int)SocketError.SocketError : (int)ToSocketError(err));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        finally
        {
            timer?.Dispose();
        }
    }
}
