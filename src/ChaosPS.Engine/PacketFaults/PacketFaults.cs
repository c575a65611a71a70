using System.Globalization;
using System.Text.RegularExpressions;
using ChaosPS.Faults;

namespace ChaosPS.PacketFaults;

/// <summary>What this kernel offers for packet faults, probed once in a throwaway network namespace (unshare --net).</summary>
public sealed class PacketFaultCapabilities
{
    public bool Netem { get; init; }
    public string NetemDetail { get; init; } = "";
    public bool Nftables { get; init; }
    public string NftablesDetail { get; init; } = "";

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static PacketFaultCapabilities? _probed;

    public static async Task<PacketFaultCapabilities> ProbeAsync(CancellationToken ct)
    {
        if (_probed is { } p) return p;
        await Gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_probed is { } q) return q;
            var tc = await Probe(["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"], ct).ConfigureAwait(false);
            var nft = await Probe(["nft", "add table netdev chaosps_probe; add chain netdev chaosps_probe e { type filter hook egress device \"lo\" priority -300; }"], ct).ConfigureAwait(false);
            return _probed = new PacketFaultCapabilities
            {
                Netem = tc.Ok, NetemDetail = tc.Detail,
                Nftables = nft.Ok, NftablesDetail = nft.Detail,
            };
        }
        finally { Gate.Release(); }
    }

    private static async Task<(bool Ok, string Detail)> Probe(string[] command, CancellationToken ct)
    {
        try
        {
            var r = await Shell.RunAsync("unshare", ["--net", .. command], null, ct).ConfigureAwait(false);
            var detail = r.Code == 0 ? $"{command[0]}: works in a scratch network namespace" : $"{command[0]}: {(r.Err + r.Out).Trim()}";
            return (r.Code == 0, detail);
        }
        catch (ChaosException e) { return (false, e.Message); }
    }
}

/// <summary>A packet fault in force (Add-PacketFault), or the plan of one (-WhatIf).</summary>
public class PacketFaultInfo
{
    public string Id { get; init; } = "";
    public string Target { get; init; } = "";
    public string Namespace { get; init; } = "";
    public string NamespaceId { get; init; } = "";
    /// <summary>Netem or Nftables: what carries the fault here.</summary>
    public string Mechanism { get; init; } = "";
    /// <summary>Why that mechanism (what the kernel offers and what the request needs).</summary>
    public string MechanismReason { get; init; } = "";
    /// <summary>What the chosen mechanism cannot do (for the record; a request for one of these is refused).</summary>
    public string CannotDo { get; init; } = "";
    public IReadOnlyList<string> Interfaces { get; init; } = [];
    public string Direction { get; init; } = "";
    public string Effects { get; init; } = "";
    public string Filter { get; init; } = "";
    /// <summary>The exact commands/rules, as run.</summary>
    public string Rules { get; init; } = "";
    public DateTimeOffset CreatedAt { get; init; }
}

/// <summary>What Invoke-PacketFault reports: the fault, how long it was in force, what the kernel counted, and its undo.</summary>
public sealed class PacketFaultResult : PacketFaultInfo
{
    public TimeSpan Duration { get; init; }
    /// <summary>Packets that matched the filter while the fault was in force (nft counters; netem: packets sent + dropped by the qdisc).</summary>
    public long? PacketsMatched { get; init; }
    /// <summary>Packets the fault dropped, as the kernel counted them.</summary>
    public long? PacketsDropped { get; init; }
    /// <summary>Packets the fault sent twice (nft counters; null when not asked for or not counted).</summary>
    public long? PacketsDuplicated { get; init; }
    /// <summary>Dropped / matched, in percent.</summary>
    public double? MeasuredLossPercent => PacketsMatched is > 0 && PacketsDropped is { } d ? Math.Round(100.0 * d / PacketsMatched.Value, 2) : null;
    public string Restore { get; init; } = "";
    public IReadOnlyList<string> RestoreSteps { get; init; } = [];
}

/// <summary>
/// Packet-level network faults (loss, delay, duplication, corruption, reordering) in a network namespace, with tc netem
/// where the kernel has it and nftables otherwise. Recorded in the fault ledger before any rule exists; undone by
/// deleting ChaosPS's own table (or its own netem qdisc), never touching other rules - on success, error, Ctrl+C, and
/// by the watchdog when pwsh dies.
/// </summary>
public static class PacketFaultEngine
{
    public const string Kind = "PacketFault";

