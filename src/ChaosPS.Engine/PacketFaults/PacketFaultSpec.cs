using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace ChaosPS.PacketFaults;

/// <summary>
/// What a packet fault does to the packets of one network namespace: loss (with correlation), delay (with jitter),
/// duplication, corruption, reordering, limited by direction, interface, protocol, port and peer. Percentages are
/// 0..100. <see cref="Validate"/> checks it before anything is changed; the renderers turn it into the exact tc or nft
/// commands (what -WhatIf shows is what runs).
/// </summary>
public sealed partial class PacketFaultSpec
{
    public double? LossPercent { get; set; }
    public double? LossCorrelation { get; set; }
    public TimeSpan? Delay { get; set; }
    public TimeSpan? Jitter { get; set; }
    public double? DuplicatePercent { get; set; }
    public double? CorruptPercent { get; set; }
    public double? ReorderPercent { get; set; }
    /// <summary>tcp, udp, icmp or null (any).</summary>
    public string? Protocol { get; set; }
    /// <summary>A TCP/UDP port, matched at either end of the packet (source or destination).</summary>
    public int? Port { get; set; }
    /// <summary>The other end: an address or a CIDR range (IPv4 or IPv6).</summary>
    public string? Peer { get; set; }
    /// <summary>Interfaces inside the namespace; null: every interface but lo.</summary>
    public string[]? Interfaces { get; set; }
    /// <summary>Egress (packets leaving through the interface; netem's only direction), Ingress or Both.</summary>
    public string Direction { get; set; } = "Egress";
    /// <summary>Auto, Netem or Nftables.</summary>
    public string Mechanism { get; set; } = "Auto";

    public bool HasFilter => Protocol is not null || Port is not null || Peer is not null;

    [GeneratedRegex("^[A-Za-z0-9_.:@-]{1,15}$")]
    private static partial Regex InterfaceName();

    /// <summary>Throws a ChaosException with a specific id for the first bad value; changes nothing.</summary>
    public void Validate()
    {
        CheckPercent(LossPercent, "LossPercent");
        CheckPercent(LossCorrelation, "LossCorrelation");
        CheckPercent(DuplicatePercent, "DuplicatePercent");
        CheckPercent(CorruptPercent, "CorruptPercent");
        CheckPercent(ReorderPercent, "ReorderPercent");
        if (LossPercent is null && Delay is null && DuplicatePercent is null && CorruptPercent is null && ReorderPercent is null)
            throw ChaosException.InvalidArgument("PacketFaultNoEffect",
                "A packet fault needs at least one effect: -LossPercent, -Delay, -DuplicatePercent, -CorruptPercent or -ReorderPercent.", null);
        if (LossCorrelation is not null && LossPercent is null)
            throw ChaosException.InvalidArgument("PacketFaultCorrelationWithoutLoss", "-LossCorrelation needs -LossPercent.", LossCorrelation);
        if (Delay is { } d && (d < TimeSpan.Zero || d > TimeSpan.FromMinutes(1)))
            throw ChaosException.InvalidArgument("InvalidPacketDelay", $"-Delay must be between 0 and 1 minute (got {d}).", d);
        if (Jitter is { } j && (j < TimeSpan.Zero || j > TimeSpan.FromMinutes(1)))
            throw ChaosException.InvalidArgument("InvalidPacketDelay", $"-Jitter must be between 0 and 1 minute (got {j}).", j);
        if (Jitter is not null && Delay is null)
            throw ChaosException.InvalidArgument("InvalidPacketDelay", "-Jitter needs -Delay.", Jitter);
        if (ReorderPercent is not null && (Delay is null || Delay == TimeSpan.Zero))
            throw ChaosException.InvalidArgument("PacketReorderWithoutDelay",
                "-ReorderPercent needs a -Delay greater than zero: netem reorders by sending some packets at once while the rest wait the delay.", ReorderPercent);
        if (Protocol is not null && Protocol.ToLowerInvariant() is not ("tcp" or "udp" or "icmp"))
            throw ChaosException.InvalidArgument("InvalidPacketProtocol", $"-Protocol must be Tcp, Udp or Icmp (got '{Protocol}').", Protocol);
        if (Port is { } p)
        {
            if (p is < 1 or > 65535) throw ChaosException.InvalidArgument("InvalidPacketPort", $"-Port must be 1..65535 (got {p}).", p);
            if (Protocol?.ToLowerInvariant() == "icmp") throw ChaosException.InvalidArgument("InvalidPacketPort", "-Port does not apply to ICMP.", p);
        }
        if (Peer is not null && ParsePeer(Peer) is null)
            throw ChaosException.InvalidArgument("InvalidPacketPeer", $"-Peer '{Peer}' is not an IP address or a CIDR range (198.18.0.2, 198.18.0.0/15, fd00::/8).", Peer);
        if (Interfaces is not null)
        {
            if (Interfaces.Length == 0) throw ChaosException.InvalidArgument("InvalidInterfaceName", "-Interface is empty.", null);
            foreach (var i in Interfaces)
                if (string.IsNullOrEmpty(i) || !InterfaceName().IsMatch(i))
                    throw ChaosException.InvalidArgument("InvalidInterfaceName", $"'{i}' is not an interface name (1-15 characters: letters, digits, _ . : @ -).", i);
        }
        if (Direction is not ("Egress" or "Ingress" or "Both"))
            throw ChaosException.InvalidArgument("InvalidPacketDirection", $"-Direction must be Egress, Ingress or Both (got '{Direction}').", Direction);
        if (Mechanism is not ("Auto" or "Netem" or "Nftables"))
            throw ChaosException.InvalidArgument("InvalidPacketMechanism", $"-Mechanism must be Auto, Netem or Nftables (got '{Mechanism}').", Mechanism);
    }

