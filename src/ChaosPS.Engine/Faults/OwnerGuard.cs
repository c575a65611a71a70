using System.Diagnostics;

namespace ChaosPS.Faults;

/// <summary>
/// What the process that applied faults does for them itself, beside the watchdogs: while it holds faults it restarts
/// a watchdog that was killed (checked twice a second), and when it is told to go (SIGTERM, SIGINT) or exits it undoes its
/// own faults at once instead of leaving them to a watchdog.
/// </summary>
public static class OwnerGuard
{
    private static readonly object Gate = new();
    private static readonly Dictionary<string, FaultLedger> Ledgers = new(StringComparer.Ordinal);
    private static Timer? _timer;
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(500);

    /// <summary>Remembers a ledger this process recorded a fault in, and starts the keep-alive timer once.</summary>
    public static void Watch(FaultLedger ledger)
    {
        lock (Gate)
        {
            Ledgers[ledger.StateDirectory] = ledger;
            _timer ??= new Timer(_ => Tick(), null, Period, Period);
        }
    }

    private static FaultLedger[] Known()
    {
        lock (Gate) return Ledgers.Values.ToArray();
    }

    private static int _ticking;
    private static void Tick()
    {
        if (Interlocked.Exchange(ref _ticking, 1) == 1) return;
        try
        {
            foreach (var ledger in Known())
            {
                try
                {
                    if (!ledger.HasActiveFaults) continue;
                    if (ledger.List().Any(IsMine)) ledger.EnsureWatchdog();
                }
                catch (Exception) { /* an unreadable or untrusted ledger: the cmdlets report it */ }
            }
        }
        finally { Volatile.Write(ref _ticking, 0); }
    }

    private static readonly string? MyStamp = ProcessIdentity.StartStamp(Environment.ProcessId);
    private static bool IsMine(FaultRecord r) => r.OwnerPid == Environment.ProcessId && (r.OwnerStartStamp is null || r.OwnerStartStamp == MyStamp);

    /// <summary>
    /// Undoes every fault this process owns, in every ledger it used and the default one, within <paramref name="budget"/>.
    /// Called from the SIGTERM/SIGINT handler and on process exit. Returns what was undone.
    /// </summary>
    public static IReadOnlyList<FaultRestoreResult> RestoreOwn(string restoredBy, TimeSpan budget)
    {
        var results = new List<FaultRestoreResult>();
        var sw = Stopwatch.StartNew();
        var ledgers = Known().ToList();
        try
        {
            var d = FaultLedger.Default;
            if (!ledgers.Any(l => l.StateDirectory == d.StateDirectory)) ledgers.Add(d);
        }
        catch (Exception) { }
        foreach (var ledger in ledgers)
        {
            IReadOnlyList<FaultRecord> mine;
            try
            {
                if (!ledger.HasActiveFaults) continue;
                mine = ledger.List().Where(IsMine).ToList();
            }
            catch (Exception) { continue; }
            // Newest first: a fault applied on top of another is undone before it.
            foreach (var r in mine.Reverse())
            {
                var left = budget - sw.Elapsed;
                if (left <= TimeSpan.Zero) return results;
                try
                {
                    // The line is logged before the record goes, so a ledger seen empty has its log line.
                    var t = Task.Run(() => ledger.RestoreAsync(r.Id, restoredBy,
                        res => Log(ledger, $"{r.Id} {r.Kind} on {r.Target}: {restoredBy}; {res.Outcome}. {string.Join("; ", res.Steps)}")));
                    if (t.Wait(left)) results.Add(t.Result);
                }
                catch (Exception) { /* the watchdogs retry what failed here */ }
            }
        }
        return results;
    }

    /// <summary>One line in the ledger's log (the watchdogs write there too), so it says who undid what.</summary>
    private static void Log(FaultLedger ledger, string line)
    {
        try { File.AppendAllText(ledger.WatchdogLogPath, $"{DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss.fff} {line}{Environment.NewLine}"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}
