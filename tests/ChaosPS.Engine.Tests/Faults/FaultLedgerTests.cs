using ChaosPS.Faults;

namespace ChaosPS.Engine.Tests.Faults;

public sealed class FaultLedgerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "chaosps-ledger-" + Guid.NewGuid().ToString("N"));
    private readonly FaultLedger _ledger;

    public FaultLedgerTests() => _ledger = new FaultLedger(_dir) { StartWatchdog = false };

    public void Dispose() { if (Directory.Exists(_dir)) Directory.Delete(_dir, true); }

    private string TempFile(string name)
    {
        Directory.CreateDirectory(_dir);
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, "x");
        return path;
    }

    [Fact]
    public async Task A_fault_is_on_disk_before_it_is_applied_and_gone_after_restore()
    {
        var fill = TempFile("fill.bin");
        var r = _ledger.Record("DiskFill", "tmp", "test", TimeSpan.FromSeconds(5), [DeletePathUndo.Step(fill)]);
        Assert.True(File.Exists(Path.Combine(_dir, "faults", r.Id + ".json")));
        var listed = Assert.Single(_ledger.List());
        Assert.Equal(r.Id, listed.Id);
        Assert.Equal(Environment.ProcessId, listed.OwnerPid);
        Assert.True(listed.OwnerAlive);
        Assert.InRange(listed.Deadline - listed.CreatedAt, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5) + FaultLedger.DeadlineGrace);

        var result = await _ledger.RestoreAsync(r.Id, "test");
        Assert.Equal("Restored", result.Outcome);
        Assert.False(File.Exists(fill));
        Assert.Empty(_ledger.List());
    }

    [Fact]
    public async Task Restore_is_idempotent()
    {
        var r = _ledger.Record("DiskFill", "tmp", "test", null, [DeletePathUndo.Step(TempFile("a"))]);
        Assert.Equal("Restored", (await _ledger.RestoreAsync(r.Id, "test")).Outcome);
        Assert.Equal("AlreadyRestored", (await _ledger.RestoreAsync(r.Id, "test")).Outcome);
    }

    [Fact]
    public async Task Undo_steps_run_in_reverse_order_and_a_gone_target_counts_as_done()
    {
        var a = TempFile("a");
        var r = _ledger.Record("Test", "tmp", "test", null, [DeletePathUndo.Step(a), DeletePathUndo.Step(Path.Combine(_dir, "never-existed"))]);
        var result = await _ledger.RestoreAsync(r.Id, "test");
        Assert.Equal("Restored", result.Outcome);
        Assert.Contains("already gone", result.Steps[0]);   // the last step ran first
        Assert.EndsWith("done", result.Steps[1]);
    }

    [Fact]
    public async Task A_rewrite_racing_an_undo_waits_for_it_and_never_brings_the_record_back()
    {
        var r = _ledger.Record("DiskFill", "tmp", "test", null, [DeletePathUndo.Step(TempFile("race"))]);
        var record = Path.Combine(_dir, "faults", r.Id + ".json");
        // An undo in progress: it holds the fault's lock, and deletes the record before letting go.
        var undoLock = new FileStream(record + ".lock", FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.DeleteOnClose);
        r.Deadline = DateTimeOffset.UtcNow.AddMinutes(1);
        var rewrite = Task.Run(() => _ledger.Rewrite(r)); // saw the record, now waits for the lock
        await Task.Delay(300);
        Assert.False(rewrite.IsCompleted);
        File.Delete(record);
        undoLock.Dispose();
        Assert.False(await rewrite);
        Assert.False(File.Exists(record));
        Assert.Empty(_ledger.List());
    }

    [Fact]
    public async Task A_failing_step_keeps_the_fault_in_the_ledger()
    {
        var r = _ledger.Record("Test", "nowhere", "test", null, [SignalUndo.Step(Environment.ProcessId, "CONT") ]);
        // Corrupt the step so it cannot succeed: an unknown signal name.
        r.Undo[0].Args["signal"] = "NOPE";
        _ledger.Write(r);
        var result = await _ledger.RestoreAsync(r.Id, "test");
        Assert.Equal("Failed", result.Outcome);
        Assert.NotNull(result.Error);
        Assert.Single(_ledger.List());
    }

    [Fact]
    public void Unknown_undo_actions_are_refused_before_anything_is_recorded()
    {
        Assert.Throws<ArgumentException>(() => _ledger.Record("Test", "x", "x", null, [new UndoStep("no-such-action")]));
        Assert.Empty(_ledger.List());
    }

    [Fact]
    public void A_dead_owner_is_seen_as_dead_even_if_its_pid_is_reused()
    {
        var r = _ledger.Record("Test", "x", "x", null, []);
        r.OwnerStartStamp = "1";   // same pid, different start: a reused pid
        Assert.False(r.OwnerAlive);
    }

    [Fact]
    public void Fault_ids_cannot_escape_the_ledger_folder()
    {
        var e = Assert.Throws<ChaosException>(() => _ledger.Get("../../etc/passwd"));
        Assert.Equal("InvalidFaultId", e.ErrorId);
    }

    [Theory]
    [InlineData("KILL", 9)]
    [InlineData("SIGTERM", 15)]
    [InlineData("cont", 18)]
    [InlineData("19", 19)]
    public void Signals_parse(string name, int number) => Assert.Equal(number, PosixSignals.Parse(name));

    [Fact]
    public void Bad_signals_are_rejected()
        => Assert.Equal("InvalidSignal", Assert.Throws<ChaosException>(() => PosixSignals.Parse("SIGFOO")).ErrorId);
}
