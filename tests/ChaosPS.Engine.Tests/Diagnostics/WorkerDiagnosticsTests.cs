using System.Diagnostics;
using ChaosPS.Diagnostics;

namespace ChaosPS.Engine.Tests.Diagnostics;

public sealed class WorkerDiagnosticsTests
{
    [Fact]
    public void This_test_process_is_dotnet()
        => Assert.True(WorkerDiagnostics.IsDotnet(Environment.ProcessId));

    [Fact]
    public void A_socket_left_by_a_dead_process_does_not_make_a_reused_pid_look_like_dotnet()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var sleep = Process.Start(new ProcessStartInfo("sleep", "30") { UseShellExecute = false })!;
        // What a hard-killed .NET process that had this pid before leaves behind: its socket, with its own start time.
        var stale = Path.Combine(Path.GetTempPath(), $"dotnet-diagnostic-{sleep.Id}-1-socket");
        File.WriteAllText(stale, "");
        try
        {
            Assert.False(WorkerDiagnostics.IsDotnet(sleep.Id));
            // The same name with the live process's own start time is its port.
            var stamp = ProcStat.Read(sleep.Id)!.StartStamp;
            var own = Path.Combine(Path.GetTempPath(), $"dotnet-diagnostic-{sleep.Id}-{stamp}-socket");
            File.WriteAllText(own, "");
            try { Assert.True(WorkerDiagnostics.IsDotnet(sleep.Id)); }
            finally { File.Delete(own); }
        }
        finally
        {
            File.Delete(stale);
            sleep.Kill();
        }
    }
}
