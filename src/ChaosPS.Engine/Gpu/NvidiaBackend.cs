using System.Runtime.InteropServices;
using System.Text;

namespace ChaosPS.Gpu;

/// <summary>
/// The real backend: NVML (libnvidia-ml.so.1 / nvml.dll) to list and measure, the CUDA driver API (libcuda.so.1 /
/// nvcuda.dll) to allocate. Libraries are loaded at run time, so a machine without a driver gets a clear error
/// (NotInstalled) rather than a DllNotFoundException. Devices are addressed by NVML index and matched to CUDA by UUID.
/// </summary>
public sealed unsafe class NvidiaBackend : IGpuBackend
{
    public string Name => "NVML+CUDA";

    private static string NvmlLib => OperatingSystem.IsWindows() ? "nvml.dll" : "libnvidia-ml.so.1";
    private static string CudaLib => OperatingSystem.IsWindows() ? "nvcuda.dll" : "libcuda.so.1";

    private static nint Load(string lib, string what)
    {
        if (NativeLibrary.TryLoad(lib, out var h)) return h;
        throw new ChaosException("GpuDriverNotInstalled", ChaosErrorCategory.NotInstalled,
            $"The NVIDIA driver library {lib} ({what}) is not installed on this machine, so there is no GPU to use.", lib,
            "Run this on a host with an NVIDIA GPU and its driver installed (nvidia-smi must work).");
    }

    private static nint Fn(nint lib, params string[] names)
    {
        foreach (var n in names)
            if (NativeLibrary.TryGetExport(lib, n, out var p)) return p;
        throw new ChaosException("GpuDriverTooOld", ChaosErrorCategory.NotInstalled, $"The NVIDIA driver lacks {names[0]}.", names[0], "Update the NVIDIA driver.");
    }

    // ---- NVML ----
    [StructLayout(LayoutKind.Sequential)] private struct NvmlMemory { public ulong Total, Free, Used; }
    [StructLayout(LayoutKind.Sequential)] private struct NvmlProcessV2 { public uint Pid; public ulong Used; public uint Gi, Ci; }
    [StructLayout(LayoutKind.Sequential)] private struct NvmlProcessV1 { public uint Pid; public ulong Used; }
    private const ulong NvmlValueNotAvailable = ulong.MaxValue;

    private sealed class Nvml
    {
        public readonly delegate* unmanaged<int> Init;
        public readonly delegate* unmanaged<uint*, int> Count;
        public readonly delegate* unmanaged<uint, nint*, int> Handle;
        public readonly delegate* unmanaged<nint, byte*, uint, int> DevName, Uuid;
        public readonly delegate* unmanaged<nint, NvmlMemory*, int> Memory;
        public readonly delegate* unmanaged<nint, uint*, void*, int> Procs;
        public readonly bool ProcsV1;
        public readonly delegate* unmanaged<byte*, uint, int> Driver;
        public readonly delegate* unmanaged<int, nint> Error;

        public Nvml()
        {
            var lib = Load(NvmlLib, "NVML");
            Init = (delegate* unmanaged<int>)Fn(lib, "nvmlInit_v2", "nvmlInit");
            Count = (delegate* unmanaged<uint*, int>)Fn(lib, "nvmlDeviceGetCount_v2", "nvmlDeviceGetCount");
            Handle = (delegate* unmanaged<uint, nint*, int>)Fn(lib, "nvmlDeviceGetHandleByIndex_v2", "nvmlDeviceGetHandleByIndex");
            DevName = (delegate* unmanaged<nint, byte*, uint, int>)Fn(lib, "nvmlDeviceGetName");
            Uuid = (delegate* unmanaged<nint, byte*, uint, int>)Fn(lib, "nvmlDeviceGetUUID");
            Memory = (delegate* unmanaged<nint, NvmlMemory*, int>)Fn(lib, "nvmlDeviceGetMemoryInfo");
            Driver = (delegate* unmanaged<byte*, uint, int>)Fn(lib, "nvmlSystemGetDriverVersion");
            Error = (delegate* unmanaged<int, nint>)Fn(lib, "nvmlErrorString");
            if (NativeLibrary.TryGetExport(lib, "nvmlDeviceGetComputeRunningProcesses_v3", out var p) || NativeLibrary.TryGetExport(lib, "nvmlDeviceGetComputeRunningProcesses_v2", out p))
                Procs = (delegate* unmanaged<nint, uint*, void*, int>)p;
            else { Procs = (delegate* unmanaged<nint, uint*, void*, int>)Fn(lib, "nvmlDeviceGetComputeRunningProcesses"); ProcsV1 = true; }
        }

