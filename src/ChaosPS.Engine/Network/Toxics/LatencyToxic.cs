namespace ChaosPS.Network;

/// <summary>latency: holds each chunk until its stamp + latency ± jitter (uniform in [-jitter, +jitter)), then moves
/// the stamp forward by that delay so stacked latencies add up. Throughput is not limited (chunks queue behind).</summary>
internal sealed class LatencyLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    public static readonly ToxicDefinition Definition = ToxicDefinition.Chain("latency", "Latency", static (s, l, up) => new LatencyLinkToxic(s, l, up),
        [new("latency", "ms") { Required = new("attribute latency is required", "A Latency fault needs -Latency (e.g. 500ms).") },
        new("jitter", "ms")]);

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
