using ChaosPS.Gpu;
using ChaosPS.Stress;

namespace ChaosPS.Engine.Tests.Stress;

public class VramFillTests
{
    private static FakeGpuBackend Gpu(long total = 16L << 30, long used = 512L << 20) =>
        new() { Devices = { new FakeGpuBackend.FakeDevice { Total = total, ExternalUsed = used } } };

    [Fact]
    public void Allocates_95_percent_of_free_in_chunks_and_releases_everything()
    {
        var gpu = Gpu();
        var dev = VramFill.Device(gpu, 0);
        long want = VramFill.Plan(dev, 95, null);
        Assert.Equal((long)(dev.MemoryFree * 0.95), want);
        using var a = gpu.OpenAllocator(0);
        var blocks = VramFill.Allocate(a, want, VramFill.DefaultChunk, CancellationToken.None);
        Assert.Equal(want, blocks.Total);
        Assert.True(gpu.Devices[0].MaxSingleAlloc <= VramFill.DefaultChunk, "no single huge allocation");
        Assert.True(blocks.Items.Count > 50);
        Assert.Equal(dev.MemoryUsed + want, gpu.GetDevices()[0].MemoryUsed);
        VramFill.FreeAll(a, blocks);
        Assert.Equal(0, gpu.Devices[0].Allocated);
        Assert.Equal(0, gpu.Devices[0].LiveBlocks);
    }

    [Fact]
    public void Backs_off_when_the_device_runs_out_and_reports_what_it_got()
    {
        var gpu = Gpu(total: 1L << 30, used: 0);
        using var a = gpu.OpenAllocator(0);
        gpu.Devices[0].ExternalUsed = 100L << 20; // someone else grabbed memory after planning
        var blocks = VramFill.Allocate(a, 1L << 30, 256L << 20, CancellationToken.None);
        Assert.True(blocks.Total < 1L << 30);
        Assert.True(blocks.Total >= (1L << 30) - (100L << 20) - VramFill.MinChunk, $"filled to within one minimum chunk, got {blocks.Total}");
        VramFill.FreeAll(a, blocks);
        Assert.Equal(0, gpu.Devices[0].Allocated);
    }

    [Fact]
    public void Bad_input_is_refused_before_allocating()
    {
        var gpu = Gpu();
        var dev = VramFill.Device(gpu, 0);
        Assert.Equal("PercentOutOfRange", Assert.Throws<ChaosException>(() => VramFill.Plan(dev, 101, null)).ErrorId);
        Assert.Equal("PercentOutOfRange", Assert.Throws<ChaosException>(() => VramFill.Plan(dev, -5, null)).ErrorId);
        Assert.Equal("SizeTooLarge", Assert.Throws<ChaosException>(() => VramFill.Plan(dev, null, 17L << 30)).ErrorId);
        Assert.Equal("PercentOrSize", Assert.Throws<ChaosException>(() => VramFill.Plan(dev, 50, 1L << 30)).ErrorId);
        var e = Assert.Throws<ChaosException>(() => VramFill.Device(gpu, 3));
        Assert.Equal("GpuNotFound", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.ObjectNotFound, e.Category);
        Assert.Equal(0, gpu.Devices[0].AllocCalls);
    }

    [Fact]
    public void No_driver_surfaces_as_the_backend_error()
    {
        var gpu = Gpu();
        gpu.Unavailable = new ChaosException("GpuDriverNotInstalled", ChaosErrorCategory.NotInstalled, "no driver");
        Assert.Equal(ChaosErrorCategory.NotInstalled, Assert.Throws<ChaosException>(() => VramFill.Device(gpu, 0)).Category);
    }

    [Fact]
    public void Real_backend_without_a_driver_is_NotInstalled_not_a_crash()
    {
        if (File.Exists("/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1") || File.Exists("/usr/lib64/libnvidia-ml.so.1")) return; // a GPU host
        var e = Assert.Throws<ChaosException>(() => new NvidiaBackend().GetDevices());
        Assert.Equal(ChaosErrorCategory.NotInstalled, e.Category);
    }
}

public class StressPlanningTests
{
    private static readonly MemorySnapshot Host = new(Total: 24L << 30, Available: 20L << 30, Free: 18L << 30);

    [Fact]
    public void Memory_checks_range_size_and_headroom()
    {
        var d = TimeSpan.FromSeconds(1);
        Assert.Equal("PercentOutOfRange", Assert.Throws<ChaosException>(() => MemoryStress.Check(new() { Percent = 120, Duration = d }, Host, null)).ErrorId);
        Assert.Equal("SizeTooLarge", Assert.Throws<ChaosException>(() => MemoryStress.Check(new() { Bytes = 25L << 30, Duration = d }, Host, null)).ErrorId);
        Assert.Equal("WouldExhaustMemory", Assert.Throws<ChaosException>(() => MemoryStress.Check(new() { Bytes = 20L << 30, Duration = d }, Host, null)).ErrorId);
        Assert.Equal("PercentOrSize", Assert.Throws<ChaosException>(() => MemoryStress.Check(new() { Duration = d }, Host, null)).ErrorId);
        // -Force allows an Add past available; Reach is always allowed (the stressor keeps a floor).
        MemoryStress.Check(new() { Bytes = 20L << 30, Duration = d, Force = true }, Host, null);
        MemoryStress.Check(new() { Percent = 95, Duration = d }, Host, null);
        Assert.Equal("Reach", MemoryStress.ResolveMode(new() { Percent = 50 }));
        Assert.Equal("Add", MemoryStress.ResolveMode(new() { Bytes = 1 }));
    }

