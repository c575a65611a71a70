using ChaosPS.Gpu;
using ChaosPS.Stress;

namespace ChaosPS.Engine.Tests.Stress;

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
