using System.Diagnostics;

namespace ChaosPS.Network;

/// <summary>slow_close: delays the close by delay ms.</summary>
internal static class SlowCloseToxic
{
    public static readonly ToxicDefinition Definition = new()
    {
        Name = "slow_close",
        FriendlyName = "SlowClose",
        Attributes = [new("delay", "ms")],
        CreateLink = static (spec, link, upstream) => new SlowCloseLinkToxic(spec, link, upstream),
    };
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
