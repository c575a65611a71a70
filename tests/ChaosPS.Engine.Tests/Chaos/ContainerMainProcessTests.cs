using ChaosPS.Chaos;

namespace ChaosPS.Engine.Tests.Chaos;

public class ContainerMainProcessTests
{
    private static ContainerMainProcess Main(bool init, ulong caught = 0, ulong ignored = 0) =>
        new() { Pid = 4242, NamespaceInit = init, Caught = caught, Ignored = ignored };

    private static ulong Bit(int signal) => 1UL << (signal - 1);

    [Fact]
    public void A_pid_1_without_a_handler_drops_TERM_but_not_KILL_or_STOP()
    {
        var m = Main(init: true);
        Assert.Contains("pid 1 of its pid namespace and has no handler for SIGTERM", m.Drops(15));
        Assert.NotNull(m.Drops(2));
        Assert.Null(m.Drops(9));
        Assert.Null(m.Drops(19));
    }

    [Fact]
    public void A_pid_1_with_a_handler_gets_the_signal() => Assert.Null(Main(init: true, caught: Bit(15)).Drops(15));

    [Fact]
    public void A_process_that_is_not_a_namespace_init_gets_the_default_action() => Assert.Null(Main(init: false).Drops(15));

    [Fact]
    public void A_process_that_ignores_the_signal_drops_it_wherever_it_runs()
    {
        Assert.Contains("SIG_IGN", Main(init: false, ignored: Bit(15)).Drops(15));
        Assert.Null(Main(init: false, ignored: Bit(15)).Drops(9));
    }

    [Fact]
    public void A_process_here_that_is_not_in_the_containers_cgroup_is_refused()
    {
        if (!OperatingSystem.IsLinux()) return;
        var t = new ChaosTarget { Kind = "Container", Name = "web", ContainerId = new string('a', 64) };
        var e = Assert.Throws<ChaosException>(() => ContainerMainProcess.Find(Environment.ProcessId, t.ContainerId!, t));
        Assert.Equal("ContainerProcessNotVisible", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.ResourceUnavailable, e.Category);
        Assert.Contains("not in the container's cgroup", e.Message);
        Assert.Contains("DockerKill", e.RecommendedAction);
    }
}
