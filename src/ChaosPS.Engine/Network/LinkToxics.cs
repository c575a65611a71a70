using System.Diagnostics;

namespace ChaosPS.Network;

/// <summary>
/// A piece of one direction's byte stream on its way through the toxic chain: a slice of a pooled buffer stamped with
/// the time it was read (toxiproxy's chunk). <see cref="Eof"/> marks the end of the source.
/// </summary>
internal sealed class Chunk(byte[]? buffer, int offset, int count, long stamp, bool eof = false)
{
    public byte[]? Buffer = buffer;
    public int Offset = offset;
    public int Count = count;
    /// <summary>Stopwatch ticks: the time the bytes were read, moved forward by latency toxics (so they stack).</summary>
    public long Stamp = stamp;
    public bool Eof = eof;

    public ReadOnlyMemory<byte> Memory => Buffer is null ? ReadOnlyMemory<byte>.Empty : new(Buffer, Offset, Count);
    public Chunk Slice(int start, int length) => new(Buffer, Offset + start, length, Stamp, false);
}

internal delegate ValueTask Next(Chunk c);

/// <summary>
/// One toxic inside one link direction, with its per-connection state. Toxicity is drawn when it joins the link and
/// again when it is updated (toxiproxy restarts the stub then); a miss makes it a pass-through. Removing it makes it a
/// pass-through at once and releases any chunk it is holding, so no data is lost and removal never waits.
/// </summary>
internal abstract class LinkToxic
{
    private CancellationTokenSource _interrupt = new();

    protected LinkToxic(ToxicSpec spec, Link link, bool upstream)
    {
        Spec = spec;
        Link = link;
        Upstream = upstream;
        Snapshot = spec.Clone();
        Active = Draw(Snapshot.Toxicity);
        if (Active) Interlocked.Increment(ref spec.ActivationCount);
    }

    public ToxicSpec Spec { get; }
    /// <summary>The settings this link uses now (copied under the proxy lock, so reads need no lock).</summary>
    protected volatile ToxicSpec Snapshot;
    public Link Link { get; }
    public bool Upstream { get; }
    public volatile bool Active;
    public volatile bool Removed;

    /// <summary>Cancelled when the toxic is updated or removed, or the link closes.</summary>
    protected CancellationToken Interrupt => Volatile.Read(ref _interrupt).Token;

    private static bool Draw(double toxicity) => toxicity >= 1 || (toxicity > 0 && Random.Shared.NextDouble() < toxicity);

    public static LinkToxic Create(ToxicSpec spec, Link link, bool upstream) => spec.Type switch
    {
        "latency" => new LatencyLinkToxic(spec, link, upstream),
        "bandwidth" => new BandwidthLinkToxic(spec, link, upstream),
        "slow_close" => new SlowCloseLinkToxic(spec, link, upstream),
        "timeout" => new TimeoutLinkToxic(spec, link, upstream),
        "reset_peer" => new ResetPeerLinkToxic(spec, link, upstream),
        "slicer" => new SlicerLinkToxic(spec, link, upstream),
        "limit_data" => new LimitDataLinkToxic(spec, link, upstream),
        _ => new NoopLinkToxic(spec, link, upstream),
    };

    /// <summary>Called once it is in the chain (under the proxy lock; must not block).</summary>
    public virtual void Started() { }

    public ValueTask ProcessAsync(Chunk c, Next next)
        => Removed || !Active || Link.IsClosed ? next(c) : ProcessCoreAsync(c, next);

    protected abstract ValueTask ProcessCoreAsync(Chunk c, Next next);

    /// <summary>The spec changed (under the proxy lock): redraw toxicity, take the new settings, restart waits.</summary>
    public virtual void Updated()
    {
        Snapshot = Spec.Clone();
        bool was = Active;
        Active = Draw(Snapshot.Toxicity);
        if (Active && !was) Interlocked.Increment(ref Spec.ActivationCount);
        Restart();
    }

    /// <summary>Taken out of the chain (under the proxy lock; must not block).</summary>
    public virtual void RemovedFromChain()
    {
        Removed = true;
        Restart();
    }

    public void LinkClosed() => Volatile.Read(ref _interrupt).Cancel();

    private void Restart()
    {
        var old = Interlocked.Exchange(ref _interrupt, new CancellationTokenSource());
        old.Cancel();
        if (Link.IsClosed) _interrupt.Cancel();
    }

