using System.Diagnostics;

namespace ChaosPS.Network;

/// <summary>timeout: drops all data in its direction; with timeout &gt; 0 closes the connection once no data has come
/// for that long (an idle timer, re-armed by every chunk and every update); 0 holds forever. Removing it closes the
/// connections it was active on (toxiproxy's behaviour, which its users rely on).</summary>
internal sealed class TimeoutLinkToxic(ToxicSpec spec, Link link, bool upstream) : LinkToxic(spec, link, upstream)
{
    public static readonly ToxicDefinition Definition = ToxicDefinition.Chain("timeout", "Timeout", static (s, l, up) => new TimeoutLinkToxic(s, l, up), [new("timeout", "ms")]);

    private long _lastActivity = Stopwatch.GetTimestamp();

    public override void Started() => Arm();

    public override void Updated()
    {
        base.Updated();
        Arm();
    }

    public override void RemovedFromChain()
    {
        base.RemovedFromChain();
        if (Active) Link.Close("timeout toxic removed");
    }

    private void Arm()
    {
        _lastActivity = Stopwatch.GetTimestamp();
        if (!Active || Snapshot.Attr("timeout") <= 0) return;
        var token = Interrupt;
        _ = Task.Run(async () =>
        {
            while (!token.IsCancellationRequested && !Link.IsClosed)
            {
                long due = Volatile.Read(ref _lastActivity) + MsToTicks(Snapshot.Attr("timeout"));
                long left = due - Stopwatch.GetTimestamp();
                if (left <= 0) { Link.Close("timeout toxic fired"); return; }
                try { await Task.Delay(TimeSpan.FromTicks(Math.Max(1, left * TimeSpan.TicksPerSecond / Stopwatch.Frequency)), token).ConfigureAwait(false); }
                catch (OperationCanceledException) { return; }
            }
        });
    }

    protected override ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        // Data is discarded, and so is the source's close: as toxiproxy's README says, with timeout 0 "the connection
        // won't close" - the other side must not learn that its peer went away (a partition hides FINs too). The
        // connection closes when the timer fires or the toxic is removed.
        if (!c.Eof) Volatile.Write(ref _lastActivity, Stopwatch.GetTimestamp());
        return ValueTask.CompletedTask;
    }
}
