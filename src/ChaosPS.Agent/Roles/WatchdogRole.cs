using ChaosPS.Faults;

namespace ChaosPS.Agent.Roles;

/// <summary>
/// The deadman: `chaosps-agent watchdog --state DIR`. Holds an exclusive lock on DIR/watchdog.lock (one watchdog per
/// ledger), and several times a second undoes every fault whose owner process is gone (checked by pid and start
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
        var state = args.Length >= 2 && args[0] == "--state" ? args[1] : FaultLedger.DefaultStateDirectory();
        var ledger = new FaultLedger(state) { StartWatchdog = false };
        Directory.CreateDirectory(state);
        while (true)
        {
            FileStream? held;
            try { held = new FileStream(ledger.WatchdogLockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) { return 0; } // another watchdog has it
            using (held)
            {
                held.SetLength(0);
                var pid = System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId.ToString());
                held.Write(pid); held.Flush();
                Log($"watchdog {Environment.ProcessId} watching {ledger.FaultDirectory}");
                await WatchAsync(ledger, ct);
            }
            // Lock released: a fault recorded just now either sees the lock free (and starts a new watchdog) or is
            // already on disk, where this re-check finds it.
            if (ct.IsCancellationRequested || !ledger.HasActiveFaults) return 0;
        }
    }

    private static async Task WatchAsync(FaultLedger ledger, CancellationToken ct)
    {
        var idleSince = DateTime.UtcNow;
        // A restore that failed (e.g. the toxiproxy server holding the fault is unreachable for now) is retried with
        // back-off, 5 s doubling to 60 s, and the record is kept until it succeeds.
        var retry = new Dictionary<string, (DateTime Next, TimeSpan Delay)>();
        while (!ct.IsCancellationRequested)
        {
            var faults = ledger.List();
            if (faults.Count > 0) idleSince = DateTime.UtcNow;
            else if (DateTime.UtcNow - idleSince > IdleExit) return;
            foreach (var f in faults)
            {
                string? why = !f.OwnerAlive ? $"owner process {f.OwnerPid} is gone"
                    : DateTimeOffset.UtcNow > f.Deadline ? $"deadline {f.Deadline:u} passed" : null;
                if (why is null) continue;
                if (retry.TryGetValue(f.Id, out var r) && DateTime.UtcNow < r.Next) continue;
                var result = await ledger.RestoreAsync(f.Id, $"watchdog ({why})", CancellationToken.None);
                Log($"{f.Id} {f.Kind} on {f.Target}: {why}; {result.Outcome}. {string.Join("; ", result.Steps)}");
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