    /// <summary>A planned fault: the target, the mechanism, the exact rules. Nothing is changed yet.</summary>
    public sealed class Plan
    {
        public required NetNamespaceTarget Target { get; init; }
        public required PacketFaultSpec Spec { get; init; }
        public required string Id { get; init; }
        public required string Mechanism { get; init; }
        public required string MechanismReason { get; init; }
        public required IReadOnlyList<string> Devices { get; init; }
        /// <summary>nft: the script for nft -f -; netem: one tc command line per device.</summary>
        public required string Rules { get; init; }
        public string Table => PacketFaultSpec.NftTableName(Id);

        public string Describe() => $"{Spec.DescribeEffects()} on {Spec.DescribeFilter()} ({Spec.Direction.ToLowerInvariant()}, {string.Join(", ", Devices)}) in {Target.Display} via {Mechanism}";
    }

    /// <summary>Validates, resolves the namespace, chooses the mechanism and renders the rules; throws before any change.</summary>
    public static async Task<Plan> PlanAsync(PacketFaultSpec spec, Func<CancellationToken, Task<NetNamespaceTarget>> resolve, bool force, CancellationToken ct)
    {
        spec.Validate();
        var target = await resolve(ct).ConfigureAwait(false);
        if (target.IsRootNamespace && !force)
            throw new ChaosException("PacketFaultRootNamespace", ChaosErrorCategory.PermissionDenied,
                $"{target.Display} is this machine's own network namespace (the same as /proc/1/ns/net): a packet fault there hits its SSH and everything else.",
                target.Display, "Target a container, a process in its own namespace or a named namespace; or pass -Force if you mean the host itself.");
        var devices = spec.Interfaces?.Distinct(StringComparer.Ordinal).ToList() ?? target.Interfaces.Where(i => i != "lo").ToList();
        if (devices.Count == 0)
            throw new ChaosException("PacketFaultNoInterface", ChaosErrorCategory.InvalidOperation,
                $"{target.Display} has no interface but lo.", target.Display, "Pass -Interface lo to fault its loopback traffic.");
        foreach (var d in devices)
            if (!target.Interfaces.Contains(d, StringComparer.Ordinal))
                throw new ChaosException("PacketFaultInterfaceNotFound", ChaosErrorCategory.ObjectNotFound,
                    $"{target.Display} has no interface '{d}' (it has: {string.Join(", ", target.Interfaces)}).", d);

        var caps = await PacketFaultCapabilities.ProbeAsync(ct).ConfigureAwait(false);
        var (mechanism, reason) = Choose(spec, caps);
        var id = FaultLedger.NewId();
        string rules = mechanism == "Netem"
            ? string.Join('\n', devices.Select(d => "tc " + string.Join(' ', spec.NetemArgs(d))))
            : spec.NftScript(PacketFaultSpec.NftTableName(id), devices);
        return new Plan { Target = target, Spec = spec, Id = id, Mechanism = mechanism, MechanismReason = reason, Devices = devices, Rules = rules };
    }

    /// <summary>Picks netem or nftables for <paramref name="spec"/> on a kernel with <paramref name="caps"/>, or throws PacketFaultNotSupported naming what is missing.</summary>
    public static (string Mechanism, string Reason) Choose(PacketFaultSpec spec, PacketFaultCapabilities caps)
    {
        var nftCannot = spec.NftCannot();
        var netemCannot = spec.NetemCannot();
        bool netemFits = caps.Netem && netemCannot.Count == 0, nftFits = caps.Nftables && nftCannot.Count == 0;
        string kernel = $"this kernel: netem {(caps.Netem ? "available" : "missing")}, nftables {(caps.Nftables ? "available" : "missing")}";
        switch (spec.Mechanism)
        {
            case "Netem" when netemFits: return ("Netem", $"-Mechanism Netem; {kernel}");
            case "Nftables" when nftFits: return ("Nftables", $"-Mechanism Nftables; {kernel}");
            case "Auto" when netemFits: return ("Netem", $"netem is in the kernel and the request needs no filter or ingress; {kernel}");
            case "Auto" when nftFits: return ("Nftables", caps.Netem
                ? $"the request needs what netem cannot do ({string.Join("; ", netemCannot)}); {kernel}"
                : $"the kernel has no sch_netem ({caps.NetemDetail}); {kernel}");
        }
        var why = new List<string>();
        if (spec.Mechanism != "Nftables")
            why.Add(!caps.Netem ? $"netem is not available ({caps.NetemDetail})" : $"netem cannot do {string.Join("; ", netemCannot)}");
        if (spec.Mechanism != "Netem")
            why.Add(!caps.Nftables ? $"nftables is not available ({caps.NftablesDetail})" : $"nftables cannot do {string.Join("; ", nftCannot)}");
        throw new ChaosException("PacketFaultNotSupported", ChaosErrorCategory.InvalidOperation,
            $"No mechanism here can apply {spec.DescribeEffects()} on {spec.DescribeFilter()} ({spec.Direction}): {string.Join("; and ", why)}.", spec.DescribeEffects(),
            $"nftables does {PacketFaultSpec.NftCanDo}. netem does {PacketFaultSpec.NetemCanDo}; it needs a kernel with sch_netem.");
    }

