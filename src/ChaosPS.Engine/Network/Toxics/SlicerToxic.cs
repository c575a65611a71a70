using System.Diagnostics;

namespace ChaosPS.Network;

/// <summary>slicer: cuts each chunk into pieces of about average_size ± size_variation bytes (recursive halving with a
/// random offset), waiting delay µs after each.</summary>
internal sealed class SlicerLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    public static readonly ToxicDefinition Definition = ToxicDefinition.Chain("slicer", "Slicer", static (s, l, up) => new SlicerLinkToxic(s, l, up),
        [new("average_size", "bytes") { Min = 1, Required = new("attribute average_size must be at least 1", "A Slicer fault needs -AverageSize (bytes, at least 1).") },
        new("size_variation", "bytes"), new("delay", "µs")], check: Check);

    /// <summary>average_size at least 1, size_variation below it (1 and 0 are allowed: one byte per piece).</summary>
    private static void Check(IReadOnlyDictionary<string, long> attributes, IReadOnlyDictionary<string, string>? _)
    {
        long avg = attributes.GetValueOrDefault("average_size"), variation = attributes.GetValueOrDefault("size_variation");
        if (avg < 1) throw ProxyException.BadRequest("attribute average_size must be at least 1", "InvalidToxicAttribute");
        if (variation >= avg && !(avg == 1 && variation == 0))
            throw ProxyException.BadRequest($"attribute size_variation ({variation}) must be smaller than average_size ({avg})", "InvalidToxicAttribute");
    }

    protected override async ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        if (c.Eof) { await next(c).ConfigureAwait(false); return; }
        var s = Snapshot;
        var cuts = Cuts(c.Count, Math.Max(1, s.Attr("average_size")), s.Attr("size_variation"));
        long delayUs = s.Attr("delay");
        int start = 0;
        foreach (var end in cuts)
        {
            await next(c.Slice(start, end - start)).ConfigureAwait(false);
            start = end;
            if (delayUs > 0 && !Removed) await DelayMicrosAsync(delayUs).ConfigureAwait(false);
        }
    }

    /// <summary>End offsets of the pieces of a chunk of <paramref name="length"/> bytes.</summary>
    internal static List<int> Cuts(int length, long avg, long variation)
    {
        var ends = new List<int>();
        // Iterative halving (a stack instead of recursion: no stack overflow whatever the input).
        var stack = new Stack<(int Start, int End)>();
        stack.Push((0, length));
        while (stack.Count > 0)
        {
            var (a, b) = stack.Pop();
            int len = b - a;
            if (len <= avg + variation || len <= 1) { ends.Add(b); continue; }
            int mid = len / 2;
            if (variation > 0) mid += (int)Random.Shared.NextInt64(-variation, variation);
            mid = Math.Clamp(mid, 1, len - 1);
            stack.Push((a + mid, b));
            stack.Push((a, a + mid));
        }
        return ends;
    }

    private async ValueTask DelayMicrosAsync(long us)
    {
        if (us >= 1000) { await WaitUntilAsync(Stopwatch.GetTimestamp() + MsToTicks(us / 1000.0)).ConfigureAwait(false); return; }
        long due = Stopwatch.GetTimestamp() + (long)(us * Stopwatch.Frequency / 1_000_000.0);
        var spin = new SpinWait();
        while (Stopwatch.GetTimestamp() < due) spin.SpinOnce(-1);
    }
}