    private static void CheckPercent(double? v, string name)
    {
        if (v is { } x && (double.IsNaN(x) || x < 0 || x > 100))
            throw ChaosException.InvalidArgument("InvalidPacketPercent", $"-{name} must be a number from 0 to 100 (got {x.ToString(CultureInfo.InvariantCulture)}).", x);
    }

    /// <summary>(address, prefix length) or null when not an address/CIDR.</summary>
    internal static (IPAddress Address, int Prefix)? ParsePeer(string text)
    {
        var parts = text.Split('/');
        if (parts.Length > 2 || !IPAddress.TryParse(parts[0], out var a) || parts[0].Contains('%')) return null;
        int max = a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? 128 : 32;
        int prefix = max;
        if (parts.Length == 2 && (!int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > max)) return null;
        return (a, prefix);
    }

    /// <summary>What the effects are, in words (for the ledger and the result).</summary>
    public string DescribeEffects()
    {
        var parts = new List<string>();
        if (LossPercent is { } l) parts.Add($"loss {P(l)}%" + (LossCorrelation is { } c ? $" (correlation {P(c)}%)" : ""));
        if (Delay is { } d) parts.Add($"delay {Ms(d)}ms" + (Jitter is { } j ? $" ± {Ms(j)}ms" : ""));
        if (DuplicatePercent is { } du) parts.Add($"duplicate {P(du)}%");
        if (CorruptPercent is { } co) parts.Add($"corrupt {P(co)}%");
        if (ReorderPercent is { } re) parts.Add($"reorder {P(re)}%");
        return string.Join(", ", parts);
    }

    public string DescribeFilter()
    {
        var parts = new List<string>();
        if (Protocol is not null) parts.Add(Protocol.ToLowerInvariant());
        if (Port is { } p) parts.Add($"port {p}");
        if (Peer is not null) parts.Add($"peer {Peer}");
        return parts.Count == 0 ? "all packets" : string.Join(", ", parts);
    }

    internal static string P(double v) => v.ToString("0.##", CultureInfo.InvariantCulture);
    internal static string Ms(TimeSpan t) => t.TotalMilliseconds.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>The netem handle ChaosPS gives its root qdisc (hex 4350 = "CP"), so undo deletes only its own.</summary>
    public const string NetemHandle = "4350:";

