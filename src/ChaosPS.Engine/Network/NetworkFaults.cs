using System.Diagnostics;
using ChaosPS.Faults;

namespace ChaosPS.Network;

/// <summary>
/// Network faults with the fault ledger: every toxic a cmdlet adds is recorded (with the undo step that
/// removes it) before it is applied, and removed on success, error, Ctrl+C, and - through the watchdog - when pwsh dies.
/// <para>Built-in proxies live inside the pwsh process, so when it dies its proxies and their toxics die with it: the
/// watchdog's undo then finds the target gone, which is the truth. On a toxiproxy server (-ToxiproxyUri) the fault
/// outlives pwsh, and the watchdog removes it through the API.</para>
/// </summary>
public static class NetworkFaults
{
    public const string Kind = "NetworkFault";

    /// <summary>The fault-ledger record for a toxic, if a cmdlet added it.</summary>
    public static FaultRecord? FindRecord(string? uri, string proxy, string toxic)
        => FaultLedger.Default.List().FirstOrDefault(r => r.Kind == Kind
            && r.PriorState.GetValueOrDefault("proxy") == proxy && r.PriorState.GetValueOrDefault("toxic") == toxic
            && (r.PriorState.GetValueOrDefault("api") ?? "") == (UriRedaction.Redact(uri) ?? "")
            && (uri is not null || r.OwnerPid == Environment.ProcessId));

