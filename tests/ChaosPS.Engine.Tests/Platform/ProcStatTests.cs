using System.Diagnostics;

namespace ChaosPS.Engine.Tests.Platform;

public sealed class ProcStatTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("chaosps-procstat-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    // A real line's shape: pid (comm) state ppid ... with 52 fields (exit_code last).
    private static string Line(string comm, string state = "S", long utime = 7, long stime = 3, string start = "123456", int exit = 0)
        => $"4242 ({comm}) {state} 1 4242 4242 0 -1 4194560 100 0 0 0 {utime} {stime} 0 0 20 0 1 0 {start} 1000 50 18446744073709551615 "
         + "1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 1 1 1 1 1 1 1 " + exit + "\n";

    [Fact]
    public void This_test_process_reads_as_itself()
    {
        var self = ProcStat.Read(Environment.ProcessId);
        Assert.NotNull(self);
        Assert.Equal(Environment.ProcessId, self.Pid);
        Assert.True(char.IsAsciiLetter(self.State) && !self.IsDead, $"state {self.State}");
        Assert.Equal(File.ReadAllText("/proc/self/comm").TrimEnd('\n'), self.Comm);
        Assert.True(self.UserTicks + self.SystemTicks > 0, "a test host that ran code has used CPU time");
        Assert.Equal(ProcessIdentity.StartStamp(Environment.ProcessId), self.StartStamp);
        Assert.False(self.IsDead);
    }

    [Fact]
    public void A_child_with_spaces_and_parentheses_in_its_name_reads_with_its_name_parent_and_stamp()
    {
        // The kernel names a process after the file it executed: a link called "x) (y z" to sleep.
        var link = Path.Combine(_dir, "x) (y z");
        File.CreateSymbolicLink(link, File.Exists("/usr/bin/sleep") ? "/usr/bin/sleep" : "/bin/sleep");
        using var child = Process.Start(new ProcessStartInfo(link, "300") { UseShellExecute = false })!;
        string? stamp = null;
        try
        {
            // The exec finishes setting up the new image (its arguments) just after Process.Start returns.
            for (var until = DateTime.UtcNow.AddSeconds(30); Procfs.CommandLine(child.Id) is not { Length: > 0 } && DateTime.UtcNow < until;) Thread.Sleep(20);
            var stat = ProcStat.Read(child.Id);
            Assert.NotNull(stat);
            stamp = stat.StartStamp;
            Assert.Equal("x) (y z", stat.Comm);
            Assert.Equal(child.Id, stat.Pid);
            Assert.Equal(Environment.ProcessId, stat.ParentPid);
            Assert.True(char.IsAsciiLetter(stat.State) && !stat.IsDead, $"state {stat.State}");
            Assert.True(ProcessIdentity.IsAlive(child.Id, stat.StartStamp));
            Assert.False(ProcessIdentity.IsAlive(child.Id, stat.StartStamp + "1"), "another start stamp is another process");

            var info = ProcessTable.Read(child.Id);
            Assert.NotNull(info);
            Assert.Equal("x) (y z", info.Name);
            Assert.Equal($"{link} 300", info.CommandLine);
            Assert.Contains(child.Id, ProcessTable.All().Select(p => p.Pid));
            Assert.Contains(Environment.ProcessId, ProcessTable.Ancestry(child.Id));
        }
        finally
        {
            child.Kill();
            child.WaitForExit();
        }
        Assert.False(ProcessIdentity.IsAlive(child.Id, stamp), "a killed and reaped child is gone");
    }

    [Fact]
    public void Fields_are_counted_from_the_last_parenthesis()
    {
        var s = ProcStat.Parse(Line("a) (b) S 9 (c", state: "T", utime: 40, stime: 2, start: "987654"));
        Assert.NotNull(s);
        Assert.Equal(4242, s.Pid);
        Assert.Equal("a) (b) S 9 (c", s.Comm);
        Assert.Equal('T', s.State);
        Assert.Equal(1, s.ParentPid);
        Assert.Equal(40, s.UserTicks);
        Assert.Equal(2, s.SystemTicks);
        Assert.Equal("987654", s.StartStamp);
        Assert.Equal("", ProcStat.Parse(Line(""))!.Comm);
    }

    [Theory]
    [InlineData(0, 0)]            // exit 0
    [InlineData(3 << 8, 3)]       // exit 3
    [InlineData(9, 137)]          // SIGKILL
    [InlineData(15 | 0x80, 143)]  // SIGTERM with a core dump flag
    public void A_zombie_exit_status_reads_as_a_shell_exit_code(int status, int code)
    {
        var s = ProcStat.Parse(Line("w", state: "Z", exit: status));
        Assert.NotNull(s);
        Assert.True(s.IsDead);
        Assert.Equal(code, s.ExitCode);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("4242")]
    [InlineData("4242 (sleep")]
    [InlineData("4242 sleep) S 1")]
    [InlineData("4242 (sleep)")]
    [InlineData("4242 (sleep) ")]
    [InlineData("4242 (sleep)S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20")]
    [InlineData("4242 (sleep) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18")]                 // too few fields
    [InlineData("abc (sleep) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20")]              // pid no number
    [InlineData("4242 (sleep) S x 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20")]             // ppid no number
    [InlineData("4242 (sleep) S 1 2 3 4 5 6 7 8 9 10 x 12 13 14 15 16 17 18 19 20")]              // utime no number
    [InlineData("4242 (sleep) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -19 20")]            // start stamp no number
    [InlineData("4242 (sleep) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20")]            // state not one letter
    public void A_malformed_line_is_refused(string? line)
        => Assert.Null(ProcStat.Parse(line));

    [Fact]
    public void A_line_without_exit_code_has_none()
    {
        var s = ProcStat.Parse("4242 (sleep) Z 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20");
        Assert.NotNull(s);
        Assert.Null(s.ExitStatus);
        Assert.Null(s.ExitCode);
    }

    [Fact]
    public void A_process_that_is_not_there_reads_as_null()
    {
        Assert.Null(ProcStat.Read(int.MaxValue));
        Assert.Null(ProcStat.Read(0));
        Assert.Null(ProcessTable.Read(int.MaxValue));
        Assert.Null(ProcessIdentity.StartStamp(int.MaxValue));
        Assert.Equal('?', ProcessIdentity.ProcessState(int.MaxValue));
        Assert.Null(ChaosPS.Stress.HostStats.ProcessCpuTicks(int.MaxValue));
    }

    [Fact]
    public void A_long_comm_is_shown_as_the_executables_file_name()
    {
        Assert.Equal("chaosps-testbed-worker", ProcessTable.DisplayName("chaosps-testbed-", "/opt/x/chaosps-testbed-worker --port 1"));
        Assert.Equal("chaosps-testbed-", ProcessTable.DisplayName("chaosps-testbed-", "/opt/x/dotnet app.dll"));
        Assert.Equal("sleep", ProcessTable.DisplayName("sleep", "/usr/bin/sleep-longer-than-fifteen 1"));
    }
}
