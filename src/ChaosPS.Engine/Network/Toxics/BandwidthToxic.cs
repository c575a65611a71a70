using System.Diagnostics;

namespace ChaosPS.Network;

/// <summary>bandwidth: rate in KB/s (1 KB = 1000 B), per connection and direction. Chunks over rate*100 B are split
/// into pieces sent 100 ms apart; the timer's error is carried forward, idle time earns no burst credit. rate 0 = unlimited.</summary>
internal sealed class BandwidthLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    public static readonly ToxicDefinition Definition = ToxicDefinition.Chain("bandwidth", "Bandwidth", static (s, l, up) => new BandwidthLinkToxic(s, l, up),
        [new("rate", "KB/s") { Required = new("attribute rate is required", "A Bandwidth fault needs -RateKBps.") }]);

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
