namespace ChaosPS.Network;

/// <summary>limit_data: closes the connection after bytes bytes.</summary>
internal static class LimitDataToxic
{
    public static readonly ToxicDefinition Definition = new()
    {
        Name = "limit_data",
        FriendlyName = "LimitData",
        Attributes = [
            new("bytes", "bytes") { Required = new("attribute bytes is required", "A LimitData fault needs -Bytes.") },
        ],
        CreateLink = static (spec, link, upstream) => new LimitDataLinkToxic(spec, link, upstream),
    };
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
