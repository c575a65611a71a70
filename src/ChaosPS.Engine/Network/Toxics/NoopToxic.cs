namespace ChaosPS.Network;

/// <summary>noop: does nothing (toxiproxy's test toxic).</summary>
internal static class NoopToxic
{
    public static readonly ToxicDefinition Definition = new()
    {
        Name = "noop",
        FriendlyName = "Noop",
        Attributes = [],
        CreateLink = static (spec, link, upstream) => new NoopLinkToxic(spec, link, upstream),
    };
}

internal sealed class NoopLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    protected override ValueTask ProcessCoreAsync(Chunk c, Next next) => next(c);
}
