using ChaosPS.Chaos;

namespace ChaosPS.Engine.Tests.Chaos;

/// <summary>Invoke-WorkerCrash -ChaosMonkey's engine: rounds of random crashes against real `sleep` children.</summary>
public sealed class ChaosMonkeyTests
{
    [Fact]
    public async Task Each_round_crashes_one_live_target_and_a_round_with_none_alive_warns_instead()
    {
        using var a = ChildProcess.Sleep("651.125");
        using var b = ChildProcess.Sleep("651.250");
        var rep = new RecordingReporter();
        var o = new Crasher.Options("KILL", null, "Signal", TimeSpan.FromSeconds(30), null);
        // Nothing brings them back (unique command lines), so two rounds crash both and later rounds find none alive.
        await ChaosMonkey.RunAsync([a.Target(), b.Target()], o, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(6), perRound: 1, seed: 7, rep, CancellationToken.None);

        Assert.True(a.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.True(b.WaitForExit(TimeSpan.FromSeconds(30)));
        var crashes = rep.Outputs.Cast<CrashResult>().ToList();
        Assert.Equal(new[] { a.Pid, b.Pid }.Order(), crashes.Select(c => c.ProcessId!.Value).Order());
        Assert.All(crashes, c => Assert.Equal("exited", c.ObservedState));
        Assert.Contains(rep.Warnings, w => w.Contains("none of the 2 targets is alive"));
        Assert.Empty(rep.Errors);
    }

    [Fact]
    public async Task A_crashed_target_that_comes_back_under_a_new_pid_is_crashed_again()
    {
        var first = ChildProcess.Sleep("652.5");
        var rep = new RecordingReporter();
        var o = new Crasher.Options("KILL", null, "Signal", TimeSpan.FromSeconds(30), null);
        var replacements = new List<ChildProcess> { first };
        using var cts = new CancellationTokenSource();
        try
        {
            var run = ChaosMonkey.RunAsync([first.Target()], o, TimeSpan.FromMilliseconds(300), TimeSpan.FromSeconds(60), perRound: 1, seed: 1, rep, cts.Token);
            // Bring the worker back after its first crash, the way a supervisor would; the monkey must find it again.
            var sw = System.Diagnostics.Stopwatch.StartNew();
            while (rep.Outputs.Count < 1 && sw.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(20);
            var again = ChildProcess.Sleep("652.5");
            replacements.Add(again);
            while (rep.Outputs.Count < 2 && sw.Elapsed < TimeSpan.FromSeconds(60)) await Task.Delay(20);
            cts.Cancel();
            await run;

            var pids = rep.Outputs.Cast<CrashResult>().Select(c => c.ProcessId).ToList();
            Assert.True(pids.Count >= 2, $"crashes: {pids.Count}");
            Assert.Equal(first.Pid, pids[0]);
            Assert.Equal(again.Pid, pids[1]);
            Assert.True(again.WaitForExit(TimeSpan.FromSeconds(30)));
        }
        finally { foreach (var c in replacements) c.Dispose(); }
    }
}
