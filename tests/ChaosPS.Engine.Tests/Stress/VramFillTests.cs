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
