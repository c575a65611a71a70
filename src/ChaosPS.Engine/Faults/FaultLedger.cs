using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChaosPS.Faults;

/// <summary>
/// The fault ledger: one JSON file per active fault under &lt;state&gt;/faults, written (and flushed to
/// disk) before the fault is applied and deleted once it is undone. A watchdog process (chaosps-agent watchdog)
/// undoes every fault whose owner process died or whose deadline passed, so a fault never outlives a SIGKILLed pwsh.
/// Two watchdogs run side by side (slots 0 and 1), each restarting the other when it is gone, so killing one leaves
/// the other on watch; the owning pwsh also restarts them while it holds faults, and undoes its own faults at once on
/// SIGTERM/SIGINT and on exit. Only a ledger the current user alone can write is trusted (<see cref="LedgerTrust"/>).
/// The state folder is $CHAOSPS_STATE_DIR, else $XDG_STATE_HOME/chaosps, else ~/.local/state/chaosps
/// (%LOCALAPPDATA%\ChaosPS on Windows).
/// </summary>
public sealed class FaultLedger
{
    /// <summary>How long after its planned end a fault may live before the watchdog undoes it anyway.</summary>
    public static readonly TimeSpan DeadlineGrace = TimeSpan.FromSeconds(30);

    internal static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        IgnoreReadOnlyProperties = true,
    };

    private static FaultLedger? _default;
    /// <summary>The ledger of $CHAOSPS_STATE_DIR (or the default folder), re-read on each use so that a session (or a
    /// test) that changes the variable after importing the module gets the ledger it names.</summary>
    public static FaultLedger Default
    {
        get
        {
            var dir = DefaultStateDirectory();
            var current = _default;
            if (current is null || current.StateDirectory != dir) _default = current = new FaultLedger(dir);
            return current;
        }
    }

    public FaultLedger(string stateDirectory)
    {
        StateDirectory = stateDirectory;
        FaultDirectory = Path.Combine(stateDirectory, "faults");
    }

    public string StateDirectory { get; }
    public string FaultDirectory { get; }
    /// <summary>How many watchdogs watch one ledger: each restarts the other, so one kill -9 leaves the ledger watched.</summary>
    public const int WatchdogSlots = 2;
    public string WatchdogLockPath => WatchdogLockPathOf(0);
    public string WatchdogLockPathOf(int slot) => Path.Combine(StateDirectory, slot == 0 ? "watchdog.lock" : $"watchdog-{slot}.lock");
    public string WatchdogLogPath => Path.Combine(StateDirectory, "watchdog.log");

    /// <summary>When false (engine unit tests), Record does not start the watchdog.</summary>
    public bool StartWatchdog { get; init; } = true;

    public static string DefaultStateDirectory()
    {
        if (Environment.GetEnvironmentVariable("CHAOSPS_STATE_DIR") is { Length: > 0 } d) return d;
        if (OperatingSystem.IsWindows())
            return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData), "ChaosPS");
        var xdg = Environment.GetEnvironmentVariable("XDG_STATE_HOME");
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return Path.Combine(string.IsNullOrEmpty(xdg) ? Path.Combine(home, ".local", "state") : xdg, "chaosps");
    }

    public static string NewId() => $"f{DateTime.UtcNow:yyMMddHHmmss}-{Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant()}";

    /// <summary>
    /// Writes the durable record of a fault about to be applied, and makes sure a watchdog is running.
    /// <paramref name="plannedDuration"/> is how long the fault is meant to last (null: until restored or its owner
    /// dies); the deadline is that plus <see cref="DeadlineGrace"/>.
    /// </summary>
    public FaultRecord Record(string kind, string target, string description, TimeSpan? plannedDuration,
        IEnumerable<UndoStep> undo, IDictionary<string, string>? priorState = null, string? id = null)
    {
        var now = DateTimeOffset.UtcNow;
        var r = new FaultRecord
        {
            Id = id ?? NewId(),
            Kind = kind,
            Target = target,
            Description = description,
            CreatedAt = now,
            Deadline = plannedDuration is { } d ? now + d + DeadlineGrace : DateTimeOffset.MaxValue,
            OwnerPid = Environment.ProcessId,
            OwnerStartStamp = ProcessIdentity.StartStamp(Environment.ProcessId),
            Undo = undo.ToList(),
        };
        foreach (var step in r.Undo)
            if (!UndoExecutor.IsKnown(step.Action)) throw new ArgumentException($"Unknown undo action '{step.Action}'.");
        if (priorState is not null) foreach (var kv in priorState) r.PriorState[kv.Key] = kv.Value;
        Write(r);
        if (StartWatchdog)
        {
            EnsureWatchdog();
            OwnerGuard.Watch(this);
        }
        return r;
    }

    /// <summary>Refuses a ledger that someone other than the current user can write (throws UntrustedStateDirectory).</summary>
    public void EnsureTrusted() => LedgerTrust.CheckStateDirectory(StateDirectory, FaultDirectory);

    /// <summary>Creates the state and faults folders (0700) when missing, then checks they can be trusted.</summary>
    private void EnsureFolders()
    {
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(FaultDirectory);
        else
        {
            Directory.CreateDirectory(StateDirectory, LedgerTrust.FolderMode);
            Directory.CreateDirectory(FaultDirectory, LedgerTrust.FolderMode);
        }
        EnsureTrusted();
    }

    private static FileStream OpenPrivate(string path, FileMode mode, FileAccess access, FileShare share, FileOptions options = FileOptions.None)
    {
        var o = new FileStreamOptions { Mode = mode, Access = access, Share = share, Options = options, BufferSize = 1 };
        if (!OperatingSystem.IsWindows() && mode is FileMode.Create or FileMode.CreateNew or FileMode.OpenOrCreate) o.UnixCreateMode = LedgerTrust.RecordMode;
        return new FileStream(path, o);
    }

    /// <summary>Rewrites a record (e.g. after learning the pid of a stressor it started). Durable before it returns.</summary>
    public void Write(FaultRecord r)
    {
        EnsureFolders();
        var path = PathOf(r.Id);
        // The writer's pid is in the name, so a sweep can tell a rewrite cut short by a kill from one in progress.
        var tmp = $"{path}.{Environment.ProcessId}.tmp";
        using (var fs = OpenPrivate(tmp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            JsonSerializer.Serialize(fs, r, Json);
            fs.Flush(flushToDisk: true);
        }
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>
    /// Rewrites a record that is already in the ledger (a new undo step, a tighter deadline). Does nothing when the
    /// record is gone: it was restored meanwhile (by the watchdog, say) and must not come back.
    /// </summary>
    public bool Rewrite(FaultRecord r)
    {
        EnsureFolders();
        // Under the fault's lock, as RestoreAsync deletes the record under it: without it a rewrite that saw the
        // record just before an undo deleted it would bring the record back after the undo (a fault restored by a
        // SIGTERM handler while its stressor's deadline was being tightened did exactly that).
        FileStream? lockFile = null;
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (lockFile is null)
        {
            try { lockFile = OpenPrivate(PathOf(r.Id) + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose); }
            catch (IOException) when (waited.Elapsed < RewriteLockWait) { Thread.Sleep(20); }
            catch (IOException) { return false; } // an undo has held it longer than any undo may: it is being restored
        }
        using (lockFile)
        {
            if (!File.Exists(PathOf(r.Id))) return false;
            Write(r);
            return true;
        }
    }

    /// <summary>How long a rewrite waits for an undo of the same fault in progress (an undo's own hard limit is 60 s).</summary>
    private static readonly TimeSpan RewriteLockWait = TimeSpan.FromSeconds(70);

    /// <summary>The active faults. Throws UntrustedStateDirectory for a ledger others can write; skips records that
    /// are not the current user's own (see <see cref="ListChecked"/> for the refusals).</summary>
    public IReadOnlyList<FaultRecord> List() => ListChecked().Records;

    /// <summary>The active faults, and one UntrustedFaultRecord error per record refused.</summary>
    public (IReadOnlyList<FaultRecord> Records, IReadOnlyList<ChaosException> Refused) ListChecked()
    {
        EnsureTrusted();
        if (!Directory.Exists(FaultDirectory)) return ([], []);
        var list = new List<FaultRecord>();
        var refused = new List<ChaosException>();
        foreach (var f in Directory.EnumerateFiles(FaultDirectory, "*.json"))
        {
            if (LedgerTrust.CheckRecord(f) is { } bad) { refused.Add(bad); continue; }
            if (TryRead(f) is { } r) list.Add(r);
        }
        return (list.OrderBy(r => r.CreatedAt).ToList(), refused);
    }

    /// <summary>One record, or null when there is none. Throws UntrustedFaultRecord for a record others wrote.</summary>
    public FaultRecord? Get(string id)
    {
        EnsureTrusted();
        var path = PathOf(id);
        if (LedgerTrust.CheckRecord(path) is { } bad) throw bad;
        return TryRead(path);
    }

    /// <summary>
    /// Removes what a killed writer or restorer left behind: &lt;id&gt;.json.&lt;pid&gt;.tmp files whose writer is gone
    /// (or older than ten minutes: no write takes that long), older &lt;id&gt;.json.tmp files, and lock files of
    /// records that are gone and that nobody holds. Returns the paths removed. Never touches a live writer's file.
    /// </summary>
    public IReadOnlyList<string> SweepStale()
    {
        var removed = new List<string>();
        if (!Directory.Exists(FaultDirectory)) return removed;
        EnsureTrusted();
        foreach (var f in Directory.EnumerateFiles(FaultDirectory, "*.tmp"))
        {
            try
            {
                var name = Path.GetFileName(f);
                var age = DateTime.UtcNow - File.GetLastWriteTimeUtc(f);
                var parts = name.Split('.');
                // f…-abc.json.<pid>.tmp, or f…-abc.json.tmp from before the pid was in the name.
                bool stale = parts.Length == 4 && int.TryParse(parts[2], out var pid)
                    ? !ProcessIdentity.IsAlive(pid, null) || age > TimeSpan.FromMinutes(10)
                    : age > TimeSpan.FromMinutes(1);
                if (!stale || LedgerTrust.CheckRecord(f) is not null) continue;
                File.Delete(f);
                removed.Add(f);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        foreach (var f in Directory.EnumerateFiles(FaultDirectory, "*.json.lock"))
        {
            if (File.Exists(f[..^".lock".Length])) continue; // its record is active: leave it to RestoreAsync
            try
            {
                using (new FileStream(f, FileMode.Open, FileAccess.ReadWrite, FileShare.None)) { File.Delete(f); }
                removed.Add(f);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        return removed;
    }

    public bool HasActiveFaults => Directory.Exists(FaultDirectory) && Directory.EnumerateFiles(FaultDirectory, "*.json").Any();

    /// <summary>Drops a record without undoing it (its target vanished mid-fault).</summary>
    public void Forget(string id)
    {
        try { File.Delete(PathOf(id)); } catch (IOException) { }
    }

    /// <summary>
    /// Undoes a fault: every step in reverse order; the record is deleted when all steps succeeded (or their targets
    /// are gone). Idempotent and safe to call from several processes at once (a per-fault lock file serialises them).
    /// </summary>
    public async Task<FaultRestoreResult> RestoreAsync(string id, string restoredBy, CancellationToken ct = default)
        => await RestoreAsync(id, restoredBy, null, ct).ConfigureAwait(false);

    /// <summary>
    /// As <see cref="RestoreAsync(string, string, CancellationToken)"/>, calling <paramref name="beforeRecordGoes"/>
    /// with the outcome while the record is still there (and the fault's lock held): a log line written there is on
    /// disk before anyone can see the ledger empty.
    /// </summary>
    public async Task<FaultRestoreResult> RestoreAsync(string id, string restoredBy, Action<FaultRestoreResult>? beforeRecordGoes, CancellationToken ct = default)
    {
        EnsureFolders();
        FileStream? lockFile = null;
        for (int i = 0; lockFile is null; i++)
        {
            try { lockFile = OpenPrivate(PathOf(id) + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, FileOptions.DeleteOnClose); }
            catch (IOException) when (i < 200) { await Task.Delay(50, CancellationToken.None).ConfigureAwait(false); }
        }
        using (lockFile)
        {
            var r = Get(id);
            if (r is null)
                return new FaultRestoreResult { Id = id, Outcome = "AlreadyRestored", RestoredBy = restoredBy };
            var done = new List<string>();
            string? error = null;
            // Undo must finish even when the caller is being cancelled (Ctrl+C): only a hard timeout stops it.
            using var hard = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            for (int i = r.Undo.Count - 1; i >= 0; i--)
            {
                var step = r.Undo[i];
                try
                {
                    var warning = await UndoExecutor.RunAsync(step, hard.Token).ConfigureAwait(false);
                    done.Add(warning is null ? $"{step}: done" : $"{step}: {warning}");
                }
                catch (Exception e)
                {
                    error = $"{step}: {e.Message}";
                    done.Add(error);
                    break;
                }
            }
            var result = new FaultRestoreResult
            {
                Id = r.Id, Kind = r.Kind, Target = r.Target, Outcome = error is null ? "Restored" : "Failed",
                Steps = done, Error = error, RestoredBy = restoredBy,
            };
            try { beforeRecordGoes?.Invoke(result); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
            if (error is null) Forget(id);
            return result;
        }
    }

    /// <summary>Starts a watchdog in every free slot (see <see cref="WatchdogSlots"/>). Cheap when they run.</summary>
    public void EnsureWatchdog()
    {
        EnsureFolders();
        for (int slot = 0; slot < WatchdogSlots; slot++)
            if (WatchdogLockFree(slot)) StartWatchdogProcess(slot);
    }

    /// <summary>Starts a watchdog for one slot (it exits at once if another holds that slot's lock).</summary>
    public void StartWatchdogProcess(int slot)
    {
        var dll = HelperPrograms.Locate(HelperPrograms.Agent);
        var host = HelperPrograms.DotnetHost;
        ProcessStartInfo psi;
        if (OperatingSystem.IsWindows())
        {
            psi = new ProcessStartInfo(host) { UseShellExecute = false, CreateNoWindow = true };
            psi.ArgumentList.Add(dll); psi.ArgumentList.Add("watchdog"); psi.ArgumentList.Add("--state"); psi.ArgumentList.Add(StateDirectory);
            psi.ArgumentList.Add("--slot"); psi.ArgumentList.Add(slot.ToString());
        }
        else
        {
            // A session of its own (Ctrl+C in the terminal must not reach it), no inherited pipes (a parent waiting for
            // EOF on our stdout must not wait for it), output to the watchdog log.
            psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("umask 077; exec setsid \"$0\" \"$1\" watchdog --state \"$2\" --slot \"$4\" </dev/null >>\"$3\" 2>&1 &");
            psi.ArgumentList.Add(host); psi.ArgumentList.Add(dll); psi.ArgumentList.Add(StateDirectory); psi.ArgumentList.Add(WatchdogLogPath);
            psi.ArgumentList.Add(slot.ToString());
        }
        using var p = Process.Start(psi)!;
        p.WaitForExit(5000);
    }

    /// <summary>True when no watchdog holds the lock of this slot.</summary>
    public bool WatchdogLockFree(int slot = 0)
    {
        try
        {
            using var fs = OpenPrivate(WatchdogLockPathOf(slot), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            return true;
        }
        catch (IOException) { return false; }
    }

    /// <summary>Opens (creating 0600) a watchdog's lock file exclusively; throws IOException when another holds it.</summary>
    public FileStream LockWatchdogSlot(int slot) => OpenPrivate(WatchdogLockPathOf(slot), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);

    private string PathOf(string id)
    {
        if (id.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || id.Contains(".."))
            throw ChaosException.InvalidArgument("InvalidFaultId", $"'{id}' is not a fault id.", id);
        return Path.Combine(FaultDirectory, id + ".json");
    }

    private static FaultRecord? TryRead(string path)
    {
        for (int attempt = 0; attempt < 3; attempt++)
        {
            try
            {
                return JsonSerializer.Deserialize<FaultRecord>(File.ReadAllText(path), Json);
            }
            catch (FileNotFoundException) { return null; }
            catch (DirectoryNotFoundException) { return null; }
            catch (Exception e) when (e is IOException or JsonException) { Thread.Sleep(20); }
        }
        return null;
    }
}

/// <summary>
/// A fault in force, for the code that applies it: record first (<see cref="BeginAsync"/>), apply, then dispose to
/// undo — on success, on error and on cancellation alike.
/// <code>
/// await using var fault = FaultLedger.Default.Begin("Suspend", target, desc, duration, [SignalUndo.Step(pid, "CONT")]);
/// PosixSignals.Send(pid, 19);
/// await fault.HoldAsync(duration, ct);   // returns early on Ctrl+C; DisposeAsync still undoes
/// </code>
/// </summary>
public sealed class ActiveFault : IAsyncDisposable
{
    private readonly FaultLedger _ledger;
    private int _restored;

    internal ActiveFault(FaultLedger ledger, FaultRecord record) { _ledger = ledger; Record = record; }

    public FaultRecord Record { get; }
    public string Id => Record.Id;
    public FaultRestoreResult? Result { get; private set; }

    /// <summary>Adds an undo step once it is known (e.g. the pid of a helper just started) and persists it.</summary>
    public void AddUndo(UndoStep step)
    {
        Record.Undo.Add(step);
        _ledger.Rewrite(Record);
    }

    /// <summary>Waits for the fault's duration; returns early (without throwing) when cancelled.</summary>
    public async Task HoldAsync(TimeSpan duration, CancellationToken ct, IProgress<TimeSpan>? elapsed = null)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < duration && !ct.IsCancellationRequested)
        {
            var left = duration - sw.Elapsed;
            try { await Task.Delay(left < TimeSpan.FromMilliseconds(250) ? left : TimeSpan.FromMilliseconds(250), ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { break; }
            elapsed?.Report(sw.Elapsed);
        }
    }

    /// <summary>Undoes the fault now (once); later calls return the first result.</summary>
    public async Task<FaultRestoreResult> RestoreAsync(string restoredBy = "cmdlet")
    {
        if (Interlocked.Exchange(ref _restored, 1) == 1) return Result!;
        Result = await _ledger.RestoreAsync(Id, restoredBy, CancellationToken.None).ConfigureAwait(false);
        return Result;
    }

    public async ValueTask DisposeAsync() => await RestoreAsync().ConfigureAwait(false);
}

public static class FaultLedgerExtensions
{
    /// <summary>Records a fault and returns the handle that undoes it when disposed.</summary>
    public static ActiveFault Begin(this FaultLedger ledger, string kind, string target, string description, TimeSpan? plannedDuration,
        IEnumerable<UndoStep> undo, IDictionary<string, string>? priorState = null)
        => new(ledger, ledger.Record(kind, target, description, plannedDuration, undo, priorState));
}
