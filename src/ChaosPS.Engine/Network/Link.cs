using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace ChaosPS.Network;

/// <summary>
/// One proxied connection: the client socket, the upstream socket and two <see cref="Pipe"/>s (upstream = client to
/// server, downstream = server to client). An EOF is passed on as a half-close (shutdown of the write side), and the
/// link closes when both directions have ended, when either side fails, or when a toxic closes or resets it.
/// </summary>
public sealed class Link
{
    private readonly ChaosProxy _proxy;
    private int _closed;
    private int _directionsDone;

    internal Link(ChaosProxy proxy, Socket client, Socket server, long id, RelayLoop? relay)
    {
        _proxy = proxy;
        Client = client;
        Server = server;
        Id = id;
        try { _clientRemote = client.RemoteEndPoint; } // kept from the accept: no system call, no copy
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        Up = new Pipe(this, client, server, upstream: true);
        Down = new Pipe(this, server, client, upstream: false);
        // The loop that dialled the upstream (null: the managed path). From here on only its thread closes these sockets.
        Relay = relay;
    }

    public long Id { get; }
    /// <summary>The client's address (formatted on first use: most links never show it).</summary>
    public string ClientEndPoint => _clientEndPoint ??= _clientRemote?.ToString() ?? "";
    private readonly EndPoint? _clientRemote;
    private string? _clientEndPoint;
    public DateTimeOffset OpenedAt { get; } = DateTimeOffset.UtcNow;
    internal Socket Client { get; }
    internal Socket Server { get; }
    internal Pipe Up { get; }
    internal Pipe Down { get; }
    internal ProxyMetrics Metrics => _proxy.MetricsCore;
    public bool IsClosed => Volatile.Read(ref _closed) != 0;
    public string? CloseReason { get; private set; }

    internal Pipe PipeFor(bool upstream) => upstream ? Up : Down;

    /// <summary>The relay loop that reads this link's sockets (null: async sockets and tasks do, the managed path).</summary>
    internal RelayLoop? Relay { get; }
    /// <summary>The link's slot in its loop (-1 when not registered); loop thread only.</summary>
    internal int RelaySlot = -1;
    /// <summary>The loop's registration number for this link (its events carry it); loop thread only.</summary>
    internal uint RelayGen;
    /// <summary>The epoll events each side is registered for (0: not in the set); loop thread only.</summary>
    internal readonly uint[] InEpoll = new uint[2];
    private int _clientFd = -1, _serverFd = -1;
    internal int Fd(int side) => side == 0 ? _clientFd : _serverFd;

    internal void Start()
    {
        if (Relay is { } relay)
        {
            try
            {
                _clientFd = (int)Client.SafeHandle.DangerousGetHandle();
                _serverFd = (int)Server.SafeHandle.DangerousGetHandle();
                // The relay's dial made the upstream socket non-blocking, and the runtime makes a socket accepted from
                // a non-blocking listener non-blocking. A client from elsewhere gets one ioctl (the Blocking property
                // takes fcntl F_GETFL + F_SETFL); only the loop's plain recv/send and the chain's async sends (which keep
                // the descriptor non-blocking) use these sockets, never a blocking call of the runtime.
                if (Client.Blocking && !RelayLoop.SetNonBlocking(_clientFd)) Client.Blocking = false;
            }
            catch (ObjectDisposedException) { return; } // closed before it started (the loop closed the sockets)
            relay.Register(this); // a link closed meanwhile is not registered, only closed
            return;
        }
        Up.Start();
        Down.Start();
    }

