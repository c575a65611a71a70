namespace ChaosPS.Network;

/// <summary>noop: passes everything (toxiproxy's test toxic).</summary>
internal sealed class NoopLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    public static readonly ToxicDefinition Definition = ToxicDefinition.Chain("noop", "Noop", static (s, l, up) => new NoopLinkToxic(s, l, up));

    protected override ValueTask ProcessCoreAsync(Chunk c, Next next) => next(c);
}
