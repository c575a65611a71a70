using ChaosPS.Chaos;

namespace ChaosPS.Engine.Tests.Chaos;

/// <summary>Get-ChaosTarget's process selection against the real process table: by pid, command-line pattern, regex and listening port.</summary>
public sealed class TargetSelectorTests
{
    [Fact]
    public void Selecting_by_pid_finds_that_process_and_reports_an_unknown_pid_as_missing()
    {
        using var child = ChildProcess.Sleep("641.5");
        var missing = new List<string>();
        int unknown = int.MaxValue - 7; // above any pid_max
        var found = TargetSelector.SelectProcesses(new TargetQuery { Id = [child.Pid.ToString(), unknown.ToString()] }, missing);

        var t = Assert.Single(found);
        Assert.Equal(child.Pid, t.ProcessId);
        Assert.Equal("sleep", t.Name);
        Assert.Equal("sleep 641.5", t.CommandLine);
        Assert.NotNull(t.StartStamp);
        Assert.True(t.ProcessAlive);
        Assert.Null(t.ProtectedReason);
        Assert.Equal([$"process {unknown}"], missing);
    }

    [Fact]
    public void A_pid_that_is_not_a_number_is_refused_with_InvalidProcessId()
    {
        var e = Assert.Throws<ChaosException>(() => TargetSelector.SelectProcesses(new TargetQuery { Id = ["12ab"] }, []));
        Assert.Equal("InvalidProcessId", e.ErrorId);
        Assert.Equal("InvalidProcessId", Assert.Throws<ChaosException>(() => TargetSelector.SelectProcesses(new TargetQuery { Id = ["-3"] }, [])).ErrorId);
    }

    [Fact]
    public void Selecting_by_command_line_wildcard_finds_only_the_matching_children()
    {
        using var a = ChildProcess.Sleep("642.125");
        using var b = ChildProcess.Sleep("642.250");
        using var other = ChildProcess.Sleep("643.5");
        var found = TargetSelector.SelectProcesses(new TargetQuery { CommandLine = "sleep 642.*" }, []);
        Assert.Equal(new[] { a.Pid, b.Pid }.Order(), found.Select(t => t.ProcessId!.Value).Order());

        // The wildcard covers the whole command line (anchored), case-insensitively.
        Assert.Empty(TargetSelector.SelectProcesses(new TargetQuery { CommandLine = "642.125" }, []));
        Assert.Equal(a.Pid, Assert.Single(TargetSelector.SelectProcesses(new TargetQuery { CommandLine = "SLEEP 642.125" }, [])).ProcessId);
    }

    [Fact]
    public void Name_and_command_line_criteria_are_anded()
    {
        using var child = ChildProcess.Sleep("644.5");
        Assert.Single(TargetSelector.SelectProcesses(new TargetQuery { Name = ["sleep"], CommandLine = "*644.5" }, []));
        Assert.Empty(TargetSelector.SelectProcesses(new TargetQuery { Name = ["sh"], CommandLine = "*644.5" }, []));
        Assert.Single(TargetSelector.SelectProcesses(new TargetQuery { Regex = @"^sleep 644\.5$" }, []));
    }

    [Fact]
    public void A_missing_plain_name_is_reported_but_a_wildcard_that_matches_nothing_is_not()
    {
        var missing = new List<string>();
        var name = "no-such-proc-" + Guid.NewGuid().ToString("N")[..6];
        Assert.Empty(TargetSelector.SelectProcesses(new TargetQuery { Name = [name, name + "*"] }, missing));
        Assert.Equal([$"process named '{name}'"], missing);
    }

    [Fact]
    public void Selecting_by_port_finds_the_listening_process_and_marks_this_process_protected()
    {
        using var server = TestServer.Echo();
        var missing = new List<string>();
        var t = Assert.Single(TargetSelector.SelectProcesses(new TargetQuery { Port = [server.Port] }, missing));
        Assert.Equal(Environment.ProcessId, t.ProcessId);
        Assert.Contains(server.Port, t.Ports);
        Assert.Equal("this PowerShell process", t.ProtectedReason);
        Assert.Empty(missing);

        int closed = TestServer.FreePort();
        Assert.Empty(TargetSelector.SelectProcesses(new TargetQuery { Port = [closed] }, missing));
        Assert.Equal([$"process listening on port {closed}"], missing);
    }

    [Fact]
    public void A_pattern_never_selects_this_process()
    {
        var self = ProcessTable.Read(Environment.ProcessId)!;
        Assert.DoesNotContain(TargetSelector.SelectProcesses(new TargetQuery { Name = [self.Name] }, []), t => t.ProcessId == Environment.ProcessId);
    }

    [Fact]
    public void Process_by_pid_is_null_for_a_gone_process_and_protects_pid_1()
    {
        int pid;
        using (var child = ChildProcess.Sleep("645.5")) pid = child.Pid;
        Assert.Null(TargetSelector.Process(pid));
        Assert.Equal("PID 1 (init)", TargetSelector.ProtectionOf(1, "whatever"));
        Assert.StartsWith("the container engine", TargetSelector.ProtectionOf(4242, "dockerd"));
    }

    [Fact]
    public void The_same_worker_is_found_by_worker_id_within_its_testbed_else_by_whole_command_line()
    {
        var w = new ProcInfo(100, 1, "dotnet", "dotnet /x/chaosps-testbed.dll worker --testbed t1 --id w1 --port 5000", 'S', "1");
        Assert.True(TargetSelector.IsSameWorker(w, "w1", "dotnet /x/chaosps-testbed.dll worker --testbed t1 --id w1 --port 4000", "dotnet"));
        Assert.False(TargetSelector.IsSameWorker(w, "w1", "dotnet /x/chaosps-testbed.dll worker --testbed t2 --id w1 --port 4000", "dotnet"));
        Assert.False(TargetSelector.IsSameWorker(w, "w2", "dotnet /x/chaosps-testbed.dll worker --testbed t1 --id w2", "dotnet"));
        var s = new ProcInfo(101, 1, "sleep", "sleep 600", 'S', "1");
        Assert.True(TargetSelector.IsSameWorker(s, null, "sleep 600", "sleep"));
        Assert.False(TargetSelector.IsSameWorker(s, null, "sleep 601", "sleep"));
        Assert.True(TargetSelector.IsSameWorker(s, null, null, "sleep"));
    }
}