    /// <summary>Closes both sockets (on the relay loop's thread for a relayed link; close(2) takes them out of its epoll set).</summary>
    internal void DisposeSockets()
    {
        try { Client.Dispose(); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        try { Server.Dispose(); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    /// <summary>Directions that ended so far (0, 1 or 2).</summary>
    internal int DirectionsDone => Volatile.Read(ref _directionsDone);

    internal void DirectionDone()
    {
        // Both sides were already shut down for writing and read to EOF: closing is all that is left.
        if (Interlocked.Increment(ref _directionsDone) >= 2) Shut("both directions ended", reset: false, ended: true);
    }

    /// <summary>Closes both sockets (a FIN each); idempotent.</summary>
    public void Close(string reason) => Shut(reason, reset: false);

    /// <summary>Closes both sockets with SO_LINGER 0, so both peers see a reset (ECONNRESET).</summary>
    public void Reset(string reason) => Shut(reason, reset: true);

    private void Shut(string reason, bool reset, bool ended = false)
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0) return;
        CloseReason = reason;
        if (reset) Interlocked.Increment(ref Metrics.Resets);
        if (reset || !ended)
            for (int i = 0; i < 2; i++)
            {
                var s = i == 0 ? Client : Server;
                try
                {
                    if (reset) s.LingerState = new LingerOption(true, 0);
                    else s.Shutdown(SocketShutdown.Both); // not Connected: the relay's dial is a connect(2) the runtime did not see
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            }
        // A relayed link's sockets are closed by its loop once they left the epoll set (no descriptor reuse under it).
        if (Relay is { } relay) relay.Unregister(this);
        else DisposeSockets();
        Up.Closed();
        Down.Closed();
        _proxy.LinkClosed(this);
    }
}

/// <summary>
/// One direction of a link. Its reader (the relay loop on x64 Linux, else this pipe's own read task) copies straight
/// from source to destination while the direction has no toxics and nothing is queued. Otherwise it stamps each read and
/// queues it (bounded: a slow chain pushes back on the reader, so memory stays bounded) for the processor, which runs it
/// through the current toxic chain in creation order and writes it. The chain is swapped as a whole, so adding, updating
/// and removing toxics affects open links at once without losing or reordering bytes.
/// </summary>
internal sealed class Pipe
{
    /// <summary>Read size: large, so bulk transfers move in few system calls.</summary>
    internal const int BufferSize = 64 * 1024;
    /// <summary>Chunks that may wait in the chain per direction (at most 64 KiB each: 16 MiB worst case).</summary>
    internal static int QueueCapacity = 256;

    private readonly Link _link;
    private readonly Socket _src, _dst;
    /// <summary>The chain's queue and the direction's cancellation: made on first use (a toxic-free relayed link never needs them).</summary>
    private Channel<Chunk>? _queue;
    private CancellationTokenSource? _cts;
    private int _inflight;
    private volatile string? _sourceError;

    public Pipe(Link link, Socket src, Socket dst, bool upstream)
    {
        _link = link;
        _src = src;
        _dst = dst;
        IsUpstream = upstream;
    }

    private Channel<Chunk> Queue => Volatile.Read(ref _queue) ?? CreateQueue();

    private Channel<Chunk> CreateQueue()
    {
        var q = Channel.CreateBounded<Chunk>(new BoundedChannelOptions(QueueCapacity)
        { SingleReader = true, SingleWriter = false, FullMode = BoundedChannelFullMode.Wait }); // HTTP mode also injects (Inject)
        return Interlocked.CompareExchange(ref _queue, q, null) ?? q;
    }

    /// <summary>Cancelled when the link closes (a source made after the close is cancelled at once).</summary>
    private CancellationToken Token => (Volatile.Read(ref _cts) ?? CreateCts()).Token;

    private CancellationTokenSource CreateCts()
    {
        var c = new CancellationTokenSource();
        var had = Interlocked.CompareExchange(ref _cts, c, null);
        if (had is not null) { c.Dispose(); return had; }
        if (_link.IsClosed) c.Cancel(); // Closed() ran before this source existed
        return c;
    }

    /// <summary>The chain's processor runs (or ran): another thread may use this direction's sockets.</summary>
    internal bool ProcessorStarted => Volatile.Read(ref _processorStarted) != 0;

    /// <summary>The chain's queue exists (tests: a toxic-free relayed link never makes one).</summary>
    internal bool HasQueue => Volatile.Read(ref _queue) is not null;

    public bool IsUpstream { get; }
    internal Link Link => _link;
    /// <summary>Who reads this direction now (see <see cref="RelayLoop"/>); written by the loop thread only.</summary>
    internal PipeMode Mode;
    /// <summary>The relay's read size for this direction (adapts between 64 KiB and 1 MiB).</summary>
    internal int ReadSize = RelayLoop.MinRead;
    /// <summary>Bytes the relay read but the destination could not take yet (loop thread only).</summary>
    internal byte[]? PendingBuffer;
    internal int PendingOffset, PendingCount;
    /// <summary>
    /// Bulk on the relay: the direction moves through a kernel pipe with splice(2) (no copy through user space); -1 while
    /// it has none. Bytes left in the pipe count as pending (<see cref="PendingCount"/>, <see cref="PendingBuffer"/>
    /// null). Loop thread only; closed with the link.
    /// </summary>
    internal int SpliceRead = -1, SpliceWrite = -1;
    internal long SplicedReads;
    private int _processorStarted;

    /// <summary>The toxics this direction runs, in creation order. Replaced (never mutated) under the proxy lock.</summary>
    public volatile LinkToxic[] Chain = [];

    /// <summary>HTTP mode: the direction's HTTP stage, which the relay loop runs inline while it is the whole chain.</summary>
    internal IInlineHttpStage? InlineStage;
    /// <summary>HTTP mode, relay: the part of a read that needs the chain, held until the bytes before it (pending) are written.</summary>
    internal Chunk? Deferred;

    /// <summary>The relay may run the HTTP stage inline: it is the only thing in the chain and nothing is queued.</summary>
    internal bool CanInline => InlineStage is not null && Chain is { Length: 1 } ch && ReferenceEquals(ch[0], InlineStage) && Volatile.Read(ref _inflight) == 0;

    /// <summary>Without a relay loop: read and process on tasks (the managed path).</summary>
    public void Start()
    {
        _processorStarted = 1;
        _ = Task.Run(ReadLoopAsync);
        _ = Task.Run(ProcessLoopAsync);
    }

    /// <summary>Toxics to run or chunks still queued: the relay hands its reads to the chain instead of writing them.</summary>
    internal bool NeedsChain => Chain.Length > 0 || Volatile.Read(ref _inflight) > 0;
    /// <summary>The chain's queue is full: the relay stopped reading this direction until the processor makes room.</summary>
    internal int ReadPaused;
    /// <summary>Reads the relay wrote straight on, and reads it handed to the chain (loop thread only; tests look).</summary>
    internal long RelayedReads, ChainedReads;

    /// <summary>
    /// The relay loop read a chunk (or the end of the source) while this direction has toxics or a queue: it goes through
    /// the chain in order (the loop checks <see cref="HasRoom"/> before it reads).
    /// </summary>
    internal void EnqueueFromRelay(Chunk c)
    {
        if (Volatile.Read(ref _processorStarted) == 0 && Interlocked.Exchange(ref _processorStarted, 1) == 0) _ = Task.Run(ProcessLoopAsync);
        Interlocked.Increment(ref _inflight);
        if (!Queue.Writer.TryWrite(c))
        {
            Interlocked.Decrement(ref _inflight);
            if (c.Buffer is not null) ArrayPool<byte>.Shared.Return(c.Buffer);
        }
    }

    /// <summary>
    /// HTTP mode: wakes this direction's chain with an empty chunk (any thread), so its HTTP stage can send an answer a
    /// fault made. A full queue drops it: the stage is busy then and sends the answer when the response before it ends.
    /// </summary>
    internal void Inject()
    {
        if (_link.IsClosed) return;
        if (Volatile.Read(ref _processorStarted) == 0 && Interlocked.Exchange(ref _processorStarted, 1) == 0) _ = Task.Run(ProcessLoopAsync);
        Interlocked.Increment(ref _inflight);
        if (!Queue.Writer.TryWrite(new Chunk(null, 0, 0, Stopwatch.GetTimestamp()))) Interlocked.Decrement(ref _inflight);
    }

    /// <summary>The source failed while the chain is in use: deliver what was read, then close (as the managed reader does).</summary>
    internal void SourceFailedFromRelay(string error)
    {
        _sourceError = error;
        EnqueueFromRelay(new Chunk(null, 0, 0, Stopwatch.GetTimestamp(), eof: true));
    }

    internal bool HasRoom => Volatile.Read(ref _inflight) < QueueCapacity;

    internal void SetPending(ReadOnlySpan<byte> rest)
    {
        PendingBuffer = ArrayPool<byte>.Shared.Rent(rest.Length);
        rest.CopyTo(PendingBuffer);
        PendingOffset = 0;
        PendingCount = rest.Length;
    }

    /// <summary>Closes the splice pipe, if any (loop thread, after the link left the epoll set).</summary>
    internal void CloseSplicePipe()
    {
        if (SpliceRead >= 0) { LinuxIo.close(SpliceRead); LinuxIo.close(SpliceWrite); }
        SpliceRead = SpliceWrite = -1;
    }

    internal void DropPending()
    {
        if (PendingBuffer is { } b) ArrayPool<byte>.Shared.Return(b);
        PendingBuffer = null;
        PendingOffset = PendingCount = 0;
        if (Deferred?.Buffer is { } d) ArrayPool<byte>.Shared.Return(d);
        Deferred = null;
    }

    public void Closed()
    {
        try { Volatile.Read(ref _cts)?.Cancel(); } catch (ObjectDisposedException) { }
        foreach (var t in Chain) t.LinkClosed();
    }

    private async Task ReadLoopAsync()
    {
        var ct = Token;
        byte[] buf = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                int n;
                try { n = await _src.ReceiveAsync(buf.AsMemory(), SocketFlags.None, ct).ConfigureAwait(false); }
                catch (SocketException se) when (!ct.IsCancellationRequested && (Chain.Length > 0 || Volatile.Read(ref _inflight) > 0))
                {
                    // The source failed (e.g. reset) while data is still in the chain: deliver what was read, then close
                    // (toxiproxy drains its stubs the same way).
                    _sourceError = se.SocketErrorCode.ToString();
                    Interlocked.Increment(ref _inflight);
                    await Queue.Writer.WriteAsync(new Chunk(null, 0, 0, Stopwatch.GetTimestamp(), eof: true), ct).ConfigureAwait(false);
                    return;
                }
                long stamp = Stopwatch.GetTimestamp();
                if (n > 0) AddReceived(n);
                if (Chain.Length == 0 && Volatile.Read(ref _inflight) == 0)
                {
                    if (n == 0) { EndOfStream(); return; }
                    await SendAllAsync(buf.AsMemory(0, n), ct).ConfigureAwait(false);
                    continue;
                }
                Interlocked.Increment(ref _inflight);
                if (n == 0)
                {
                    await Queue.Writer.WriteAsync(new Chunk(null, 0, 0, stamp, eof: true), ct).ConfigureAwait(false);
                    return;
                }
                await Queue.Writer.WriteAsync(new Chunk(buf, 0, n, stamp), ct).ConfigureAwait(false);
                buf = ArrayPool<byte>.Shared.Rent(BufferSize); // the chunk owns the old buffer now
            }
        }
        catch (Exception e)
        {
            _link.Close(e is SocketException se ? $"{(IsUpstream ? "client" : "upstream")} socket: {se.SocketErrorCode}"
                : e is ObjectDisposedException or OperationCanceledException or ChannelClosedException ? "closed" : $"internal error: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    private async Task ProcessLoopAsync()
    {
        var ct = Token;
        var queue = Queue;
        try
        {
            while (await queue.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
            {
                while (queue.Reader.TryRead(out var chunk))
                {
                    var owned = chunk.Buffer;
                    try
                    {
                        await RunChainAsync(chunk).ConfigureAwait(false);
                    }
                    finally
                    {
                        if (owned is not null) ArrayPool<byte>.Shared.Return(owned);
                        Interlocked.Decrement(ref _inflight);
                        // Room again: a relay that paused this direction reads it again.
                        if (Volatile.Read(ref ReadPaused) == 1 && Interlocked.CompareExchange(ref ReadPaused, 0, 1) == 1) _link.Relay?.Resume(this);
                    }
                    if (chunk.Eof) return;
                }
            }
        }
        catch (Exception e)
        {
            _link.Close(e is SocketException or ObjectDisposedException or OperationCanceledException ? "closed while writing" : $"internal error: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            // Give back what is still queued (the link is closing).
            while (queue.Reader.TryRead(out var left))
                if (left.Buffer is not null) ArrayPool<byte>.Shared.Return(left.Buffer);
        }
    }

    private ValueTask RunChainAsync(Chunk c)
    {
        var chain = Chain;
        return Stage(chain, 0, c);
    }

    private ValueTask Stage(LinkToxic[] chain, int i, Chunk c)
    {
        if (_link.IsClosed) return ValueTask.CompletedTask;
        if (i >= chain.Length) return WriteAsync(c);
        return chain[i].ProcessAsync(c, next => Stage(chain, i + 1, next));
    }

    private async ValueTask WriteAsync(Chunk c)
    {
        if (c.Eof && _sourceError is { } err) { _link.Close($"{(IsUpstream ? "client" : "upstream")} socket: {err}"); return; }
        if (c.Eof) { EndOfStream(); return; }
        if (c.Count > 0) await SendAllAsync(c.Memory, Token).ConfigureAwait(false);
    }

    private async ValueTask SendAllAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        while (data.Length > 0)
        {
            int sent = await _dst.SendAsync(data, SocketFlags.None, ct).ConfigureAwait(false);
            data = data[sent..];
            AddSent(sent);
        }
    }

    internal void AddReceived(int n)
    {
        if (IsUpstream) Interlocked.Add(ref _link.Metrics.BytesReceivedUpstream, n);
        else Interlocked.Add(ref _link.Metrics.BytesReceivedDownstream, n);
    }

    internal void AddSent(int n)
    {
        if (IsUpstream) Interlocked.Add(ref _link.Metrics.BytesUpstream, n);
        else Interlocked.Add(ref _link.Metrics.BytesDownstream, n);
    }

    /// <summary>The source ended: half-close the destination, and close the link once both directions ended.</summary>
    private void EndOfStream()
    {
        try { _dst.Shutdown(SocketShutdown.Send); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
        _link.DirectionDone();
    }
}

/// <summary>Live counters of one proxy (updated as bytes move, not when connections end).</summary>
internal sealed class ProxyMetrics
{
    public long ConnectionsTotal, ConnectionsActive, DialFailures, Refused, Resets;
    public long BytesUpstream, BytesDownstream, BytesReceivedUpstream, BytesReceivedDownstream;
    /// <summary>HTTP mode: request heads parsed, and requests an http_status fault answered without the upstream.</summary>
    public long HttpRequests, HttpAnswered;
}
