namespace ChaosPS.Gpu;

/// <summary>A process using a GPU, as NVML reports it.</summary>
public sealed class GpuProcessInfo
{
    public int ProcessId { get; init; }
    public string? ProcessName { get; init; }
    /// <summary>Bytes of GPU memory the process uses; null when the driver does not say (Windows WDDM).</summary>
    public long? UsedMemory { get; init; }
}

/// <summary>One GPU: what Get-GpuInfo lists.</summary>
public sealed class GpuDeviceInfo
{
    public int Index { get; init; }
    public string Name { get; init; } = "";
    public string Uuid { get; init; } = "";
    public long MemoryTotal { get; init; }
    public long MemoryUsed { get; init; }
    public long MemoryFree { get; init; }
    public double MemoryUsedPercent => MemoryTotal == 0 ? 0 : Math.Round(100.0 * MemoryUsed / MemoryTotal, 2);
    public string? DriverVersion { get; init; }
    public string Backend { get; init; } = "";
    public IReadOnlyList<GpuProcessInfo> Processes { get; init; } = [];
}

/// <summary>Device memory as one allocator sees it (cuMemGetInfo).</summary>
public readonly record struct VramInfo(long Free, long Total);

/// <summary>GPU access: listing and measuring (NVML), allocating (CUDA driver API). The real one and a fake for tests.</summary>
public interface IGpuBackend
{
    string Name { get; }
    /// <summary>Every GPU with its memory and processes. Throws ChaosException NotInstalled (no driver library) or ResourceUnavailable (no GPU / driver not loaded).</summary>
    IReadOnlyList<GpuDeviceInfo> GetDevices();
    /// <summary>Opens an allocator (a CUDA context) on the GPU with this (NVML) index.</summary>
    IVramAllocator OpenAllocator(int index);
}

/// <summary>Allocates device memory on one GPU. Not thread-safe; dispose to free everything and drop the context.</summary>
public interface IVramAllocator : IDisposable
{
    VramInfo MemGetInfo();
    /// <summary>Allocates (and touches) one block; false when the device is out of memory, throws on other errors.</summary>
    bool TryAllocate(long bytes, out ulong handle);
    void Free(ulong handle);
}

/// <summary>Allocates VRAM in chunks (one huge cuMemAlloc can time out the driver's scrubber, gpu-burn#150), backing off on out-of-memory.</summary>
public static class VramFill
{
    public const long DefaultChunk = 256L << 20;
    public const long MinChunk = 2L << 20;

    public sealed class Blocks
    {
        public List<(ulong Handle, long Bytes)> Items { get; } = [];
        public long Total => Items.Sum(b => b.Bytes);
    }

    /// <summary>Allocates up to <paramref name="bytes"/>; returns what it got (less when the device ran out).</summary>
    public static Blocks Allocate(IVramAllocator a, long bytes, long chunk, CancellationToken ct, Action<long>? progress = null)
    {
        var blocks = new Blocks();
        long done = 0;
        chunk = Math.Max(MinChunk, chunk);
        while (done < bytes && !ct.IsCancellationRequested)
        {
            long len = Math.Min(chunk, bytes - done);
            if (a.TryAllocate(len, out var h))
            {
                blocks.Items.Add((h, len));
                done += len;
                progress?.Invoke(done);
            }
            else if (chunk > MinChunk) chunk = Math.Max(MinChunk, chunk / 2);
            else break;
        }
        return blocks;
    }

    public static void FreeAll(IVramAllocator a, Blocks blocks)
    {
        for (int i = blocks.Items.Count - 1; i >= 0; i--) a.Free(blocks.Items[i].Handle);
        blocks.Items.Clear();
    }

    /// <summary>Bytes to allocate: a percentage of the device's free memory, or a size (no larger than the device).</summary>
    public static long Plan(GpuDeviceInfo d, double? percentOfFree, long? size)
    {
        if (percentOfFree is null == size is null)
            throw ChaosException.InvalidArgument("PercentOrSize", "Give either -Percent or -Size.", null);
        if (percentOfFree is { } p && (double.IsNaN(p) || p < 0 || p > 100))
            throw ChaosException.InvalidArgument("PercentOutOfRange", $"-Percent {p} is outside 0..100.", p);
        if (size is { } s)
        {
            if (s <= 0) throw ChaosException.InvalidArgument("InvalidSize", "-Size must be greater than zero.", s);
            if (s > d.MemoryTotal)
                throw ChaosException.InvalidArgument("SizeTooLarge", $"-Size {SizeParser.Format(s)} is larger than GPU {d.Index} ({d.Name}, {SizeParser.Format(d.MemoryTotal)}).", s);
            return s;
        }
        return (long)(d.MemoryFree * percentOfFree!.Value / 100.0);
    }

    public static GpuDeviceInfo Device(IGpuBackend backend, int index)
    {
        var devices = backend.GetDevices();
        if (index < 0 || index >= devices.Count)
            throw new ChaosException("GpuNotFound", ChaosErrorCategory.ObjectNotFound,
                $"There is no GPU {index}; this machine has {devices.Count} ({string.Join(", ", devices.Select(d => $"{d.Index}: {d.Name}"))}).", index, "Pick an index from Get-GpuInfo.");
        return devices[index];
    }
}
