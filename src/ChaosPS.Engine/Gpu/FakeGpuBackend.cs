namespace ChaosPS.Gpu;

/// <summary>
/// An in-memory GPU for tests: devices with a total and an external "used", allocations that fail with out-of-memory
/// past the free memory, and counters to check that everything was released.
/// </summary>
public sealed class FakeGpuBackend : IGpuBackend
{
    public sealed class FakeDevice
    {
        public string Name { get; init; } = "Fake GPU";
        public long Total { get; init; } = 16L << 30;
        public long ExternalUsed { get; set; } = 512L << 20;
        public long Allocated;
        public int LiveBlocks;
        public int AllocCalls;
        public long MaxSingleAlloc;
        public long Free => Total - ExternalUsed - Allocated;
    }

    public List<FakeDevice> Devices { get; } = [];
    /// <summary>When set, GetDevices throws it (simulates "no driver").</summary>
    public ChaosException? Unavailable { get; set; }
    public string Name => "Fake";

    public IReadOnlyList<GpuDeviceInfo> GetDevices()
    {
        if (Unavailable is not null) throw Unavailable;
        return Devices.Select((d, i) => new GpuDeviceInfo
        {
            Index = i, Name = d.Name, Uuid = $"GPU-fake-{i}", MemoryTotal = d.Total, MemoryUsed = d.ExternalUsed + Interlocked.Read(ref d.Allocated),
            MemoryFree = d.Free, Backend = Name, DriverVersion = "fake",
        }).ToList();
    }

    public IVramAllocator OpenAllocator(int index) => new Allocator(Devices[VramFill.Device(this, index).Index]);

    private sealed class Allocator(FakeDevice d) : IVramAllocator
    {
        private readonly Dictionary<ulong, long> _blocks = [];
        private ulong _next = 0x1000;

        public VramInfo MemGetInfo() => new(d.Free, d.Total);

        public bool TryAllocate(long bytes, out ulong handle)
        {
            d.AllocCalls++;
            handle = 0;
            if (bytes > d.Free) return false;
            d.MaxSingleAlloc = Math.Max(d.MaxSingleAlloc, bytes);
            Interlocked.Add(ref d.Allocated, bytes);
            d.LiveBlocks++;
            handle = _next++;
            _blocks[handle] = bytes;
            return true;
        }

        public void Free(ulong handle)
        {
            if (_blocks.Remove(handle, out var b)) { Interlocked.Add(ref d.Allocated, -b); d.LiveBlocks--; }
        }

        public void Dispose()
        {
            foreach (var h in _blocks.Keys.ToList()) Free(h);
        }
    }
}