    [Fact]
    public void Memory_percent_is_of_the_container_limit_when_it_has_one()
    {
        var (basis, used, _) = MemoryStress.Check(new() { Percent = 50, Duration = TimeSpan.FromSeconds(1) }, Host, (512L << 20, 100L << 20));
        Assert.Equal(512L << 20, basis);
        Assert.Equal(100L << 20, used);
    }

    [Fact]
    public void Disk_checks_path_and_range_and_computes_the_fill()
    {
        var d = TimeSpan.FromSeconds(1);
        Assert.Equal("PathNotFound", Assert.Throws<ChaosException>(() => DiskStress.Check(new() { Path = "/nonexistent/x", Percent = 50, Duration = d }, "/nonexistent/x")).ErrorId);
        Assert.Equal("PercentOutOfRange", Assert.Throws<ChaosException>(() => DiskStress.Check(new() { Path = "/tmp", Percent = 150, Duration = d }, "/tmp")).ErrorId);
        Assert.Equal("PercentOrLeaveFree", Assert.Throws<ChaosException>(() => DiskStress.Check(new() { Path = "/tmp", Duration = d }, "/tmp")).ErrorId);
        var tmp = Path.GetTempPath();
        var fs = HostStats.ReadFilesystem(tmp);
        Assert.Equal("SizeTooLarge", Assert.Throws<ChaosException>(() => DiskStress.Check(new() { Path = tmp, LeaveFree = fs.Total + 1, Duration = d }, tmp)).ErrorId);
        // Leaving everything free fills nothing; leaving less fills the difference.
        var plan = DiskStress.Check(new() { Path = tmp, LeaveFree = fs.Available, Duration = d }, tmp);
        Assert.InRange(plan.FillBytes, 0, 64L << 20);
    }

    [Fact]
    public void Disk_refuses_the_root_filesystem_below_the_margin_unless_forced()
    {
        var fs = HostStats.ReadFilesystem("/");
        if (!fs.IsRootFilesystem) return;
        var o = new DiskStressOptions { Path = "/", LeaveFree = 0, Duration = TimeSpan.FromSeconds(1) };
        var e = Assert.Throws<ChaosException>(() => DiskStress.Check(o, "/"));
        Assert.Equal("ProtectedPath", e.ErrorId);
        var forced = DiskStress.Check(new DiskStressOptions { Path = "/", LeaveFree = 0, Duration = TimeSpan.FromSeconds(1), Force = true }, "/");
        Assert.True(forced.FillBytes > 0);
    }

    [Fact]
    public void Cpu_and_fd_and_connection_validation()
    {
        var d = TimeSpan.FromSeconds(1);
        Assert.Equal("PercentOutOfRange", Assert.Throws<ChaosException>(() => CpuStress.Validate(new() { Percent = 100.5, Duration = d })).ErrorId);
        Assert.Equal("CoresOutOfRange", Assert.Throws<ChaosException>(() => CpuStress.Validate(new() { Percent = 50, Cores = 0, Duration = d })).ErrorId);
        Assert.Equal("InvalidDuration", Assert.Throws<ChaosException>(() => CpuStress.Validate(new() { Percent = 50, Duration = TimeSpan.Zero })).ErrorId);
        Assert.Equal("CountOutOfRange", Assert.Throws<ChaosException>(() => FdStress.Validate(new() { Count = 0, Duration = d })).ErrorId);
        Assert.Equal("ProcessNotFound", Assert.Throws<ChaosException>(() => FdStress.Validate(new() { Count = 0, ProcessId = int.MaxValue - 1, Duration = d })).ErrorId);
        Assert.Equal("NonLoopbackTarget", Assert.Throws<ChaosException>(() => ConnectionStress.Validate(new() { Uri = new Uri("http://198.51.100.1:80/"), Duration = d })).ErrorId);
        Assert.Equal(8080, ConnectionStress.Validate(new() { Uri = new Uri("http://localhost:8080/"), Duration = d }).Port);
        Assert.Equal(System.Net.IPAddress.IPv6Loopback, ConnectionStress.Validate(new() { Uri = new Uri("http://[::1]:81/"), Duration = d }).Address);
        Assert.Equal("NonLoopbackTarget", Assert.Throws<ChaosException>(() => LoopbackGuard.Check(new Uri("http://example.com/"))).ErrorId);
        LoopbackGuard.Check(new Uri("http://127.0.0.2:9/"));
    }
}

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
