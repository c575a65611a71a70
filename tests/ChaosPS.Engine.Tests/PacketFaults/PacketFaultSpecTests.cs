using ChaosPS.Faults;
using ChaosPS.PacketFaults;

namespace ChaosPS.Engine.Tests.PacketFaults;

public sealed class PacketFaultSpecTests
{
    private static ChaosException Refused(PacketFaultSpec s) => Assert.Throws<ChaosException>(s.Validate);

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(-0.01)]
    [InlineData(100.01)]
    [InlineData(double.PositiveInfinity)]
    public void Percent_outside_0_to_100_or_NaN_is_refused(double v)
    {
        Assert.Equal("InvalidPacketPercent", Refused(new PacketFaultSpec { LossPercent = v }).ErrorId);
        Assert.Equal("InvalidPacketPercent", Refused(new PacketFaultSpec { LossPercent = 5, LossCorrelation = v }).ErrorId);
        Assert.Equal("InvalidPacketPercent", Refused(new PacketFaultSpec { DuplicatePercent = v }).ErrorId);
    }

    [Fact]
    public void Other_bad_values_have_their_own_ids()
    {
        Assert.Equal("PacketFaultNoEffect", Refused(new PacketFaultSpec()).ErrorId);
        Assert.Equal("InvalidPacketPort", Refused(new PacketFaultSpec { LossPercent = 1, Port = 70000 }).ErrorId);
        Assert.Equal("InvalidPacketPeer", Refused(new PacketFaultSpec { LossPercent = 1, Peer = "198.18.0.0/33" }).ErrorId);
        Assert.Equal("InvalidInterfaceName", Refused(new PacketFaultSpec { LossPercent = 1, Interfaces = ["eth0\"; flush ruleset"] }).ErrorId);
        Assert.Equal("InvalidPacketDelay", Refused(new PacketFaultSpec { Jitter = TimeSpan.FromMilliseconds(5), LossPercent = 1 }).ErrorId);
        Assert.Equal("PacketReorderWithoutDelay", Refused(new PacketFaultSpec { ReorderPercent = 5 }).ErrorId);
    }

    [Fact]
    public void Nft_script_is_one_own_table_with_filter_counters_and_wire_loss_on_egress()
    {
        var s = new PacketFaultSpec { LossPercent = 30, Protocol = "udp", Port = 9000, Peer = "198.18.0.2" };
        s.Validate();
        var script = s.NftScript("chaosps_f1", ["veth0"]);
        Assert.StartsWith("table netdev chaosps_f1 {", script);
        Assert.Contains("type filter hook egress device \"veth0\" priority -300; policy accept;", script);
        Assert.Contains("ip daddr 198.18.0.2 meta l4proto udp th dport 9000 jump fault_egress_0", script);
        Assert.Contains("ip daddr 198.18.0.2 meta l4proto udp th sport 9000 jump fault_egress_0", script);
        Assert.Contains("numgen random mod 10000 < 3000 counter goto lost", script);
        Assert.Contains($"ether daddr set {PacketFaultSpec.LostMac} accept", script);
        Assert.DoesNotContain("flush", script);
        var ingress = new PacketFaultSpec { LossPercent = 12.5, Direction = "Ingress", Peer = "fd00::/8" }.NftScript("chaosps_f2", ["lo"]);
        Assert.Contains("ip6 saddr fd00::/8 jump fault_ingress_0", ingress);
        Assert.Contains("numgen random mod 10000 < 1250 counter drop", ingress);
        var dup = new PacketFaultSpec { DuplicatePercent = 20 }.NftScript("chaosps_f3", ["veth0"]);
        Assert.Contains("meta mark & 0x40000000 == 0x40000000 meta mark set meta mark & 0xbfffffff counter accept", dup);
        Assert.Contains("numgen random mod 10000 < 2000 counter meta mark set meta mark | 0x40000000 dup to \"veth0\" meta mark set meta mark & 0xbfffffff", dup);
        Assert.DoesNotContain("chain lost", dup);
        var lo = new PacketFaultSpec { LossPercent = 30, Peer = "127.0.0.2" }.NftScript("chaosps_f4", ["lo"]);
        Assert.Contains("type filter hook ingress device \"lo\"", lo);
        Assert.Contains("ip daddr 127.0.0.2 jump fault_ingress_0", lo);
        Assert.DoesNotContain("hook egress", lo);
        Assert.Equal("chaosps_f261129_0a1b2c", PacketFaultSpec.NftTableName("f261129-0a1b2c"));
    }

    [Fact]
    public void Mechanism_choice_says_what_it_cannot_do()
    {
        var noNetem = new PacketFaultCapabilities { Netem = false, NetemDetail = "tc: unknown qdisc", Nftables = true };
        var (m, why) = PacketFaultEngine.Choose(new PacketFaultSpec { LossPercent = 30 }, noNetem);
        Assert.Equal("Nftables", m);
        Assert.Contains("no sch_netem", why);
        var e = Assert.Throws<ChaosException>(() => PacketFaultEngine.Choose(new PacketFaultSpec { Delay = TimeSpan.FromMilliseconds(100) }, noNetem));
        Assert.Equal("PacketFaultNotSupported", e.ErrorId);
        Assert.Contains("no delay", e.Message);

        Assert.Equal("Nftables", PacketFaultEngine.Choose(new PacketFaultSpec { DuplicatePercent = 5 }, noNetem).Mechanism);
        Assert.Equal("PacketFaultNotSupported", Assert.Throws<ChaosException>(() =>
            PacketFaultEngine.Choose(new PacketFaultSpec { DuplicatePercent = 5, Direction = "Ingress" }, noNetem)).ErrorId);
        Assert.Equal("PacketFaultNotSupported", Assert.Throws<ChaosException>(() =>
            PacketFaultEngine.Choose(new PacketFaultSpec { CorruptPercent = 5 }, noNetem)).ErrorId);

        var both = new PacketFaultCapabilities { Netem = true, Nftables = true };
        Assert.Equal("Netem", PacketFaultEngine.Choose(new PacketFaultSpec { LossPercent = 30 }, both).Mechanism);
        Assert.Equal("Nftables", PacketFaultEngine.Choose(new PacketFaultSpec { LossPercent = 30, Port = 53 }, both).Mechanism);
        Assert.Equal("PacketFaultNotSupported", Assert.Throws<ChaosException>(() =>
            PacketFaultEngine.Choose(new PacketFaultSpec { Delay = TimeSpan.FromMilliseconds(5), Port = 53 }, both)).ErrorId);
        Assert.Equal("tc qdisc add dev eth0 root handle 4350: netem delay 100ms 10ms loss 5% 25% duplicate 1%",
            "tc " + string.Join(' ', new PacketFaultSpec { Delay = TimeSpan.FromMilliseconds(100), Jitter = TimeSpan.FromMilliseconds(10), LossPercent = 5, LossCorrelation = 25, DuplicatePercent = 1 }.NetemArgs("eth0")));
    }

    [Fact]
    public void Undo_steps_are_known_to_the_ledger_so_the_watchdog_can_run_them()
    {
        Assert.True(UndoExecutor.IsKnown("packet-nft-table"));
        Assert.True(UndoExecutor.IsKnown("packet-netem-qdisc"));
    }
}
