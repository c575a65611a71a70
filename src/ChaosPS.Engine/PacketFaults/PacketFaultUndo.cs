using ChaosPS.Faults;

namespace ChaosPS.PacketFaults;

/// <summary>
/// Undo of an nftables packet fault: enter the namespace and delete ChaosPS's own table (nothing else). The namespace
/// is checked to be the one the fault went into (its net:[inode], and the owning process's start stamp), so a reused
/// pid never leads the watchdog into a stranger's namespace. A namespace or table that is gone counts as undone.
/// </summary>
public sealed class PacketNftUndo : IUndoHandler
{
    public string Action => "packet-nft-table";

    public static UndoStep Step(NetNamespaceTarget t, string table)
        => new("packet-nft-table", $"delete nft table netdev {table} in {t.Display}",
            ("ns", t.Path), ("nsid", t.NamespaceId), ("pid", t.Pid.ToString()), ("start", t.StartStamp ?? ""), ("table", table));

    public async Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        var path = await PacketUndoCommon.EnterableAsync(step, ct).ConfigureAwait(false);
        var table = step.Arg("table");
        if (!table.StartsWith("chaosps_", StringComparison.Ordinal)) throw new InvalidOperationException($"refusing to delete table '{table}': not ChaosPS's");
        var r = await Shell.RunAsync("nsenter", [$"--net={path}", "nft", "delete", "table", "netdev", table], null, ct).ConfigureAwait(false);
        if (r.Code == 0) return;
        if (r.Err.Contains("No such file or directory", StringComparison.Ordinal))
            throw new UndoTargetGoneException($"table {table} was already gone");
        throw new InvalidOperationException($"nft delete table netdev {table} failed: {r.Err.Trim()}");
    }
}

/// <summary>Undo of a netem packet fault: delete the root qdisc of one device, only when it is ChaosPS's netem (handle 4350:).</summary>
public sealed class PacketNetemUndo : IUndoHandler
{
    public string Action => "packet-netem-qdisc";

    public static UndoStep Step(NetNamespaceTarget t, string device)
        => new("packet-netem-qdisc", $"delete netem qdisc {PacketFaultSpec.NetemHandle} on {device} in {t.Display}",
            ("ns", t.Path), ("nsid", t.NamespaceId), ("pid", t.Pid.ToString()), ("start", t.StartStamp ?? ""), ("dev", device));

    public async Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        var path = await PacketUndoCommon.EnterableAsync(step, ct).ConfigureAwait(false);
        var dev = step.Arg("dev");
        var show = await Shell.RunAsync("nsenter", [$"--net={path}", "tc", "qdisc", "show", "dev", dev, "root"], null, ct).ConfigureAwait(false);
        if (show.Code != 0) throw new UndoTargetGoneException($"interface {dev} is gone");
        if (!show.Out.Contains("qdisc netem " + PacketFaultSpec.NetemHandle, StringComparison.Ordinal))
            throw new UndoTargetGoneException($"{dev} has no ChaosPS netem qdisc (already removed)");
        var r = await Shell.RunAsync("nsenter", [$"--net={path}", "tc", "qdisc", "del", "dev", dev, "root", "handle", PacketFaultSpec.NetemHandle], null, ct).ConfigureAwait(false);
        if (r.Code != 0) throw new InvalidOperationException($"tc qdisc del dev {dev} root failed: {r.Err.Trim()}");
    }
}

internal static class PacketUndoCommon
{
    /// <summary>The namespace path when it is still the namespace the fault went into; else UndoTargetGone.</summary>
    public static async Task<string> EnterableAsync(UndoStep step, CancellationToken ct)
    {
        var path = step.Arg("ns");
        int pid = int.Parse(step.Args.GetValueOrDefault("pid") ?? "0");
        var start = step.Args.GetValueOrDefault("start");
        if (pid > 0 && !ProcessIdentity.IsAlive(pid, string.IsNullOrEmpty(start) ? null : start))
            throw new UndoTargetGoneException($"process {pid} is gone, and its network namespace with the fault's rules");
        var id = await NetNamespaceTarget.IdentityAsync(path, ct).ConfigureAwait(false);
        if (id is null) throw new UndoTargetGoneException($"the network namespace {path} is gone");
        if (step.Args.GetValueOrDefault("nsid") is { Length: > 0 } want && want != id)
            throw new UndoTargetGoneException($"{path} is now another namespace ({id}, not {want}); the fault's namespace is gone");
        return path;
    }
}