    /// <summary>Waits until a Stopwatch timestamp; false when interrupted (update, removal, link closed).</summary>
    protected async ValueTask<bool> WaitUntilAsync(long dueTicks)
    {
        var token = Interrupt;
        while (true)
        {
            long left = dueTicks - Stopwatch.GetTimestamp();
            if (left <= 0) return true;
            if (token.IsCancellationRequested) return false;
            try { await Task.Delay(TimeSpan.FromTicks(Math.Max(1, left * TimeSpan.TicksPerSecond / Stopwatch.Frequency)), token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return false; }
        }
    }

    protected static long MsToTicks(double ms) => (long)(ms * Stopwatch.Frequency / 1000.0);
}

internal sealed class NoopLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    protected override ValueTask ProcessCoreAsync(Chunk c, Next next) => next(c);
}

/// <summary>latency: holds each chunk until its stamp + latency ± jitter (uniform in [-jitter, +jitter)), then moves
/// the stamp forward by that delay so stacked latencies add up. Throughput is not limited (chunks queue behind).</summary>
internal sealed class LatencyLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    protected override async ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        if (!c.Eof)
        {
            while (true)
            {
                var s = Snapshot;
                long jitter = s.Attr("jitter");
                double delayMs = s.Attr("latency") + (jitter > 0 ? Random.Shared.NextInt64(-jitter, jitter) : 0);
                long due = c.Stamp + MsToTicks(Math.Max(0, delayMs));
                if (await WaitUntilAsync(due).ConfigureAwait(false)) { c.Stamp = due; break; }
                if (Removed || Link.IsClosed || !Active) break; // removal releases the chunk at once
            }
        }
        await next(c).ConfigureAwait(false);
    }
}

/// <summary>bandwidth: rate in KB/s (1 KB = 1000 B), per connection and direction. Chunks over rate*100 B are split
/// into pieces sent 100 ms apart; the timer's error is carried forward, idle time earns no burst credit. rate 0 = unlimited.</summary>
internal sealed class BandwidthLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    private long _nextDue;

    protected override async ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        if (c.Eof) { await next(c).ConfigureAwait(false); return; }
        int done = 0;
        while (done < c.Count)
        {
            long rate = Snapshot.Attr("rate");
            if (rate <= 0 || Removed || !Active || Link.IsClosed)
            {
                await next(c.Slice(done, c.Count - done)).ConfigureAwait(false);
                return;
            }
            int piece = (int)Math.Min(c.Count - done, Math.Max(1, Math.Min(int.MaxValue, rate * 100)));
            long cost = MsToTicks(piece / (double)rate);
            long now = Stopwatch.GetTimestamp();
            long start = _nextDue > now - cost ? _nextDue : now;
            long due = start + cost;
            if (!await WaitUntilAsync(due).ConfigureAwait(false) && (Removed || Link.IsClosed)) { _nextDue = 0; continue; }
            _nextDue = due;
            await next(c.Slice(done, piece)).ConfigureAwait(false);
            done += piece;
        }
    }
}

/// <summary>slow_close: passes data; on the source's EOF waits delay ms before closing the destination.</summary>
internal sealed class SlowCloseLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    protected override async ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        if (c.Eof) await WaitUntilAsync(Stopwatch.GetTimestamp() + MsToTicks(Snapshot.Attr("delay"))).ConfigureAwait(false);
        await next(c).ConfigureAwait(false);
    }
}

