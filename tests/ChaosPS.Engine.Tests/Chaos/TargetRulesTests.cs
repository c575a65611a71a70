using ChaosPS.Chaos;

namespace ChaosPS.Engine.Tests.Chaos;

public class TargetRulesTests
{
    private static ChaosTarget Proc(int pid, string? protectedReason = null)
        => new() { Kind = "Process", Name = "worker", ProcessId = pid, ProtectedReason = protectedReason };

    private static ChaosTarget Container(string id)
        => new() { Kind = "Container", Name = "c" + id, ContainerId = id };

    [Fact]
    public void A_protected_target_is_refused_without_force_in_the_acting_and_the_selecting_wording()
    {
        var t = Proc(1, "PID 1 (init)");
        var e = TargetRules.Refusal(t, force: false);
        Assert.NotNull(e);
        Assert.Equal("ProtectedTarget", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.PermissionDenied, e.Category);
        Assert.Equal("process 1 (worker) is protected (PID 1 (init)).", e.Message);
        Assert.Equal("Use -Force.", e.RecommendedAction);

        var s = TargetRules.Refusal(t, force: false, selecting: true)!;
        Assert.Equal("process 1 (worker) is protected (PID 1 (init)) and was not selected.", s.Message);
        Assert.Equal("Use -Force to select it anyway.", s.RecommendedAction);

        Assert.Null(TargetRules.Refusal(t, force: true));
        Assert.Null(TargetRules.Refusal(Proc(4242), force: false));
    }

    [Fact]
    public void Count_and_percent_exclude_each_other()
    {
        Assert.Equal("CountAndPercent", Assert.Throws<ChaosException>(() => TargetRules.CheckCountOrPercent(1, 50)).ErrorId);
        TargetRules.CheckCountOrPercent(1, null);
        TargetRules.CheckCountOrPercent(null, 50);
        TargetRules.CheckCountOrPercent(null, null);
    }

    [Fact]
    public void The_pick_key_sorts_pids_numerically_and_uses_container_ids()
    {
        Assert.Equal("0000000042", TargetRules.PickKey(Proc(42)));
        Assert.Equal("abc123", TargetRules.PickKey(Container("abc123")));
        Assert.True(string.CompareOrdinal(TargetRules.PickKey(Proc(9)), TargetRules.PickKey(Proc(10))) < 0);
    }

    [Fact]
    public void The_same_seed_picks_the_same_targets_whatever_order_they_came_in()
    {
        var set = Enumerable.Range(100, 20).Select(p => Proc(p)).ToList();
        var a = TargetRules.Pick(set, 5, null, seed: 7).Select(t => t.ProcessId);
        var b = TargetRules.Pick(Enumerable.Reverse(set).ToList(), 5, null, seed: 7).Select(t => t.ProcessId);
        Assert.Equal(a, b);
        Assert.Equal(5, a.Count());
        Assert.Equal(3, TargetRules.Pick(set, null, 11, seed: 1).Count); // 11% of 20 = 2.2, rounded up
        Assert.Equal(20, TargetRules.Pick(set, null, null, seed: null).Count);
        Assert.Equal(20, TargetRules.Pick(set, 50, null, seed: 1).Count);
    }

    [Theory]
    [InlineData(null, null, 10, 1)]
    [InlineData(3, null, 10, 3)]
    [InlineData(null, 25.0, 10, 3)]
    [InlineData(null, 1.0, 10, 1)]
    [InlineData(null, 0.0, 10, 1)]
    public void A_monkey_round_crashes_count_or_percent_or_one(int? count, double? percent, int targets, int expected)
        => Assert.Equal(expected, TargetRules.PerRound(count, percent, targets));

    [Fact]
    public void Crash_timing_needs_interval_and_duration_together_and_positive()
    {
        var ten = TimeSpan.FromSeconds(10);
        TargetRules.CheckCrashTiming(null, null, null, ten);
        TargetRules.CheckCrashTiming(TimeSpan.FromSeconds(1), ten, TimeSpan.FromMinutes(1), ten);
        Assert.Equal("IntervalNeedsDuration", Assert.Throws<ChaosException>(() => TargetRules.CheckCrashTiming(null, ten, null, ten)).ErrorId);
        Assert.Equal("IntervalNeedsDuration", Assert.Throws<ChaosException>(() => TargetRules.CheckCrashTiming(null, null, ten, ten)).ErrorId);
        Assert.Equal("InvalidDuration", Assert.Throws<ChaosException>(() => TargetRules.CheckCrashTiming(null, TimeSpan.Zero, ten, ten)).ErrorId);
        Assert.Equal("InvalidDuration", Assert.Throws<ChaosException>(() => TargetRules.CheckCrashTiming(TimeSpan.FromSeconds(-1), null, null, ten)).ErrorId);
    }

    [Fact]
    public void A_query_must_fit_its_kind_and_select_something()
    {
        Assert.Equal("Container", TargetQuery.DefaultKind(null, ["app=web"]));
        Assert.Equal("Process", TargetQuery.DefaultKind(null, null));
        Assert.Equal("Process", TargetQuery.DefaultKind("Process", ["app=web"]));

        Assert.Equal("LabelNeedsContainer", Assert.Throws<ChaosException>(() => new TargetQuery { Kind = "Process", Label = ["a"] }.Validate(false)).ErrorId);
        Assert.Equal("NotAContainerCriterion", Assert.Throws<ChaosException>(() => new TargetQuery { Kind = "Container", Port = [80] }.Validate(false)).ErrorId);
        Assert.Equal("NotAContainerCriterion", Assert.Throws<ChaosException>(() => new TargetQuery { Kind = "Container", CommandLine = "*x*" }.Validate(false)).ErrorId);
        Assert.Equal("NoTargetSelector", Assert.Throws<ChaosException>(() => new TargetQuery().Validate(piped: false)).ErrorId);
        new TargetQuery().Validate(piped: true);
        new TargetQuery { Kind = "Container", Label = ["a"] }.Validate(false);
        new TargetQuery { Name = ["w*"] }.Validate(false);
    }