    /// <summary>The undo steps of a plan: deleting ChaosPS's own table, or its own netem qdisc per device.</summary>
    public static List<UndoStep> UndoSteps(Plan plan) => plan.Mechanism == "Nftables"
        ? [PacketNftUndo.Step(plan.Target, plan.Table)]
        : plan.Devices.Select(d => PacketNetemUndo.Step(plan.Target, d)).ToList();

    /// <summary>Records the fault, then applies it. On failure the partial fault is undone and the error thrown.</summary>
    public static async Task<PacketFaultInfo> ApplyAsync(Plan plan, TimeSpan? duration, FaultLedger ledger, CancellationToken ct)
    {
        var record = ledger.Record(Kind, plan.Target.Display, plan.Describe(), duration, UndoSteps(plan), new Dictionary<string, string>
        {
            ["namespace"] = plan.Target.Path, ["namespaceId"] = plan.Target.NamespaceId, ["mechanism"] = plan.Mechanism, ["rules"] = plan.Rules,
        }, plan.Id);
        try
        {
            if (plan.Mechanism == "Nftables")
            {
                var r = await Shell.RunAsync("nsenter", [$"--net={plan.Target.Path}", "nft", "-f", "-"], plan.Rules, CancellationToken.None).ConfigureAwait(false);
                if (r.Code != 0) throw ApplyFailed(plan, r.Err + r.Out);
            }
            else
            {
                foreach (var d in plan.Devices)
                {
                    var r = await Shell.RunAsync("nsenter", [$"--net={plan.Target.Path}", "tc", .. plan.Spec.NetemArgs(d)], null, CancellationToken.None).ConfigureAwait(false);
                    if (r.Code != 0) throw ApplyFailed(plan, $"{d}: {r.Err + r.Out}" + (r.Err.Contains("Exclusivity", StringComparison.Ordinal) || r.Err.Contains("File exists", StringComparison.Ordinal)
                        ? " (the interface already has a root qdisc that is not ChaosPS's; ChaosPS does not replace it)" : ""));
                }
            }
        }
        catch
        {
            await ledger.RestoreAsync(record.Id, "cmdlet (apply failed)", CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        return Info<PacketFaultInfo>(plan, record.CreatedAt);
    }

    /// <summary>Applies the fault for <paramref name="duration"/> and undoes it (also on error and cancellation); reports the kernel's counters.</summary>
    public static async Task<PacketFaultResult> InvokeAsync(Plan plan, TimeSpan duration, FaultLedger ledger, IChaosReporter reporter, CancellationToken ct)
    {
        var info = await ApplyAsync(plan, duration, ledger, ct).ConfigureAwait(false);
        var started = DateTimeOffset.UtcNow;
        FaultRestoreResult restore;
        (long? Matched, long? Dropped, long? Duplicated) counters = (null, null, null);
        try
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (sw.Elapsed < duration && !ct.IsCancellationRequested)
            {
                var left = duration - sw.Elapsed;
                try { await Task.Delay(left < TimeSpan.FromMilliseconds(250) ? left : TimeSpan.FromMilliseconds(250), ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { break; }
                reporter.Progress(new ProgressInfo($"Packet fault {plan.Spec.DescribeEffects()} in {plan.Target.Display}",
                    $"{DurationParser.Format(sw.Elapsed)} of {DurationParser.Format(duration)}",
                    (int)Math.Min(100, 100 * sw.Elapsed.TotalMilliseconds / duration.TotalMilliseconds),
                    SecondsRemaining: (int)Math.Max(0, (duration - sw.Elapsed).TotalSeconds), ActivityId: 41));
            }
            counters = await CountersAsync(plan).ConfigureAwait(false);
        }
        finally
        {
            restore = await ledger.RestoreAsync(plan.Id, "cmdlet", CancellationToken.None).ConfigureAwait(false);
        }
        if (restore.Outcome == "Failed")
            reporter.Error(new ChaosException("PacketFaultRestoreFailed", ChaosErrorCategory.InvalidResult,
                $"The packet fault {plan.Id} in {plan.Target.Display} was not fully undone: {restore.Error}. The ledger keeps it; the watchdog retries.", plan.Id,
                $"Restore-ChaosFault -Id {plan.Id}"));
        ct.ThrowIfCancellationRequested();
        var r = Info<PacketFaultResult>(plan, info.CreatedAt, DateTimeOffset.UtcNow - started, counters, restore);
        return r;
    }

    private static T Info<T>(Plan plan, DateTimeOffset created, TimeSpan? duration = null, (long? M, long? D, long? Du) counters = default, FaultRestoreResult? restore = null)
        where T : PacketFaultInfo, new()
    {
        var cannot = plan.Mechanism == "Nftables" ? "delay, jitter, reordering, loss correlation, corruption, duplication on ingress" : "ingress, protocol/port/peer filters";
        var common = new T();
        if (common is PacketFaultResult)
        {
            return (T)(PacketFaultInfo)new PacketFaultResult
            {
                Id = plan.Id, Target = plan.Target.Display, Namespace = plan.Target.Path, NamespaceId = plan.Target.NamespaceId,
                Mechanism = plan.Mechanism, MechanismReason = plan.MechanismReason, CannotDo = cannot, Interfaces = plan.Devices,
                Direction = plan.Spec.Direction, Effects = plan.Spec.DescribeEffects(), Filter = plan.Spec.DescribeFilter(), Rules = plan.Rules, CreatedAt = created,
                Duration = duration ?? TimeSpan.Zero, PacketsMatched = counters.M, PacketsDropped = counters.D, PacketsDuplicated = counters.Du,
                Restore = restore?.Outcome ?? "", RestoreSteps = restore?.Steps ?? [],
            };
        }
        return (T)new PacketFaultInfo
        {
            Id = plan.Id, Target = plan.Target.Display, Namespace = plan.Target.Path, NamespaceId = plan.Target.NamespaceId,
            Mechanism = plan.Mechanism, MechanismReason = plan.MechanismReason, CannotDo = cannot, Interfaces = plan.Devices,
            Direction = plan.Spec.Direction, Effects = plan.Spec.DescribeEffects(), Filter = plan.Spec.DescribeFilter(), Rules = plan.Rules, CreatedAt = created,
        };
    }

    /// <summary>The plan a -WhatIf shows, as an object (nothing applied).</summary>
    public static PacketFaultInfo Preview(Plan plan) => Info<PacketFaultInfo>(plan, DateTimeOffset.UtcNow);

    /// <summary>(matched, dropped) from the kernel: nft counters of the fault chain, or the netem qdisc's statistics.</summary>
    public static async Task<(long? Matched, long? Dropped, long? Duplicated)> CountersAsync(Plan plan)
    {
        try
        {
            if (plan.Mechanism == "Nftables")
            {
                var r = await Shell.RunAsync("nsenter", [$"--net={plan.Target.Path}", "nft", "list", "table", "netdev", plan.Table], null, CancellationToken.None).ConfigureAwait(false);
                if (r.Code != 0) return (null, null, null);
                long dropped = 0, accepted = 0, duplicated = 0;
                foreach (var line in r.Out.Split('\n'))
                {
                    var m = Regex.Match(line, @"counter packets (\d+)");
                    if (!m.Success) continue;
                    var n = long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                    // In the fault chains: the numgen rule counts the lost packets, "counter accept" the ones let through.
                    if (line.Contains("numgen random", StringComparison.Ordinal) && line.Contains(" dup to ", StringComparison.Ordinal)) duplicated += n;
                    else if (line.Contains("numgen random", StringComparison.Ordinal)) dropped += n;
                    else if (line.Trim().StartsWith("counter packets", StringComparison.Ordinal) && line.TrimEnd().EndsWith("accept", StringComparison.Ordinal)) accepted += n;
                }
                return (dropped + accepted, plan.Spec.LossPercent is null ? 0 : dropped, plan.Spec.DuplicatePercent is null ? null : duplicated);
            }
            long sent = 0, drop = 0;
            foreach (var d in plan.Devices)
            {
                var r = await Shell.RunAsync("nsenter", [$"--net={plan.Target.Path}", "tc", "-s", "qdisc", "show", "dev", d], null, CancellationToken.None).ConfigureAwait(false);
                var m = Regex.Match(r.Out, @"qdisc netem 4350:.*?Sent \d+ bytes (\d+) pkt \(dropped (\d+)", RegexOptions.Singleline);
                if (!m.Success) return (null, null, null);
                sent += long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
                drop += long.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
            }
            return (sent + drop, drop, null);
        }
        catch (ChaosException) { return (null, null, null); }
    }

    private static ChaosException ApplyFailed(Plan plan, string why) => new("PacketFaultApplyFailed", ChaosErrorCategory.InvalidOperation,
        $"Could not apply the packet fault in {plan.Target.Display} via {plan.Mechanism}: {why.Trim()}", plan.Target.Display);
}
