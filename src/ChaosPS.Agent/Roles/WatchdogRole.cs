using ChaosPS.Faults;

namespace ChaosPS.Agent.Roles;

/// <summary>
/// The deadman: `chaosps-agent watchdog --state DIR [--slot N]`. Holds an exclusive lock on its slot's lock file
/// (DIR/watchdog.lock for slot 0, DIR/watchdog-1.lock for slot 1: two watchdogs per ledger), restarts the watchdog of
/// the other slot whenever that one is gone and faults are active (so a kill -9 of one leaves the other watching and
/// back to two within a poll), and several times a second undoes every fault whose owner process is gone (checked by pid and start
/// stamp, so a reused pid does not fool it) or whose deadline passed. Exits after a quiet spell with no faults,
/// re-checking after it lets go of the lock so a fault recorded at that moment is never left unwatched.
/// </summary>
public sealed class WatchdogRole : IAgentRole
{
    public string Name => "watchdog";

    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan IdleExit = TimeSpan.FromSeconds(20);

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        string? state = null;
        int slot = 0;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--state") state = args[i + 1];
            else if (args[i] == "--slot") slot = Math.Clamp(int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture), 0, FaultLedger.WatchdogSlots - 1);
        }
        var ledger = new FaultLedger(state ?? FaultLedger.DefaultStateDirectory()) { StartWatchdog = false };
        try { ledger.EnsureTrusted(); }
        catch (ChaosException e) { Log($"watchdog {Environment.ProcessId}: {e.ErrorId}: {e.Message}"); return 2; }
        if (!Directory.Exists(ledger.StateDirectory)) return 0;
        while (true)
        {
            FileStream? held;
            try { held = ledger.LockWatchdogSlot(slot); }
            catch (IOException) { return 0; } // another watchdog has it
            using (held)
            {
                held.SetLength(0);
                var pid = System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString());
                held.Write(pid); held.Flush();
                Log($"watchdog {Environment.ProcessId} (slot {slot}) watching {ledger.FaultDirectory}");
                try { await WatchAsync(ledger, slot, ct); }
                catch (ChaosException e)
                {
                    // The ledger turned untrusted under us (someone else took the folder): stop, carry out nothing.
                    Log($"watchdog {Environment.ProcessId}: {e.ErrorId}: {e.Message}");
                    return 2;
                }
            }
            // Lock released: a fault recorded just now either sees the lock free (and starts a new watchdog) or is
            // already on disk, where this re-check finds it.
            if (ct.IsCancellationRequested || !ledger.HasActiveFaults) return 0;
        }
    }

    private static async Task WatchAsync(FaultLedger ledger, int slot, CancellationToken ct)
    {
        var idleSince = DateTime.UtcNow;
        var nextSweep = DateTime.MinValue;
        // Started together, the other slot's watchdog may still be starting: give it a moment before restarting it.
        var nextPeerCheck = DateTime.UtcNow.AddSeconds(3);
        // A restore that failed (e.g. the toxiproxy server holding the fault is unreachable for now) is retried with
        // back-off, 5 s doubling to 60 s, and the record is kept until it succeeds.
        var retry = new Dictionary<string, (DateTime Next, TimeSpan Delay)>();
        while (!ct.IsCancellationRequested)
        {
            var (faults, refused) = ledger.ListChecked();
            if (faults.Count > 0) idleSince = DateTime.UtcNow;
            else if (DateTime.UtcNow - idleSince > IdleExit) return;
            if (DateTime.UtcNow >= nextSweep)
            {
                foreach (var bad in refused) Log($"refused: {bad.ErrorId}: {bad.Message}");
                foreach (var gone in ledger.SweepStale()) Log($"removed stale {Path.GetFileName(gone)}");
                nextSweep = DateTime.UtcNow.AddSeconds(30);
            }
            // The other slot's watchdog: restart it when it is gone (kill -9, OOM) while there is something to watch.
            if (faults.Count > 0 && DateTime.UtcNow >= nextPeerCheck)
            {
                for (int other = 0; other < FaultLedger.WatchdogSlots; other++)
                {
                    if (other == slot || !ledger.WatchdogLockFree(other)) continue;
                    Log($"watchdog of slot {other} is gone; starting another");
                    try { ledger.StartWatchdogProcess(other); } catch (Exception e) { Log($"could not start it: {e.Message}"); }
                }
                nextPeerCheck = DateTime.UtcNow.AddSeconds(1);
            }
            foreach (var f in faults)
            {
                string? why = !f.OwnerAlive ? $"owner process {f.OwnerPid} is gone"
                    : DateTimeOffset.UtcNow > f.Deadline ? $"deadline {f.Deadline:u} passed" : null;
                if (why is null) continue;
                if (retry.TryGetValue(f.Id, out var r) && DateTime.UtcNow < r.Next) continue;
                FaultRestoreResult result;
                // The line is logged before the record goes (AlreadyRestored never gets here: whoever undid it logged that).
                try { result = await ledger.RestoreAsync(f.Id, $"watchdog ({why})", res => Log($"{f.Id} {f.Kind} on {f.Target}: {why}; {res.Outcome}. {string.Join("; ", res.Steps)}"), CancellationToken.None); }
                catch (ChaosException e) when (e.ErrorId == "UntrustedFaultRecord") { Log($"refused: {e.Message}"); continue; }
                if (result.Outcome == "Failed")
                {
                    var delay = retry.TryGetValue(f.Id, out var prev) ? TimeSpan.FromTicks(Math.Min(prev.Delay.Ticks * 2, TimeSpan.FromSeconds(60).Ticks)) : TimeSpan.FromSeconds(5);
                    retry[f.Id] = (DateTime.UtcNow + delay, delay);
                }
                else retry.Remove(f.Id);
            }
            try { await Task.Delay(Poll, ct); } catch (OperationCanceledException) { return; }
        }
    }

    private static void Log(string line) => Console.WriteLine($"{DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss.fff} {line}");
}
