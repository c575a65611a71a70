namespace ChaosPS.Faults;

/// <summary>One step that undoes (part of) a fault, as data, so a process other than the one that applied the fault
/// (the watchdog) can carry it out. <see cref="Action"/> names an <see cref="IUndoHandler"/>.</summary>
public sealed class UndoStep
{
    public string Action { get; set; } = "";
    public Dictionary<string, string> Args { get; set; } = new(StringComparer.Ordinal);
    public string? Description { get; set; }

    public UndoStep() { }

    public UndoStep(string action, string? description = null, params (string Key, string Value)[] args)
    {
        Action = action;
        Description = description;
        foreach (var (k, v) in args) Args[k] = v;
    }

    public string Arg(string key) => Args.TryGetValue(key, out var v) ? v
        : throw new InvalidOperationException($"Undo step '{Action}' lacks argument '{key}'.");

    public override string ToString() => Description ?? $"{Action} {string.Join(' ', Args.Select(kv => $"{kv.Key}={kv.Value}"))}";
}

/// <summary>
/// A durable record of one injected fault: written before the fault is applied, removed once it is undone.
/// Get-ChaosFault lists these; Restore-ChaosFault and the watchdog undo them.
/// </summary>
public sealed class FaultRecord
{
    /// <summary>Fault id, also the label put on everything the fault creates (files, containers, processes).</summary>
    public string Id { get; set; } = "";
    /// <summary>What kind of fault: Suspend, MemoryLimit, NetworkFault, DiskFill, MemoryHog, ...</summary>
    public string Kind { get; set; } = "";
    /// <summary>The target, as a person would name it (e.g. "process 1234 (worker)", "container web-1").</summary>
    public string Target { get; set; } = "";
    public string Description { get; set; } = "";
    public DateTimeOffset CreatedAt { get; set; }
    /// <summary>When the watchdog undoes the fault even if its owner is still alive.</summary>
    public DateTimeOffset Deadline { get; set; }
    /// <summary>The PowerShell process that applied the fault; when it dies, the watchdog undoes the fault.</summary>
    public int OwnerPid { get; set; }
    public string? OwnerStartStamp { get; set; }
    /// <summary>Undo steps, carried out in reverse order of this list.</summary>
    public List<UndoStep> Undo { get; set; } = [];
    /// <summary>State before the fault, as it was read (e.g. the memory limit), for the record and the undo.</summary>
    public Dictionary<string, string> PriorState { get; set; } = new(StringComparer.Ordinal);

    public TimeSpan Remaining => Deadline - DateTimeOffset.UtcNow;
    public bool OwnerAlive => ProcessIdentity.IsAlive(OwnerPid, OwnerStartStamp);
}

/// <summary>What Restore-ChaosFault reports for one fault.</summary>
public sealed class FaultRestoreResult
{
    public string Id { get; init; } = "";
    public string Kind { get; init; } = "";
    public string Target { get; init; } = "";
    /// <summary>Restored: every step succeeded; AlreadyRestored: no such active fault (restore is idempotent); Failed: a step failed and the record is kept.</summary>
    public string Outcome { get; init; } = "";
    public IReadOnlyList<string> Steps { get; init; } = [];
    public string? Error { get; init; }
    public string RestoredBy { get; init; } = "";
    public DateTimeOffset At { get; init; } = DateTimeOffset.UtcNow;
}
