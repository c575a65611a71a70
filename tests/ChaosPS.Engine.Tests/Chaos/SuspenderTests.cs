using ChaosPS.Chaos;
using ChaosPS.Faults;

namespace ChaosPS.Engine.Tests.Chaos;

/// <summary>
/// Suspend-ChaosTarget / Resume-ChaosTarget's engine: real SIGSTOP/SIGCONT on a `sleep` child, the state read back from
/// /proc, every suspend written to a private fault ledger first and gone from it once resumed.
/// </summary>
public sealed class SuspenderTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "chaosps-suspend-" + Guid.NewGuid().ToString("N"));
    private readonly FaultLedger _ledger;

    public SuspenderTests() => _ledger = new FaultLedger(_dir) { StartWatchdog = false };

    public void Dispose()
    {
        // Nothing may be left applied: undo whatever a failed test left in the ledger, then check it is empty.
        foreach (var f in _ledger.List()) _ledger.RestoreAsync(f.Id, "SuspenderTests cleanup").GetAwaiter().GetResult();
        var left = _ledger.List().Count;
        if (Directory.Exists(_dir)) Directory.Delete(_dir, true);
        Assert.Equal(0, left);
    }

    private static async Task<char> StateSoon(int pid, Func<char, bool> want)
    {
        char s = ProcessIdentity.ProcessState(pid);
        for (int i = 0; i < 600 && !want(s); i++) { await Task.Delay(50); s = ProcessIdentity.ProcessState(pid); }
        return s;
    }

    [Fact]
    public async Task Suspend_stops_the_process_with_a_ledger_record_and_resume_continues_it_and_clears_the_record()
    {
        using var child = ChildProcess.Sleep("631.5");
        var t = child.Target();
        var rep = new RecordingReporter();
        var results = await Suspender.SuspendAsync([t], null, _ledger, rep, CancellationToken.None);

        var s = Assert.Single(results);
        Assert.Equal("Suspended", s.Outcome);
        Assert.Equal("T", s.ObservedState);
        Assert.Equal('T', ProcessIdentity.ProcessState(child.Pid));
        var fault = Assert.Single(_ledger.List());
        Assert.Equal(s.FaultId, fault.Id);
        Assert.Equal(Suspender.FaultKind, fault.Kind);
        Assert.Same(s, Assert.Single(rep.Outputs));

        var r = await Suspender.ResumeAsync(t, _ledger, CancellationToken.None);
        Assert.Equal("Resumed", r.Outcome);
        Assert.Equal(s.FaultId, r.FaultId);
        Assert.NotEqual('T', await StateSoon(child.Pid, c => c != 'T'));
        Assert.NotEqual("T", r.ObservedState);
        Assert.Empty(_ledger.List());
        Assert.False(child.HasExited);
    }

    [Fact]
    public async Task Suspend_with_a_duration_holds_the_process_stopped_then_resumes_it_and_leaves_nothing_in_the_ledger()
    {
        using var child = ChildProcess.Sleep("632.5");
        var t = child.Target();
        var wait = Suspender.SuspendAsync([t], TimeSpan.FromSeconds(3), _ledger, NullReporter.Instance, CancellationToken.None);
        // While held: stopped, and ledgered (the ledger is read first, so a hold that ended meanwhile is not misread).
        Assert.Equal('T', await StateSoon(child.Pid, c => c == 'T' || wait.IsCompleted));
        var listed = _ledger.List().Count;
        if (!wait.IsCompleted) Assert.Equal(1, listed);

        var s = Assert.Single(await wait);
        Assert.Equal("Resumed", s.Outcome);
        Assert.NotNull(s.ResumedAt);
        Assert.NotEqual('T', await StateSoon(child.Pid, c => c != 'T'));
        Assert.Empty(_ledger.List());
    }

    [Fact]
    public async Task Cancelling_a_held_suspend_still_resumes_the_process()
    {
        using var child = ChildProcess.Sleep("633.5");
        using var cts = new CancellationTokenSource();
        var wait = Suspender.SuspendAsync([child.Target()], TimeSpan.FromMinutes(10), _ledger, NullReporter.Instance, cts.Token);
        Assert.Equal('T', await StateSoon(child.Pid, c => c == 'T'));
        cts.Cancel();
        var s = Assert.Single(await wait);
        Assert.Equal("Resumed", s.Outcome);
        Assert.NotEqual('T', await StateSoon(child.Pid, c => c != 'T'));
        Assert.Empty(_ledger.List());
    }

    [Fact]
    public async Task Resuming_a_process_nobody_suspended_says_NotSuspended()
    {
        using var child = ChildProcess.Sleep("634.5");
        var r = await Suspender.ResumeAsync(child.Target(), _ledger, CancellationToken.None);
        Assert.Equal("NotSuspended", r.Outcome);
        Assert.Null(r.FaultId);
    }

    [Fact]
    public async Task Resuming_a_process_someone_else_stopped_sends_sigcont_without_a_ledger_record()
    {
        using var child = ChildProcess.Sleep("635.5");
        PosixSignals.Send(child.Pid, PosixSignals.Parse("STOP"));
        Assert.Equal('T', await StateSoon(child.Pid, c => c == 'T'));
        var r = await Suspender.ResumeAsync(child.Target(), _ledger, CancellationToken.None);
        Assert.Equal("Resumed", r.Outcome);
        Assert.NotEqual('T', await StateSoon(child.Pid, c => c != 'T'));
    }

    [Fact]
    public async Task A_gone_process_is_reported_as_TargetNotFound_and_nothing_is_ledgered()
    {
        ChaosTarget t;
        using (var child = ChildProcess.Sleep("636.5")) t = child.Target();
        var rep = new RecordingReporter();
        var results = await Suspender.SuspendAsync([t], null, _ledger, rep, CancellationToken.None);
        Assert.Empty(results);
        Assert.Equal("TargetNotFound", Assert.Single(rep.Errors).ErrorId);
        Assert.Empty(_ledger.List());
    }
}
