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

    /// <summary>The toxic's per-link state, made by its type's factory in the registry (a pass-through for a type without one).</summary>
    public static LinkToxic Create(ToxicSpec spec, Link link, bool upstream)
        => ToxicRegistry.Find(spec.Type)?.CreateLink is { } create ? create(spec, link, upstream) : new NoopLinkToxic(spec, link, upstream);

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
