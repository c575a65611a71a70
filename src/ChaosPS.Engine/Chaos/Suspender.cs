using System.Diagnostics;
using ChaosPS.Docker;
using ChaosPS.Faults;
using Docker.DotNet;

namespace ChaosPS.Chaos;

/// <summary>What Suspend-ChaosTarget / Resume-ChaosTarget report for one target.</summary>
public sealed class SuspendResult
{
    public string Target { get; init; } = "";
    public string Kind { get; init; } = "";
    public string Name { get; init; } = "";
    public int? ProcessId { get; init; }
    public string? ContainerId { get; init; }
    /// <summary>Suspend or Resume.</summary>
    public string Action { get; init; } = "";
    /// <summary>The ledger id of the suspend fault (pipe to Restore-ChaosFault).</summary>
    public string? FaultId { get; init; }
    public DateTimeOffset At { get; init; }
    /// <summary>When it was resumed, when this call resumed it (-Duration).</summary>
    public DateTimeOffset? ResumedAt { get; set; }
    /// <summary>The state observed after the action: process state letter (T = stopped) or container status (paused).</summary>
    public string? ObservedState { get; set; }
    /// <summary>Suspended, Resumed, TargetGone, NotSuspended.</summary>
    public string Outcome { get; set; } = "";
}

/// <summary>Hangs and resumes workers: SIGSTOP/SIGCONT for processes, pause/unpause for containers, ledgered.</summary>
public static class Suspender
{
    public const string FaultKind = "Suspend";

