using ChaosPS.Chaos;

namespace ChaosPS.Engine.Tests.Chaos;

/// <summary>Invoke-WorkerCrash's engine against real `sleep` children and real signals.</summary>
public sealed class CrasherTests
{
    private static readonly TimeSpan Observe = TimeSpan.FromSeconds(30);

    private static Crasher.Options Signal(string signal, TimeSpan? grace = null, TimeSpan? observe = null)
        => new(signal, grace, "Signal", observe ?? Observe, null);

    [Theory]
    // Every state the crashers and the OOM killer write: the target still running (or stopped with the signal pending)
    // means the crash did not take; an exit, a restart, a removal or a container status after an exit means it did.
    [InlineData("running (state S; it handled or ignored SIGTERM)", true)]
    [InlineData("running (it handled or ignored SIGTERM)", true)]
    [InlineData("running (it never got SIGTERM)", true)]
    [InlineData("running (SIGKILL did not end it within 10s)", true)]
    [InlineData("stopped (signal pending)", true)]
    [InlineData("still running after 30s", true)]
    [InlineData("exited", false)]
    [InlineData("restarted", false)]
    [InlineData("restarting", false)]
    [InlineData("removed", false)]
    [InlineData("OOM-killed", false)]
    [InlineData("OOM-killed; now running", false)]
    [InlineData("running", false)]
    public void Survived_reads_the_observed_state(string state, bool survived)
        => Assert.Equal(survived, new CrashResult { ObservedState = state }.Survived);

    [Fact]
    public async Task Sigkill_ends_a_sleep_and_the_result_says_so()
    {
        using var child = ChildProcess.Sleep("621.5");
        var t = child.Target();
        var r = await Crasher.CrashAsync(t, Signal("KILL"), NullReporter.Instance, CancellationToken.None);

        Assert.True(child.WaitForExit(Observe));
        Assert.Equal("exited", r.ObservedState);
        Assert.Equal("Signal", r.Action);
        Assert.Equal("KILL", r.Signal);
        Assert.Equal(child.Pid, r.ProcessId);
        Assert.Equal("Process", r.Kind);
        Assert.Equal("sleep", r.Name);
        Assert.Equal(t.CommandLine, r.CommandLine);
        Assert.False(r.ForcedKill);
        Assert.NotNull(r.TimeToExit);
        // The exit code is read from /proc while the process is a zombie; this process may reap it first.
        if (r.ExitCode is { } code) Assert.Equal(128 + 9, code);
        Assert.False(t.ProcessAlive);
    }

    [Fact]
    public async Task Sigterm_with_a_grace_period_ends_a_sleep_without_sigkill()
    {
        using var child = ChildProcess.Sleep("622.5");
        var rep = new RecordingReporter();
        var r = await Crasher.CrashAsync(child.Target(), Signal("TERM", grace: TimeSpan.FromSeconds(20)), rep, CancellationToken.None);

        Assert.True(child.WaitForExit(Observe));
        Assert.Equal("exited", r.ObservedState);
        Assert.Equal("TermThenKill", r.Action);
        Assert.Equal("TERM", r.Signal);
        Assert.False(r.ForcedKill, "a sleep that obeys SIGTERM was SIGKILLed");
        Assert.Empty(rep.Verboses);
        if (r.ExitCode is { } code) Assert.Equal(128 + 15, code);
    }

    [Fact]
    public async Task A_child_that_ignores_sigterm_is_killed_after_the_grace_period()
    {
        using var child = ChildProcess.TermIgnoringSleep("623.5");
        var grace = TimeSpan.FromSeconds(1);
        var rep = new RecordingReporter();
        var r = await Crasher.CrashAsync(child.Target(), Signal("TERM", grace: grace), rep, CancellationToken.None);

        Assert.True(child.WaitForExit(Observe));
        Assert.Equal("exited", r.ObservedState);
        Assert.True(r.ForcedKill, "the TERM-ignoring child was not forced");
        Assert.NotNull(r.TimeToExit);
        Assert.True(r.TimeToExit >= grace, $"it exited after {r.TimeToExit}, before the {grace} grace period was over");
        Assert.Contains(rep.Verboses, v => v.Contains("grace period") && v.Contains("SIGKILL"));
        if (r.ExitCode is { } code) Assert.Equal(128 + 9, code);
    }

    [Fact]
    public async Task Sigterm_without_a_grace_period_leaves_a_term_ignoring_child_running_and_says_so()
    {
        using var child = ChildProcess.TermIgnoringSleep("624.5");
        var r = await Crasher.CrashAsync(child.Target(), Signal("TERM", observe: TimeSpan.FromSeconds(1)), NullReporter.Instance, CancellationToken.None);

        Assert.False(child.HasExited);
        Assert.StartsWith("running", r.ObservedState);
        Assert.Contains("SIGTERM", r.ObservedState);
        Assert.False(r.ForcedKill);
        Assert.Null(r.TimeToExit);
        Assert.Null(r.ExitCode);
    }

    [Fact]
    public async Task A_process_that_is_gone_is_refused_with_TargetNotFound()
    {
        ChaosTarget t;
        using (var child = ChildProcess.Sleep("625.5")) t = child.Target();
        var e = await Assert.ThrowsAsync<ChaosException>(() => Crasher.CrashAsync(t, Signal("KILL"), NullReporter.Instance, CancellationToken.None));
        Assert.Equal("TargetNotFound", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.ObjectNotFound, e.Category);
    }

    [Fact]
    public async Task CrashAll_crashes_every_target_and_reports_a_gone_one_as_an_error_without_stopping()
    {
        using var a = ChildProcess.Sleep("626.5");
        using var b = ChildProcess.Sleep("626.75");
        ChaosTarget gone;
        using (var c = ChildProcess.Sleep("626.875")) gone = c.Target();
        var rep = new RecordingReporter();
        var results = await Crasher.CrashAllAsync([a.Target(), gone, b.Target()], Signal("KILL"), rep, CancellationToken.None);

        Assert.Equal(2, results.Count);
        Assert.All(results, r => Assert.Equal("exited", r.ObservedState));
        Assert.Equal(new[] { a.Pid, b.Pid }.Order(), results.Select(r => r.ProcessId!.Value).Order());
        Assert.Equal("TargetNotFound", Assert.Single(rep.Errors).ErrorId);
    }

    [Fact]
    public void Describe_names_the_signal_and_the_grace_period()
    {
        var t = new ChaosTarget { Kind = "Process", Name = "sleep", ProcessId = 4242 };
        Assert.Equal("SIGKILL", Crasher.Describe(t, Signal("KILL")));
        Assert.Equal("SIGTERM, then SIGKILL after 2s", Crasher.Describe(t, Signal("TERM", grace: TimeSpan.FromSeconds(2))));
    }

    [Fact]
    public void Container_actions_warn_about_the_options_they_ignore()
    {
        Assert.Single(Crasher.IgnoredForContainers("DockerKill", signalGiven: false, gracePeriodGiven: true));
        Assert.Single(Crasher.IgnoredForContainers("dockerstop", signalGiven: true, gracePeriodGiven: false));
        Assert.Empty(Crasher.IgnoredForContainers("Signal", signalGiven: true, gracePeriodGiven: true));
    }
}