    /// <summary>The tc arguments (after "tc") that apply the fault to one device with netem.</summary>
    public IReadOnlyList<string> NetemArgs(string device)
    {
        var a = new List<string> { "qdisc", "add", "dev", device, "root", "handle", NetemHandle, "netem" };
        if (Delay is { } d)
        {
            a.AddRange(["delay", Ms(d) + "ms"]);
            if (Jitter is { } j) a.Add(Ms(j) + "ms");
        }
        if (LossPercent is { } l)
        {
            a.AddRange(["loss", P(l) + "%"]);
            if (LossCorrelation is { } c) a.Add(P(c) + "%");
        }
        if (DuplicatePercent is { } du) a.AddRange(["duplicate", P(du) + "%"]);
        if (CorruptPercent is { } co) a.AddRange(["corrupt", P(co) + "%"]);
        if (ReorderPercent is { } re) a.AddRange(["reorder", P(re) + "%"]);
        return a;
    }

    /// <summary>The nftables table name for a fault id (nft identifiers: letters, digits, underscore).</summary>
    public static string NftTableName(string faultId) => "chaosps_" + Regex.Replace(faultId, "[^A-Za-z0-9_]", "_");

    /// <summary>The packet mark bit a duplicate carries while it passes the egress hook a second time.</summary>
    public const string DupMark = "0x40000000";
    private const string DupUnmark = "0xbfffffff";
    private static string Threshold(double percent) => ((int)Math.Round(percent * 100)).ToString(CultureInfo.InvariantCulture);

    /// <summary>The destination MAC a lost egress frame is rewritten to: locally administered, nobody's.</summary>
    public const string LostMac = "02:00:00:c4:a0:5c";

    /// <summary>
    /// The nft script (for nft -f -) that applies the fault: one table of ChaosPS's own in the netdev family, a base
    /// chain per interface and direction (hook egress/ingress), the filter jumping to a fault chain that holds the effect
    /// with counters. Ingress loss is a drop. Egress loss must not be a drop: the kernel reports a drop at the egress
    /// hook back to the sending socket, and TCP then just sends again at once (no loss, no retransmission) - so a lost
    /// egress frame leaves with its destination MAC rewritten to nobody's and the receiving side discards it, which
    /// is loss on the wire (interfaces without an Ethernet header fall back to a drop).
    /// </summary>
    public string NftScript(string table, IReadOnlyList<string> devices)
    {
        var hooks = Direction == "Both" ? new[] { "egress", "ingress" } : [Direction.ToLowerInvariant()];
        var sb = new StringBuilder();
        sb.Append("table netdev ").Append(table).Append(" {\n");
        int n = 0;
        foreach (var dev in devices)
        {
            foreach (var hook in HooksFor(dev, hooks))
            {
                sb.Append("  chain ").Append(hook).Append('_').Append(n).Append(" {\n");
                sb.Append("    type filter hook ").Append(hook).Append(" device \"").Append(dev).Append("\" priority -300; policy accept;\n");
                foreach (var match in NftMatches(hook == "egress" || (dev == "lo" && Direction != "Ingress")))
                    sb.Append("    ").Append(match.Length == 0 ? "" : match + " ").Append("jump fault_").Append(hook).Append('_').Append(n).Append('\n');
                sb.Append("  }\n");
            }
            n++;
        }
        var threshold = LossPercent is { } l ? Threshold(l) : null;
        n = 0;
        foreach (var dev in devices)
        {
            foreach (var hook in HooksFor(dev, hooks))
            {
                sb.Append("  chain fault_").Append(hook).Append('_').Append(n).Append(" {\n");
                // A duplicate goes through the egress hook again: the mark bit says it is one, so it is neither lost nor duplicated twice.
                if (DuplicatePercent is not null && hook == "egress")
                    sb.Append("    meta mark & ").Append(DupMark).Append(" == ").Append(DupMark).Append(" meta mark set meta mark & ").Append(DupUnmark).Append(" counter accept\n");
                if (threshold is not null)
                    sb.Append("    numgen random mod 10000 < ").Append(threshold).Append(hook == "egress" ? " counter goto lost\n" : " counter drop\n");
                if (DuplicatePercent is { } du && hook == "egress")
                    sb.Append("    numgen random mod 10000 < ").Append(Threshold(du)).Append(" counter meta mark set meta mark | ").Append(DupMark)
                      .Append(" dup to \"").Append(dev).Append("\" meta mark set meta mark & ").Append(DupUnmark).Append('\n');
                sb.Append("    counter accept\n");
                sb.Append("  }\n");
            }
            n++;
        }
        if (threshold is not null && devices.Any(d => HooksFor(d, hooks).Contains("egress")))
        {
            sb.Append("  chain lost {\n");
            sb.Append("    meta oiftype { ether, loopback } ether daddr set ").Append(LostMac).Append(" accept\n");
            sb.Append("    drop\n");
            sb.Append("  }\n");
        }
        sb.Append("}\n");
        return sb.ToString();
    }

