using System.Diagnostics;

namespace ChaosPS.Network;

/// <summary>reset_peer: on the first chunk (or EOF) drops it, waits timeout ms, then resets both sockets (SO_LINGER 0,
/// so both peers see ECONNRESET). Unlike toxiproxy, linger 0 is set only when the reset fires, so a toxicity miss or a
/// removed toxic never turns a normal close into a reset (toxiproxy#603), and the wait is interruptible.</summary>
internal sealed class ResetPeerLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    public static readonly ToxicDefinition Definition = ToxicDefinition.Chain("reset_peer", "ResetPeer", static (s, l, up) => new ResetPeerLinkToxic(s, l, up), [new("timeout", "ms")]);

    protected override async ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        var due = Stopwatch.GetTimestamp() + MsToTicks(Snapshot.Attr("timeout"));
        while (!await WaitUntilAsync(due).ConfigureAwait(false) && !Removed && !Link.IsClosed && Active) { }
        if (Link.IsClosed) return;
        if (Removed || !Active) { await next(c).ConfigureAwait(false); return; } // removal releases the chunk
        Link.Reset("reset_peer toxic");
    }
}