    [Fact]
    public void A_bad_regex_is_refused_with_its_text()
    {
        var e = Assert.Throws<ChaosException>(() => TargetQuery.CheckRegex("(("));
        Assert.Equal("InvalidRegex", e.ErrorId);
        Assert.StartsWith("-Regex '((' is not a valid regular expression: ", e.Message);
        TargetQuery.CheckRegex("^w.*");
        TargetQuery.CheckRegex(null);
    }

    [Fact]
    public void Oom_limits_are_checked_before_anything_changes()
    {
        var minute = TimeSpan.FromMinutes(1);
        new OomKiller.Options(null, OomKiller.DefaultHeadroom, minute).Validate();
        new OomKiller.Options(6L << 20, 1L << 20, minute).Validate();
        var small = Assert.Throws<ChaosException>(() => new OomKiller.Options(1L << 20, OomKiller.DefaultHeadroom, minute).Validate());
        Assert.Equal("LimitTooSmall", small.ErrorId);
        Assert.Equal("-Limit must be at least 6MB (the Docker engine's minimum).", small.Message);
        Assert.Equal("HeadroomTooSmall", Assert.Throws<ChaosException>(() => new OomKiller.Options(null, (1L << 20) - 1, minute).Validate()).ErrorId);
        Assert.Equal("InvalidDuration", Assert.Throws<ChaosException>(() => new OomKiller.Options(null, OomKiller.DefaultHeadroom, TimeSpan.Zero).Validate()).ErrorId);
    }

    [Fact]
    public void A_probe_endpoint_is_host_port_on_this_machine_unless_allowed()
    {
        Assert.Equal(("127.0.0.1", 8080), InputRules.ProbeEndpoint("127.0.0.1:8080", "TcpEndpoint", false));
        Assert.Equal(("::1", 80), InputRules.ProbeEndpoint("[::1]:80", "TcpEndpoint", false));
        Assert.Equal(("localhost", 80), InputRules.ProbeEndpoint("localhost:80", "TcpEndpoint", false));
        var far = Assert.Throws<ChaosException>(() => InputRules.ProbeEndpoint("192.0.2.1:80", "TcpEndpoint", false));
        Assert.Equal("NonLoopbackTarget", far.ErrorId);
        Assert.Equal("-TcpEndpoint '192.0.2.1:80' is not on this machine; add -AllowNonLoopback to probe it.", far.Message);
        Assert.Equal(("192.0.2.1", 80), InputRules.ProbeEndpoint("192.0.2.1:80", "TcpEndpoint", true));
        Assert.Equal("InvalidEndpoint", Assert.Throws<ChaosException>(() => InputRules.ProbeEndpoint("nohost", "TcpEndpoint", true)).ErrorId);
    }

    [Theory]
    [InlineData("DockerKill", false, true, "-GracePeriod")]
    [InlineData("dockerkill", false, true, "-GracePeriod")]
    [InlineData("DockerStop", true, false, "-Signal")]
    [InlineData("DockerRestart", true, true, "-Signal")]
    public void A_container_action_warns_about_what_it_ignores(string action, bool signal, bool grace, string named)
        => Assert.Contains(named, Assert.Single(Crasher.IgnoredForContainers(action, signal, grace)));

    [Theory]
    [InlineData("Signal", true, true)]
    [InlineData("DockerKill", true, false)]
    [InlineData("DockerStop", false, true)]
    public void Nothing_ignored_means_no_warning(string action, bool signal, bool grace)
        => Assert.Empty(Crasher.IgnoredForContainers(action, signal, grace));

    private static ProcInfo Worker(int pid, string id, string testbed)
        => new(pid, 1, "dotnet", $"/usr/bin/dotnet /x/chaosps-testbed.dll worker --id {id} --port 4000 --testbed {testbed} --data /d", 'S', "1");

    [Fact]
    public void A_worker_comes_back_only_as_the_same_worker_of_the_same_target_system()
    {
        var crashed = Worker(10, "w1", "tA").CommandLine;
        Assert.True(TargetSelector.IsSameWorker(Worker(11, "w1", "tA"), "w1", crashed, "dotnet"));
        // Every embedded system has a w1: another system's w1 is not this one back (it made a never-restarting target look recovered).
        Assert.False(TargetSelector.IsSameWorker(Worker(12, "w1", "tB"), "w1", crashed, "dotnet"));
        Assert.False(TargetSelector.IsSameWorker(Worker(13, "w2", "tA"), "w1", crashed, "dotnet"));
        // Any other process: by its whole command line, else by name.
        var other = new ProcInfo(14, 1, "nginx", "nginx: worker process", 'S', "1");
        Assert.True(TargetSelector.IsSameWorker(other, null, "nginx: worker process", "nginx"));
        Assert.False(TargetSelector.IsSameWorker(other, null, "nginx: master process", "nginx"));
        Assert.True(TargetSelector.IsSameWorker(other, null, null, "nginx"));
    }
}