    /// <summary>
    /// The hooks used on one device. On lo every packet that leaves comes straight back in, and its egress frame cannot
    /// be re-addressed (the payload write fails there), so loss on lo is a drop at lo's ingress: silent to the sender.
    /// </summary>
    private static string[] HooksFor(string device, string[] hooks) => device == "lo" ? ["ingress"] : hooks;

    /// <summary>The match part of each rule that leads to the fault chain (several rules: port at either end).</summary>
    internal IReadOnlyList<string> NftMatches(bool egress)
    {
        var common = new List<string>();
        if (Peer is not null)
        {
            var (a, prefix) = ParsePeer(Peer)!.Value;
            var v6 = a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            common.Add($"{(v6 ? "ip6" : "ip")} {(egress ? "daddr" : "saddr")} {a}{(prefix == (v6 ? 128 : 32) ? "" : "/" + prefix)}");
        }
        var proto = Protocol?.ToLowerInvariant();
        if (proto == "icmp") common.Add("meta l4proto { icmp, ipv6-icmp }");
        else if (proto is not null) common.Add($"meta l4proto {proto}");
        else if (Port is not null) common.Add("meta l4proto { tcp, udp }");
        var head = string.Join(' ', common);
        if (Port is not { } port) return [head];
        return [$"{head} th dport {port}".Trim(), $"{head} th sport {port}".Trim()];
    }

    /// <summary>What the nftables path cannot do for this request, or an empty list.</summary>
    public IReadOnlyList<string> NftCannot()
    {
        var c = new List<string>();
        if (Delay is not null) c.Add("delay (nftables has no delay: a rule decides a packet's fate at once)");
        if (Jitter is not null) c.Add("jitter (needs delay)");
        if (ReorderPercent is not null) c.Add("reordering (needs delay)");
        if (LossCorrelation is not null) c.Add("loss correlation (nft's numgen draws each packet independently)");
        if (DuplicatePercent is not null && Direction != "Egress") c.Add("duplication on ingress (nft's dup sends the copy out of the interface)");
        if (DuplicatePercent is not null && Interfaces?.Contains("lo") == true) c.Add("duplication on lo (its faults are applied where packets come back in)");
        if (CorruptPercent is not null) c.Add("corruption (not built on the nftables path)");
        return c;
    }

    /// <summary>What the netem path cannot do for this request, or an empty list.</summary>
    public IReadOnlyList<string> NetemCannot()
    {
        var c = new List<string>();
        if (Direction != "Egress") c.Add($"direction {Direction} (netem shapes what leaves an interface only)");
        if (HasFilter) c.Add("a protocol/port/peer filter (netem applies to the whole interface here)");
        return c;
    }

    /// <summary>Capabilities of each mechanism, for results and help.</summary>
    public const string NftCanDo = "loss (independent per packet) and duplication (egress), by direction, interface, protocol, port and peer; no delay, jitter, reordering, correlation or corruption";
    public const string NetemCanDo = "loss with correlation, delay with jitter, duplication, corruption, reordering, on everything leaving an interface; no ingress, no filter";
}
