using ChaosPS.Gpu;
using ChaosPS.Stress;

namespace ChaosPS.Engine.Tests.Stress;

public class HostStatsTests
{
    [Fact]
    public void Reads_memory_cpu_and_mounts_from_proc()
    {
        var m = HostStats.ReadMemory();
        Assert.True(m.Total > 0 && m.Available > 0 && m.Available <= m.Total);
        var a = HostStats.ReadCpu();
        var spin = System.Diagnostics.Stopwatch.StartNew();
        while (spin.ElapsedMilliseconds < 100) { }
        var b = HostStats.ReadCpu();
        Assert.True(b.Total >= a.Total);
        Assert.InRange(CpuTimes.BusyPercent(a, b), 0, 100);
        Assert.Equal(("/proc", "proc"), HostStats.MountOf("/proc/self"));
        Assert.Equal(HostStats.MountOf("/proc/self"), HostStats.MountOf($"/proc/{Environment.ProcessId}/root/proc/self"));
        Assert.True(HostStats.ProcessRss(Environment.ProcessId) > 0);
        Assert.True(HostStats.ProcessFdCount(Environment.ProcessId) > 0);
        Assert.Null(HostStats.ProcessCpuTicks(int.MaxValue - 1));
    }

    [Fact]
    public void Parses_kB_lines_with_tabs_and_wide_numbers()
    {
        Assert.Equal(4228592L * 1024, HostStats.KbLine("VmRSS:\t 4228592 kB"));
        Assert.Equal(19000000L * 1024, HostStats.KbLine("VmRSS:\t19000000 kB"));
        Assert.Equal(24684092L * 1024, HostStats.KbLine("MemTotal:       24684092 kB"));
    }

    [Fact]
    public void Parses_the_stressor_line_protocol()
    {
        var kv = StressorProcess.Parse("READY pid=12 held=268435456 error=Too_many");
        Assert.Equal("12", kv["pid"]);
        Assert.Equal("268435456", kv["held"]);
        Assert.Equal("Too_many", kv["error"]);
    }

    [Fact]
    public void Fill_preallocates_and_reports_the_method()
    {
        var dir = Directory.CreateTempSubdirectory("chaosps-fill-test").FullName;
        try
        {
            var file = Path.Combine(dir, "f.bin");
            var (written, method, _) = DiskStress.Fill(file, 8L << 20, NullReporter.Instance, CancellationToken.None);
            Assert.Equal(8L << 20, written);
            Assert.Contains(method, new[] { "fallocate", "write" });
            Assert.Equal(8L << 20, new FileInfo(file).Length);
        }
        finally { Directory.Delete(dir, true); }
    }
}
