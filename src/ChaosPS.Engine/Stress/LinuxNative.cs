using System.Runtime.InteropServices;

namespace ChaosPS.Stress;

/// <summary>The few libc calls the stressors need (Linux x86-64 / arm64 layouts).</summary>
public static unsafe partial class LinuxNative
{
    public const int PROT_READ = 1, PROT_WRITE = 2;
    public const int MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_POPULATE = 0x8000, MAP_NORESERVE = 0x4000;
    public const int RLIMIT_NOFILE = 7;
    public const int CLOCK_MONOTONIC = 1, CLOCK_PROCESS_CPUTIME_ID = 2, CLOCK_THREAD_CPUTIME_ID = 3;
    public const int ENOSPC = 28, EOPNOTSUPP = 95, EINVAL = 22, EMFILE = 24, EINTR = 4;

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec { public long Sec; public long Nsec; }

    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit { public ulong Cur; public ulong Max; }

    [StructLayout(LayoutKind.Sequential)]
    public struct StatVfs
    {
        public ulong Bsize, Frsize, Blocks, Bfree, Bavail, Files, Ffree, Favail, Fsid, Flag, Namemax;
        public fixed int Spare[6];
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    public static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    public static partial int Munmap(nint addr, nuint length);

    /// <summary>Returns 0 or an errno (posix_fallocate does not set errno).</summary>
    [LibraryImport("libc", EntryPoint = "posix_fallocate")]
    public static partial int PosixFallocate(int fd, long offset, long len);

    [LibraryImport("libc", EntryPoint = "statvfs", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Statvfs(string path, out StatVfs buf);

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    public static partial int GetRLimit(int resource, out RLimit rlim);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    public static partial int SetRLimit(int resource, in RLimit rlim);

    [LibraryImport("libc", EntryPoint = "prlimit", SetLastError = true)]
    public static partial int PrLimit(int pid, int resource, RLimit* newLimit, RLimit* oldLimit);

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    public static partial int ClockGettime(int clock, out Timespec ts);

    [LibraryImport("libc", EntryPoint = "clock_nanosleep")]
    private static partial int ClockNanosleep(int clock, int flags, in Timespec request, out Timespec remain);

    [LibraryImport("libc", EntryPoint = "madvise", SetLastError = true)]
    public static partial int Madvise(nint addr, nuint length, int advice);

    public const int MADV_POPULATE_WRITE = 23;

    [LibraryImport("libc", EntryPoint = "access", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int Access(string path, int mode);

    /// <summary>prlimit(pid, resource): reads the old limit and, when <paramref name="set"/> is given, sets a new one. Returns 0 or errno.</summary>
    public static int PrLimitSafe(int pid, int resource, RLimit? set, out RLimit old)
    {
        RLimit o = default;
        int rc;
        if (set is { } n) rc = PrLimit(pid, resource, &n, &o);
        else rc = PrLimit(pid, resource, null, &o);
        old = o;
        return rc == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>CPU time consumed by the calling thread, in nanoseconds.</summary>
    public static long ThreadCpuNanoseconds()
    {
        ClockGettime(CLOCK_THREAD_CPUTIME_ID, out var ts);
        return ts.Sec * 1_000_000_000L + ts.Nsec;
    }

    /// <summary>CPU time consumed by the whole calling process (every thread), in nanoseconds.</summary>
    public static long ProcessCpuNanoseconds()
    {
        ClockGettime(CLOCK_PROCESS_CPUTIME_ID, out var ts);
        return ts.Sec * 1_000_000_000L + ts.Nsec;
    }

    /// <summary>Sleeps <paramref name="ns"/> nanoseconds (CLOCK_MONOTONIC, sub-millisecond; an interrupted sleep just returns early).</summary>
    public static void SleepNanoseconds(long ns)
    {
        if (ns <= 0) return;
        var req = new Timespec { Sec = ns / 1_000_000_000L, Nsec = ns % 1_000_000_000L };
        ClockNanosleep(CLOCK_MONOTONIC, 0, req, out _);
    }

    /// <summary>Raises the soft descriptor limit to <paramref name="wanted"/> (and the hard limit too when allowed). Returns the soft limit now in force.</summary>
    public static ulong RaiseFileLimit(ulong wanted)
    {
        if (GetRLimit(RLIMIT_NOFILE, out var lim) != 0) return 1024;
        if (lim.Cur >= wanted) return lim.Cur;
        var want = new RLimit { Cur = wanted, Max = Math.Max(lim.Max, wanted) };
        if (SetRLimit(RLIMIT_NOFILE, want) == 0) return wanted;
        var soft = new RLimit { Cur = Math.Min(wanted, lim.Max), Max = lim.Max };
        if (SetRLimit(RLIMIT_NOFILE, soft) == 0) return soft.Cur;
        return lim.Cur;
    }
}
