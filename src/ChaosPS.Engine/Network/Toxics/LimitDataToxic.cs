namespace ChaosPS.Network;

/// <summary>limit_data: forwards until the running total reaches bytes (cutting the last chunk), then closes the
/// connection. State survives updates; per connection and direction.</summary>
internal sealed class LimitDataLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    public static readonly ToxicDefinition Definition = ToxicDefinition.Chain("limit_data", "LimitData", static (s, l, up) => new LimitDataLinkToxic(s, l, up),
        [new("bytes", "bytes") { Required = new("attribute bytes is required", "A LimitData fault needs -Bytes.") }]);

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