        public void Check(int rc, string call)
        {
            if (rc == 0) return;
            var msg = Marshal.PtrToStringUTF8(Error(rc)) ?? $"error {rc}";
            // 9 DRIVER_NOT_LOADED, 12 LIBRARY_NOT_FOUND, 6 NOT_FOUND, 2 INVALID_ARGUMENT
            throw new ChaosException(rc is 9 or 12 ? "GpuDriverNotLoaded" : "NvmlError",
                rc is 9 or 12 ? ChaosErrorCategory.NotInstalled : ChaosErrorCategory.ResourceUnavailable,
                $"NVML {call} failed: {msg} ({rc}).", call, "Check that the NVIDIA driver is loaded (nvidia-smi).");
        }
    }

    private static Nvml? _nvml;
    private static readonly object Gate = new();

    private static Nvml OpenNvml()
    {
        lock (Gate)
        {
            if (_nvml is not null) return _nvml;
            var n = new Nvml();
            n.Check(n.Init(), "nvmlInit");
            return _nvml = n;
        }
    }

    public IReadOnlyList<GpuDeviceInfo> GetDevices()
    {
        var n = OpenNvml();
        uint count;
        n.Check(n.Count(&count), "nvmlDeviceGetCount");
        var buf = stackalloc byte[256];
        string driver = n.Driver(buf, 256) == 0 ? Str(buf) : "";
        var list = new List<GpuDeviceInfo>();
        for (uint i = 0; i < count; i++)
        {
            nint h;
            n.Check(n.Handle(i, &h), "nvmlDeviceGetHandleByIndex");
            string name = n.DevName(h, buf, 256) == 0 ? Str(buf) : "";
            string uuid = n.Uuid(h, buf, 256) == 0 ? Str(buf) : "";
            NvmlMemory m;
            n.Check(n.Memory(h, &m), "nvmlDeviceGetMemoryInfo");
            list.Add(new GpuDeviceInfo
            {
                Index = (int)i, Name = name, Uuid = uuid, MemoryTotal = (long)m.Total, MemoryFree = (long)m.Free, MemoryUsed = (long)m.Used,
                DriverVersion = driver, Backend = Name, Processes = Processes(n, h),
            });
        }
        return list;
    }

    private static List<GpuProcessInfo> Processes(Nvml n, nint h)
    {
        var result = new List<GpuProcessInfo>();
        uint count = 64;
        for (int attempt = 0; attempt < 3; attempt++)
        {
            int size = n.ProcsV1 ? sizeof(NvmlProcessV1) : sizeof(NvmlProcessV2);
            var mem = (byte*)NativeMemory.AllocZeroed((nuint)(size * Math.Max(1, count)));
            try
            {
                uint c = count;
                int rc = n.Procs(h, &c, mem);
                if (rc == 7) { count = c + 16; continue; } // INSUFFICIENT_SIZE
                if (rc != 0) return result;
                for (int i = 0; i < c; i++)
                {
                    uint pid; ulong used;
                    if (n.ProcsV1) { var p = ((NvmlProcessV1*)mem)[i]; pid = p.Pid; used = p.Used; }
                    else { var p = ((NvmlProcessV2*)mem)[i]; pid = p.Pid; used = p.Used; }
                    string? pname = null;
                    try { pname = System.Diagnostics.Process.GetProcessById((int)pid).ProcessName; } catch (Exception e) when (e is ArgumentException or InvalidOperationException) { }
                    result.Add(new GpuProcessInfo { ProcessId = (int)pid, ProcessName = pname, UsedMemory = used == NvmlValueNotAvailable ? null : (long)used });
                }
                return result;
            }
            finally { NativeMemory.Free(mem); }
        }
        return result;
    }

    private static string Str(byte* b) => Marshal.PtrToStringUTF8((nint)b) ?? "";

    // ---- CUDA driver API ----
    private sealed class Cuda
    {
        public readonly delegate* unmanaged<uint, int> Init;
        public readonly delegate* unmanaged<int*, int> Count;
        public readonly delegate* unmanaged<int*, int, int> DeviceGet;
        public readonly delegate* unmanaged<byte*, int, int> Uuid; // CUuuid*, CUdevice
        public readonly delegate* unmanaged<nint*, uint, int, int> CtxCreate;
        public readonly delegate* unmanaged<nint, int> CtxDestroy, CtxSetCurrent;
        public readonly delegate* unmanaged<ulong*, nuint, int> MemAlloc;
        public readonly delegate* unmanaged<ulong, int> MemFree;
        public readonly delegate* unmanaged<nuint*, nuint*, int> MemGetInfo;
        public readonly delegate* unmanaged<ulong, byte, nuint, int> MemsetD8;

