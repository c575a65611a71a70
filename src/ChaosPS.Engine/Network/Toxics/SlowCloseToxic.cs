using System.Diagnostics;

namespace ChaosPS.Network;

/// <summary>slow_close: passes data; on the source's EOF waits delay ms before closing the destination.</summary>
internal sealed class SlowCloseLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    public static readonly ToxicDefinition Definition = ToxicDefinition.Chain("slow_close", "SlowClose", static (s, l, up) => new SlowCloseLinkToxic(s, l, up), [new("delay", "ms")]);

    protected override async ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        if (c.Eof) await WaitUntilAsync(Stopwatch.GetTimestamp() + MsToTicks(Snapshot.Attr("delay"))).ConfigureAwait(false);
        await next(c).ConfigureAwait(false);
    }
}