    /// <summary>
    /// Suspends every target (a ledger record with its undo is written first). With a duration, holds them all that
    /// long and resumes them (also on error and Ctrl+C); without, leaves them suspended in the ledger.
    /// </summary>
    public static async Task<List<SuspendResult>> SuspendAsync(IReadOnlyList<ChaosTarget> targets, TimeSpan? duration, FaultLedger ledger,
        IChaosReporter reporter, CancellationToken ct)
    {
        var faults = new List<(ActiveFault Fault, ChaosTarget Target, SuspendResult Result)>();
        try
        {
            foreach (var t in targets)
            {
                ct.ThrowIfCancellationRequested();
                try
                {
                    var (fault, result) = await SuspendOneAsync(t, duration, ledger, ct).ConfigureAwait(false);
                    faults.Add((fault, t, result));
                    if (duration is null) reporter.Output(result);
                }
                catch (ChaosException e) { reporter.Error(e); }
                catch (DockerApiException e) { reporter.Error(new ChaosException("SuspendFailed", ChaosErrorCategory.InvalidOperation, $"Pausing {t.Display} failed: {e.Message}", t.Display)); }
            }
            if (duration is not { } d) return faults.Select(f => f.Result).ToList();

            var sw = Stopwatch.StartNew();
            var gone = new HashSet<string>();
            while (sw.Elapsed < d && !ct.IsCancellationRequested)
            {
                var left = d - sw.Elapsed;
                reporter.Progress(new ProgressInfo("Suspend-ChaosTarget", $"{faults.Count - gone.Count} target(s) suspended",
                    (int)(100 * sw.Elapsed.TotalMilliseconds / d.TotalMilliseconds), SecondsRemaining: (int)left.TotalSeconds));
                try { await Task.Delay(left < TimeSpan.FromMilliseconds(250) ? left : TimeSpan.FromMilliseconds(250), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
                foreach (var f in faults)
                {
                    if (gone.Contains(f.Fault.Id) || f.Target.IsContainer || f.Target.ProcessAlive) continue;
                    reporter.Warning($"{f.Target.Display} exited while suspended; dropping its undo ({f.Fault.Id}).");
                    ledger.Forget(f.Fault.Id);
                    f.Result.Outcome = "TargetGone";
                    gone.Add(f.Fault.Id);
                }
            }
            return faults.Select(f => f.Result).ToList();
        }
        finally
        {
            if (duration is not null)
                foreach (var f in faults)
                {
                    var r = await f.Fault.RestoreAsync("Suspend-ChaosTarget -Duration").ConfigureAwait(false);
                    if (f.Result.Outcome == "TargetGone") continue;
                    f.Result.ResumedAt = DateTimeOffset.UtcNow;
                    f.Result.Outcome = r.Outcome == "Failed" ? "ResumeFailed" : "Resumed";
                    f.Result.ObservedState = await ObserveAsync(f.Target, CancellationToken.None).ConfigureAwait(false);
                    if (r.Outcome == "Failed") reporter.Error(new ChaosException("ResumeFailed", ChaosErrorCategory.InvalidResult,
                        $"Resuming {f.Target.Display} failed: {r.Error}. The fault stays in the ledger ({f.Fault.Id}).", f.Target.Display,
                        "Run Restore-ChaosFault -Id " + f.Fault.Id));
                }
        }
    }

    private static async Task<(ActiveFault, SuspendResult)> SuspendOneAsync(ChaosTarget t, TimeSpan? duration, FaultLedger ledger, CancellationToken ct)
    {
        if (t.IsContainer)
        {
            using var client = await DockerEngine.ConnectAsync(t.DockerEndpoint, ct).ConfigureAwait(false);
            var fault = ledger.Begin(FaultKind, t.Display, $"docker pause {t.Name}", duration, [DockerUnpauseUndo.Step(t.ContainerId!, t.DockerEndpoint)]);
            try
            {
                await client.Containers.PauseContainerAsync(t.ContainerId!, ct).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                // Cancelled or failed mid-call: the pause may have happened. The undo is idempotent (it unpauses only a
                // paused container), so run it rather than dropping the record.
                await fault.RestoreAsync("Suspend-ChaosTarget (failed or cancelled while pausing)").ConfigureAwait(false);
                if (e is DockerContainerNotFoundException) throw Gone(t);
                throw;
            }
            // Not cancellable: between applying the fault and handing it back nothing may throw, or the fault would
            // be left applied with nobody holding it.
            string? state;
            try { state = await ObserveAsync(t, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception) { state = null; }   // observing is evidence only; the fault must still be handed back
            return (fault, new SuspendResult
            {
                Target = t.Display, Kind = t.Kind, Name = t.Name, ProcessId = t.ProcessId, ContainerId = t.ContainerId,
                Action = "Suspend", FaultId = fault.Id, At = DateTimeOffset.UtcNow, ObservedState = state, Outcome = "Suspended",
            });
        }
        else
        {
            int pid = t.ProcessId!.Value;
            if (!t.ProcessAlive) throw Gone(t);
            var fault = ledger.Begin(FaultKind, t.Display, $"SIGSTOP process {pid} ({t.Name})", duration, [SignalUndo.Step(pid, "CONT", $"send SIGCONT to process {pid} ({t.Name})")]);
            if (!PosixSignals.Send(pid, PosixSignals.Parse("STOP")))
            {
                ledger.Forget(fault.Id);
                throw Gone(t);
            }
            // Not cancellable (see above): a Ctrl+C now must still find the fault in the list that the finally undoes.
            var state = await ObserveAsync(t, CancellationToken.None, expect: "T").ConfigureAwait(false);
            return (fault, new SuspendResult
            {
                Target = t.Display, Kind = t.Kind, Name = t.Name, ProcessId = pid, Action = "Suspend", FaultId = fault.Id,
                At = DateTimeOffset.UtcNow, ObservedState = state, Outcome = "Suspended",
            });
        }
    }

    /// <summary>
    /// Resumes a target: undoes its Suspend faults from the ledger (any session's), and if none is recorded, sends
    /// SIGCONT / unpauses anyway (a worker someone else stopped).
    /// </summary>
    public static async Task<SuspendResult> ResumeAsync(ChaosTarget t, FaultLedger ledger, CancellationToken ct)
    {
        var faults = ledger.List().Where(f => f.Kind == FaultKind && f.Target == t.Display).ToList();
        string outcome = "Resumed";
        string? faultId = faults.FirstOrDefault()?.Id;
        if (faults.Count > 0)
        {
            foreach (var f in faults)
            {
                var r = await ledger.RestoreAsync(f.Id, $"Resume-ChaosTarget in process {Environment.ProcessId}", ct).ConfigureAwait(false);
                if (r.Outcome == "Failed")
                    throw new ChaosException("ResumeFailed", ChaosErrorCategory.InvalidResult, $"Resuming {t.Display} failed: {r.Error}", t.Display);
            }
        }
        else if (t.IsContainer)
        {
            using var client = await DockerEngine.ConnectAsync(t.DockerEndpoint, ct).ConfigureAwait(false);
            var ins = await client.Containers.InspectContainerAsync(t.ContainerId!, ct).ConfigureAwait(false);
            if (ins.State?.Paused == true) await client.Containers.UnpauseContainerAsync(t.ContainerId!, ct).ConfigureAwait(false);
            else outcome = "NotSuspended";
        }
        else
        {
            if (!t.ProcessAlive) throw Gone(t);
            if (ProcessIdentity.ProcessState(t.ProcessId!.Value) is not 'T' and not 't') outcome = "NotSuspended";
            PosixSignals.Send(t.ProcessId!.Value, PosixSignals.Parse("CONT"));
        }
        return new SuspendResult
        {
            Target = t.Display, Kind = t.Kind, Name = t.Name, ProcessId = t.ProcessId, ContainerId = t.ContainerId, Action = "Resume",
            FaultId = faultId, At = DateTimeOffset.UtcNow, ResumedAt = DateTimeOffset.UtcNow,
            ObservedState = await ObserveAsync(t, ct).ConfigureAwait(false), Outcome = outcome,
        };
    }

    /// <summary>The target's state now: process state letter, or container status; waits briefly for <paramref name="expect"/>.</summary>
    public static async Task<string?> ObserveAsync(ChaosTarget t, CancellationToken ct, string? expect = null)
    {
        if (t.IsContainer)
        {
            try
            {
                using var client = await DockerEngine.ConnectAsync(t.DockerEndpoint, ct).ConfigureAwait(false);
                var r = await client.Containers.InspectContainerAsync(t.ContainerId!, ct).ConfigureAwait(false);
                return r.State?.Status;
            }
            catch (DockerContainerNotFoundException) { return "removed"; }
        }
        int pid = t.ProcessId!.Value;
        for (int i = 0; i < 40; i++)
        {
            if (!t.ProcessAlive) return "gone";
            var s = ProcessIdentity.ProcessState(pid).ToString();
            if (expect is null || s == expect) return s;
            await Task.Delay(25, ct).ConfigureAwait(false);
        }
        return ProcessIdentity.ProcessState(pid).ToString();
    }

    internal static ChaosException Gone(ChaosTarget t) => new("TargetNotFound", ChaosErrorCategory.ObjectNotFound,
        $"{t.Display} no longer exists.", t.Display, "Select the targets again with Get-ChaosTarget.");
}