/// <summary>timeout: drops all data in its direction; with timeout &gt; 0 closes the connection once no data has come
/// for that long (an idle timer, re-armed by every chunk and every update); 0 holds forever. Removing it closes the
/// connections it was active on (toxiproxy's behaviour, which its users rely on).</summary>
internal sealed class TimeoutLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    private long _lastActivity = Stopwatch.GetTimestamp();

    public override void Started() => Arm();

    public override void Updated()
    {
        base.Updated();
        Arm();
    }

    public override void RemovedFromChain()
    {
        base.RemovedFromChain();
        if (Active) Link.Close("timeout toxic removed");
    }

    private void Arm()
    {
        _lastActivity = Stopwatch.GetTimestamp();
        if (!Active || Snapshot.Attr("timeout") <= 0) return;
        var token = Interrupt;
        _ = Task.Run(async () =>
        {
            while (!token.IsCancellationRequested && !Link.IsClosed)
            {
                long due = Volatile.Read(ref _lastActivity) + MsToTicks(Snapshot.Attr("timeout"));
                long left = due - Stopwatch.GetTimestamp();
                if (left <= 0) { Link.Close("timeout toxic fired"); return; }
                try { await Task.Delay(TimeSpan.FromTicks(Math.Max(1, left * TimeSpan.TicksPerSecond / Stopwatch.Frequency)), token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        });
    }

    protected override ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        // Data is discarded, and so is the source's close: as toxiproxy's README says, with timeout 0 "the connection
        // won't close" - the other side must not learn that its peer went away (a partition hides FINs too). The
        // connection closes when the timer fires or the toxic is removed.
        if (!c.Eof) Volatile.Write(ref _lastActivity, Stopwatch.GetTimestamp());
        return ValueTask.CompletedTask;
    }
}

/// <summary>reset_peer: on the first chunk (or EOF) drops it, waits timeout ms, then resets both sockets (SO_LINGER 0,
/// so both peers see ECONNRESET). Unlike toxiproxy, linger 0 is set only when the reset fires, so a toxicity miss or a
/// removed toxic never turns a normal close into a reset (toxiproxy#603), and the wait is interruptible.</summary>
internal sealed class ResetPeerLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    protected override async ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        var due = Stopwatch.GetTimestamp() + MsToTicks(Snapshot.Attr("timeout"));
        while (!await WaitUntilAsync(due).ConfigureAwait(false) && !Removed && !Link.IsClosed && Active) { }
        if (Link.IsClosed) return;
        if (Removed || !Active) { await next(c).ConfigureAwait(false); return; } // removal releases the chunk
        Link.Reset("reset_peer toxic");
    }
}

/// <summary>slicer: cuts each chunk into pieces of about average_size ± size_variation bytes (recursive halving with a
/// random offset), waiting delay µs after each.</summary>
internal sealed class SlicerLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    protected override async ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        if (c.Eof) { await next(c).ConfigureAwait(false); return; }
        var s = Snapshot;
        var cuts = Cuts(c.Count, Math.Max(1, s.Attr("average_size")), s.Attr("size_variation"));
        long delayUs = s.Attr("delay");
        int start = 0;
        foreach (var end in cuts)
        {
            await next(c.Slice(start, end - start)).ConfigureAwait(false);
            start = end;
            if (delayUs > 0 && !Removed) await DelayMicrosAsync(delayUs).ConfigureAwait(false);
        }
    }

    /// <summary>End offsets of the pieces of a chunk of <paramref name="length"/> bytes.</summary>
    internal static List<int> Cuts(int length, long avg, long variation)
    {
        var ends = new List<int>();
        // Iterative halving (a stack instead of recursion: no stack overflow whatever the input).
        var stack = new Stack<(int Start, int End)>();
        stack.Push((0, length));
        while (stack.Count > 0)
        {
            var (a, b) = stack.Pop();
            int len = b - a;
            if (len <= avg + variation || len <= 1) { ends.Add(b); continue; }
            int mid = len / 2;
            if (variation > 0) mid += (int)Random.Shared.NextInt64(-variation, variation);
            mid = Math.Clamp(mid, 1, len - 1);
            stack.Push((a + mid, b));
            stack.Push((a, a + mid));
        }
        return ends;
    }

    private async ValueTask DelayMicrosAsync(long us)
    {
        if (us >= 1000) { await WaitUntilAsync(Stopwatch.GetTimestamp() + MsToTicks(us / 1000.0)).ConfigureAwait(false); return; }
        long due = Stopwatch.GetTimestamp() + (long)(us * Stopwatch.Frequency / 1_000_000.0);
        var spin = new SpinWait();
        while (Stopwatch.GetTimestamp() < due) spin.SpinOnce(-1);
    }
}

/// <summary>limit_data: forwards until the running total reaches bytes (cutting the last chunk), then closes the
/// connection. State survives updates; per connection and direction.</summary>
internal sealed class LimitDataLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    internal long Transmitted;

    protected override async ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        if (c.Eof) { await next(c).ConfigureAwait(false); return; }
        long remaining = Snapshot.Attr("bytes") - Transmitted;
        if (remaining <= 0) { Link.Close("limit_data reached"); return; }
        if (c.Count < remaining)
        {
            Transmitted += c.Count;
            await next(c).ConfigureAwait(false);
            return;
        }
        Transmitted += remaining;
        await next(c.Slice(0, (int)remaining)).ConfigureAwait(false);
        Link.Close("limit_data reached");
    }
}