    /// <summary>Records and applies a fault; returns the ledger handle (dispose or restore it to undo).</summary>
    public static async Task<(ActiveFault Fault, NetworkFaultInfo Info)> ApplyAsync(IProxyBackend backend, string proxy, ToxicSpec spec, TimeSpan? duration, CancellationToken ct)
    {
        // Check the proxy and the name before anything is recorded or changed.
        var info = await backend.GetAsync(proxy, ct).ConfigureAwait(false);
        bool down = spec.Type == "down";
        if (!down && info.Toxics.Any(t => t.Name == spec.Name))
            throw new ProxyException(409, "toxic already exists", "ToxicExists", ChaosErrorCategory.ResourceExists,
                $"Proxy '{proxy}' already has a fault named '{spec.Name}'.", spec.Name, "Give the fault another -Name, or remove the existing one first (Remove-NetworkFault).");
        if (down && !info.Enabled)
            throw new ProxyException(409, "proxy already disabled", "ProxyAlreadyDown", ChaosErrorCategory.InvalidOperation,
                $"Proxy '{proxy}' is already disabled.", proxy, "Enable it first (Enable-ChaosProxy).");
        var undo = down ? ProxyUndo.Enable(backend.Uri, proxy) : ProxyUndo.RemoveToxic(backend.Uri, proxy, spec.Name);
        var prior = new Dictionary<string, string> { ["proxy"] = proxy, ["toxic"] = spec.Name, ["type"] = spec.Type, ["api"] = UriRedaction.Redact(backend.Uri) ?? "" };
        var desc = down ? $"proxy {proxy} disabled (down)" : $"{spec.Type} on {proxy} {spec.Stream} ({Describe(spec)}, toxicity {spec.Toxicity:0.###})";
        var fault = FaultLedger.Default.Begin(Kind, $"proxy {proxy}" + (backend.Uri is null ? "" : $" at {UriRedaction.Redact(backend.Uri)}"), desc, duration, [undo], prior);
        try
        {
            if (down)
            {
                await backend.SetEnabledAsync(proxy, false, ct).ConfigureAwait(false);
                return (fault, NetworkFaultInfo.Down(proxy, spec.Name, fault.Id, backend.Uri));
            }
            var added = await backend.AddToxicAsync(proxy, spec, ct).ConfigureAwait(false);
            return (fault, NetworkFaultInfo.From(proxy, added, fault.Id, backend.Uri));
        }
        catch
        {
            // Nothing was applied (or only partly): undo what may be there and drop the record.
            await fault.RestoreAsync("apply failed").ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Removes a fault: through the ledger when a cmdlet recorded it (so the record goes too), else directly.</summary>
    public static async Task<FaultRestoreResult?> RemoveAsync(IProxyBackend backend, string proxy, string name, CancellationToken ct)
    {
        var record = FindRecord(backend.Uri, proxy, name);
        if (record is not null)
        {
            var r = await FaultLedger.Default.RestoreAsync(record.Id, "Remove-NetworkFault", ct).ConfigureAwait(false);
            if (r.Outcome == "Failed") throw new ChaosException("NetworkFaultRemoveFailed", ChaosErrorCategory.InvalidResult, $"Removing fault '{name}' from proxy '{proxy}' failed: {r.Error}", name);
            return r;
        }
        if (name == "down")
        {
            await backend.SetEnabledAsync(proxy, true, ct).ConfigureAwait(false);
            return null;
        }
        await backend.RemoveToxicAsync(proxy, name, ct).ConfigureAwait(false);
        return null;
    }

    /// <summary>Applies a fault for a duration, then removes it - also on error and cancellation (Ctrl+C).</summary>
    public static async Task<NetworkFaultResult> InvokeAsync(IProxyBackend backend, string proxy, ToxicSpec spec, TimeSpan duration, IChaosReporter reporter, CancellationToken ct)
    {
        var before = backend.Uri is null ? ProxyCollection.Default.Get(proxy).Snapshot() : null;
        var (fault, info) = await ApplyAsync(backend, proxy, spec, duration, ct).ConfigureAwait(false);
        var appliedAt = DateTimeOffset.UtcNow;
        var sw = Stopwatch.StartNew();
        long activations = 0;
        ChaosProxyInfo? after = null;
        // A Down fault closes the listener: the proxy sees no connection, the kernel refuses them. Count those attempts.
        bool down = info.Type == "down";
        RefusedConnectionCounter? refusedCounter = null;
        if (down && before is not null) refusedCounter = RefusedConnectionCounter.TryStart(ListenAddress.Resolve(before.Listen, allowNonLoopback: true));
        long? refused = null;
        await using (fault.ConfigureAwait(false))
        {
            // Reported inline (not System.Progress, which posts to the thread pool and could report after the job ended).
            await fault.HoldAsync(duration, ct, new InlineProgress(el => reporter.Progress(new ProgressInfo(
                $"Network fault {info.Type} on {proxy}", $"{DurationParser.Format(el)} of {DurationParser.Format(duration)}",
                (int)Math.Min(100, el.TotalMilliseconds * 100 / Math.Max(1, duration.TotalMilliseconds)),
                SecondsRemaining: (int)Math.Max(0, (duration - el).TotalSeconds))))).ConfigureAwait(false);
            if (refusedCounter is not null)
            {
                // Stop counting before the undo re-opens the listener.
                refused = refusedCounter.Count;
                refusedCounter.Dispose();
            }
            if (backend.Uri is null && ProxyCollection.Default.TryGet(proxy, out var p) && p is not null)
            {
                after = p.Snapshot();
                activations = after.Toxics.FirstOrDefault(t => t.Name == spec.Name)?.Activations ?? 0;
            }
        }
        var removedAt = DateTimeOffset.UtcNow;
        reporter.Progress(new ProgressInfo($"Network fault {info.Type} on {proxy}", "removed", 100, Completed: true));
        return new NetworkFaultResult
        {
            Fault = info.Fault with { Proxy = proxy }, FaultId = fault.Id, PlannedDuration = duration, ActualDuration = sw.Elapsed, AppliedAt = appliedAt, RemovedAt = removedAt,
            Outcome = ct.IsCancellationRequested ? "Cancelled" : "Completed", RestoreOutcome = fault.Result?.Outcome ?? "",
            Activations = down ? (refused ?? 0) + (before?.ActiveConnections ?? 0) : activations,
            RefusedDuring = refused,
            ClosedAtStart = down ? before?.ActiveConnections ?? 0 : 0,
            ConnectionsDuring = down ? (refused ?? 0) + (before?.ActiveConnections ?? 0)
                : before is not null && after is not null ? after.ConnectionsTotal - before.ConnectionsTotal : 0,
            BytesUpstreamDuring = before is not null && after is not null ? after.BytesUpstream - before.BytesUpstream : 0,
            BytesDownstreamDuring = before is not null && after is not null ? after.BytesDownstream - before.BytesDownstream : 0,
            TrafficMeasured = before is not null && after is not null && (!down || refused is not null),
        };
    }

    private sealed class InlineProgress(Action<TimeSpan> report) : IProgress<TimeSpan>
    {
        public void Report(TimeSpan value)
        {
            try { report(value); } catch (InvalidOperationException) { /* the caller's output is already closed */ }
        }
    }

    private static string Describe(ToxicSpec s) => s.Attributes.Count == 0 ? "no attributes" : string.Join(' ', s.Attributes.Select(kv => $"{kv.Key}={kv.Value}"));
}

/// <summary>
/// Undoes a network fault: removes a toxic or re-enables a proxy. Through the toxiproxy API when the fault is on a
/// server (api set: works from the watchdog too); on a built-in proxy only inside the process that owns it - from any
/// other process the owner is gone (its proxies went with it) or still holds them (then it must restore them itself).
/// </summary>
public sealed class ProxyUndo : IUndoHandler
{
    public string Action => "chaos-proxy";

    public static UndoStep RemoveToxic(string? api, string proxy, string toxic) => Step("remove-toxic", api, proxy, toxic,
        $"remove toxic {toxic} from proxy {proxy}" + (api is null ? "" : $" at {UriRedaction.Redact(api)}"));

    public static UndoStep Enable(string? api, string proxy) => Step("enable", api, proxy, "down",
        $"enable proxy {proxy}" + (api is null ? "" : $" at {UriRedaction.Redact(api)}"));

    private static UndoStep Step(string op, string? api, string proxy, string toxic, string description)
        => new("chaos-proxy", description, ("op", op), ("api", api ?? ""), ("proxy", proxy), ("toxic", toxic),
            ("pid", Environment.ProcessId.ToString()), ("start", ProcessIdentity.StartStamp(Environment.ProcessId) ?? ""));

    public async Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        var api = step.Args.GetValueOrDefault("api");
        var proxy = step.Arg("proxy");
        var op = step.Arg("op");
        IProxyBackend backend;
        if (!string.IsNullOrEmpty(api)) backend = new ToxiproxyClient(api);
        else
        {
            int pid = int.Parse(step.Arg("pid"));
            var start = step.Args.GetValueOrDefault("start");
            if (pid != Environment.ProcessId)
            {
                if (!ProcessIdentity.IsAlive(pid, string.IsNullOrEmpty(start) ? null : start))
                    throw new UndoTargetGoneException($"proxy {proxy} lived in process {pid}, which has exited: its faults ended with it");
                throw new InvalidOperationException($"proxy {proxy} lives in process {pid}; restore this fault from that PowerShell session");
            }
            backend = LocalProxyBackend.Instance;
        }
        try
        {
            if (op == "enable") await backend.SetEnabledAsync(proxy, true, ct).ConfigureAwait(false);
            else await backend.RemoveToxicAsync(proxy, step.Arg("toxic"), ct).ConfigureAwait(false);
        }
        catch (ProxyException e) when (e.HttpStatus == 404)
        {
            throw new UndoTargetGoneException($"{e.ApiMessage}: already undone");
        }
        // An unreachable server is not proof that the toxic is gone (a restart, a passing partition): the step fails,
        // the record stays, and the watchdog tries again on its next round. Only a 404 counts as already undone.
    }
}