        public Cuda()
        {
            var lib = Load(CudaLib, "CUDA driver API");
            Init = (delegate* unmanaged<uint, int>)Fn(lib, "cuInit");
            Count = (delegate* unmanaged<int*, int>)Fn(lib, "cuDeviceGetCount");
            DeviceGet = (delegate* unmanaged<int*, int, int>)Fn(lib, "cuDeviceGet");
            Uuid = (delegate* unmanaged<byte*, int, int>)Fn(lib, "cuDeviceGetUuid_v2", "cuDeviceGetUuid");
            CtxCreate = (delegate* unmanaged<nint*, uint, int, int>)Fn(lib, "cuCtxCreate_v2", "cuCtxCreate");
            CtxDestroy = (delegate* unmanaged<nint, int>)Fn(lib, "cuCtxDestroy_v2", "cuCtxDestroy");
            CtxSetCurrent = (delegate* unmanaged<nint, int>)Fn(lib, "cuCtxSetCurrent");
            MemAlloc = (delegate* unmanaged<ulong*, nuint, int>)Fn(lib, "cuMemAlloc_v2", "cuMemAlloc");
            MemFree = (delegate* unmanaged<ulong, int>)Fn(lib, "cuMemFree_v2", "cuMemFree");
            MemGetInfo = (delegate* unmanaged<nuint*, nuint*, int>)Fn(lib, "cuMemGetInfo_v2", "cuMemGetInfo");
            MemsetD8 = (delegate* unmanaged<ulong, byte, nuint, int>)Fn(lib, "cuMemsetD8_v2", "cuMemsetD8");
        }

        public static void Check(int rc, string call)
        {
            if (rc == 0) return;
            // 100 NO_DEVICE, 101 INVALID_DEVICE, 999 UNKNOWN, 3 NOT_INITIALIZED, 35 INSUFFICIENT_DRIVER
            var cat = rc is 100 or 101 ? ChaosErrorCategory.ObjectNotFound : rc == 35 ? ChaosErrorCategory.NotInstalled : ChaosErrorCategory.ResourceUnavailable;
            throw new ChaosException("CudaError", cat, $"CUDA {call} failed with CUresult {rc}.", call, "Check the GPU with nvidia-smi.");
        }
    }

    public IVramAllocator OpenAllocator(int index)
    {
        var dev = VramFill.Device(this, index);
        var cu = new Cuda();
        Cuda.Check(cu.Init(0), "cuInit");
        int count;
        Cuda.Check(cu.Count(&count), "cuDeviceGetCount");
        int ordinal = -1;
        var uuid = stackalloc byte[16];
        for (int i = 0; i < count && ordinal < 0; i++)
        {
            int d;
            if (cu.DeviceGet(&d, i) != 0 || cu.Uuid(uuid, d) != 0) continue;
            if (dev.Uuid.Contains(FormatUuid(uuid), StringComparison.OrdinalIgnoreCase)) ordinal = i;
        }
        if (ordinal < 0) ordinal = index < count ? index : throw new ChaosException("GpuNotFound", ChaosErrorCategory.ObjectNotFound, $"CUDA sees no device matching GPU {index} ({dev.Uuid}).", index);
        int device;
        Cuda.Check(cu.DeviceGet(&device, ordinal), "cuDeviceGet");
        nint ctx;
        Cuda.Check(cu.CtxCreate(&ctx, 0, device), "cuCtxCreate");
        return new Allocator(cu, ctx);
    }

    private static string FormatUuid(byte* b)
    {
        var s = new StringBuilder();
        for (int i = 0; i < 16; i++) { if (i is 4 or 6 or 8 or 10) s.Append('-'); s.Append(b[i].ToString("x2")); }
        return s.ToString();
    }

    private sealed class Allocator(Cuda cu, nint ctx) : IVramAllocator
    {
        private readonly HashSet<ulong> _live = [];
        private bool _disposed;

        private void Current() => Cuda.Check(cu.CtxSetCurrent(ctx), "cuCtxSetCurrent");

        public VramInfo MemGetInfo()
        {
            Current();
            nuint free, total;
            Cuda.Check(cu.MemGetInfo(&free, &total), "cuMemGetInfo");
            return new VramInfo((long)free, (long)total);
        }

        public bool TryAllocate(long bytes, out ulong handle)
        {
            Current();
            ulong p;
            int rc = cu.MemAlloc(&p, (nuint)bytes);
            handle = 0;
            if (rc == 2) return false; // CUDA_ERROR_OUT_OF_MEMORY
            Cuda.Check(rc, "cuMemAlloc");
            // Touch it, so the memory is really committed on the device.
            rc = cu.MemsetD8(p, 0x5a, (nuint)bytes);
            if (rc == 2) { cu.MemFree(p); return false; }
            Cuda.Check(rc, "cuMemsetD8");
            _live.Add(p);
            handle = p;
            return true;
        }

        public void Free(ulong handle)
        {
            Current();
            if (_live.Remove(handle)) Cuda.Check(cu.MemFree(handle), "cuMemFree");
        }

        public void Dispose()
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var p in _live) cu.MemFree(p);
            _live.Clear();
            cu.CtxDestroy(ctx);
        }
    }
}
