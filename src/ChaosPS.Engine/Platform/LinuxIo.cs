using System.Runtime.InteropServices;

namespace ChaosPS;

/// <summary>
/// Every libc call ChaosPS makes, in one style: <c>[LibraryImport]</c> (source-generated marshalling) under the C
/// name, <c>SetLastError = true</c> where the call reports through errno (read it with
/// <see cref="Marshal.GetLastPInvokeError"/>), and the Linux x86-64 / arm64 layouts. The event-loop calls (epoll,
/// non-blocking socket I/O, timerfd, eventfd) serve the load generator's <c>EpollEngine</c> and the proxy's
/// <c>RelayLoop</c>; their epoll_event layout is x64's (packed), so those callers check <see cref="Supported"/>.
/// </summary>
public static unsafe partial class LinuxIo
{
    /// <summary>True where the event-loop calls may be used (Linux x86-64).</summary>
    public static bool Supported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    // errno values (Linux).
    public const int EINTR = 4, EAGAIN = 11, EINVAL = 22, EMFILE = 24, ENOSPC = 28, EPIPE = 32, EOPNOTSUPP = 95,
                     ECONNRESET = 104, ETIMEDOUT = 110, ECONNREFUSED = 111;

    // ---- epoll, sockets, timerfd, eventfd -------------------------------------------------------------------------

    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    public struct EpollEvent { public uint Events; public ulong Data; }
    [StructLayout(LayoutKind.Sequential)]
    public struct ITimerSpec { public long IntervalSec, IntervalNsec, ValueSec, ValueNsec; }

    public const uint EPOLLIN = 0x1, EPOLLOUT = 0x4, EPOLLERR = 0x8, EPOLLHUP = 0x10, EPOLLRDHUP = 0x2000;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public const uint EPOLLEXCLUSIVE = 1u << 28;
    public const int MSG_NOSIGNAL = 0x4000, MSG_MORE = 0x8000, SHUT_WR = 1;
    public const int EINPROGRESS = 115;

    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_create1(int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);
    [LibraryImport("libc", SetLastError = true)] public static partial int epoll_wait(int epfd, EpollEvent* events, int max, int timeout);
    [LibraryImport("libc", SetLastError = true)] public static partial nint recv(int fd, byte* buf, nint len, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial nint send(int fd, byte* buf, nint len, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int shutdown(int fd, int how);
    [LibraryImport("libc", SetLastError = true)] public static partial int getsockopt(int fd, int level, int name, int* value, int* len);
    [LibraryImport("libc", SetLastError = true)] public static partial int connect(int fd, byte* addr, int len);
    [LibraryImport("libc", SetLastError = true)] public static partial int pipe2(int* fds, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial nint splice(int fdIn, long* offIn, int fdOut, long* offOut, nuint len, uint flags);
    /// <summary>fcntl(2) with an int argument (F_SETPIPE_SZ and the like).</summary>
    [LibraryImport("libc", SetLastError = true)] public static partial int fcntl(int fd, int cmd, int arg);
    public const int O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000, F_SETPIPE_SZ = 1031;
    /// <summary>ioctl(2) with an int* argument (FIONBIO: non-blocking in one call, where fcntl takes F_GETFL + F_SETFL).</summary>
    [LibraryImport("libc", SetLastError = true)] public static partial int ioctl(int fd, nuint request, int* arg);
    public const nuint FIONBIO = 0x5421;
    [LibraryImport("libc", SetLastError = true)] public static partial int poll(PollFd* fds, nuint count, int timeoutMs);
    public const short POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10;
    [StructLayout(LayoutKind.Sequential)] public struct PollFd { public int Fd; public short Events, Revents; }
    public const uint SPLICE_F_MOVE = 1, SPLICE_F_NONBLOCK = 2;
    [LibraryImport("libc", SetLastError = true)] public static partial int timerfd_create(int clock, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial int timerfd_settime(int fd, int flags, ITimerSpec* value, ITimerSpec* old);
    [LibraryImport("libc", SetLastError = true)] public static partial int eventfd(uint initval, int flags);
    [LibraryImport("libc", SetLastError = true)] public static partial nint read(int fd, byte* buf, nint len);
    [LibraryImport("libc", SetLastError = true)] public static partial nint write(int fd, byte* buf, nint len);
    [LibraryImport("libc", SetLastError = true)] public static partial int close(int fd);

    // ---- processes, files, identity ------------------------------------------------------------------------------

    [LibraryImport("libc", SetLastError = true)] public static partial int kill(int pid, int sig);
    [LibraryImport("libc")] public static partial uint geteuid();
    /// <summary>statx(2) into a caller's buffer (256 bytes is enough); the struct layout is fixed by the kernel.</summary>
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statx(int dirfd, string path, int flags, uint mask, byte* buf);
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int access(string path, int mode);

    [StructLayout(LayoutKind.Sequential)]
    public struct StatVfs
    {
        public ulong Bsize, Frsize, Blocks, Bfree, Bavail, Files, Ffree, Favail, Fsid, Flag, Namemax;
        public fixed int Spare[6];
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int statvfs(string path, out StatVfs buf);

    /// <summary>Returns 0 or an errno (posix_fallocate does not set errno).</summary>
    [LibraryImport("libc")] public static partial int posix_fallocate(int fd, long offset, long len);

    // ---- memory ----------------------------------------------------------------------------------------------------

    public const int PROT_READ = 1, PROT_WRITE = 2;
    public const int MAP_PRIVATE = 0x02, MAP_ANONYMOUS = 0x20, MAP_POPULATE = 0x8000, MAP_NORESERVE = 0x4000;
    public const int MADV_POPULATE_WRITE = 23;

    [LibraryImport("libc", SetLastError = true)] public static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);
    [LibraryImport("libc", SetLastError = true)] public static partial int munmap(nint addr, nuint length);
    [LibraryImport("libc", SetLastError = true)] public static partial int madvise(nint addr, nuint length, int advice);

    // ---- resource limits -------------------------------------------------------------------------------------------

    public const int RLIMIT_NOFILE = 7;

    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit { public ulong Cur; public ulong Max; }

    [LibraryImport("libc", SetLastError = true)] public static partial int getrlimit(int resource, out RLimit rlim);
    [LibraryImport("libc", SetLastError = true)] public static partial int setrlimit(int resource, in RLimit rlim);
    [LibraryImport("libc", SetLastError = true)] public static partial int prlimit(int pid, int resource, RLimit* newLimit, RLimit* oldLimit);

    /// <summary>prlimit(pid, resource): reads the old limit and, when <paramref name="set"/> is given, sets a new one. Returns 0 or errno.</summary>
    public static int PrLimitSafe(int pid, int resource, RLimit? set, out RLimit old)
    {
        RLimit o = default;
        int rc;
        if (set is { } n) rc = prlimit(pid, resource, &n, &o);
        else rc = prlimit(pid, resource, null, &o);
        old = o;
        return rc == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>Raises the soft descriptor limit to <paramref name="wanted"/> (and the hard limit too when allowed). Returns the soft limit now in force.</summary>
    public static ulong RaiseFileLimit(ulong wanted)
    {
        if (getrlimit(RLIMIT_NOFILE, out var lim) != 0) return 1024;
        if (lim.Cur >= wanted) return lim.Cur;
        var want = new RLimit { Cur = wanted, Max = Math.Max(lim.Max, wanted) };
        if (setrlimit(RLIMIT_NOFILE, want) == 0) return wanted;
        var soft = new RLimit { Cur = Math.Min(wanted, lim.Max), Max = lim.Max };
        if (setrlimit(RLIMIT_NOFILE, soft) == 0) return soft.Cur;
        return lim.Cur;
    }

    // ---- clocks ------------------------------------------------------------------------------------------------------

    public const int CLOCK_MONOTONIC = 1, CLOCK_PROCESS_CPUTIME_ID = 2, CLOCK_THREAD_CPUTIME_ID = 3;

    [StructLayout(LayoutKind.Sequential)]
    public struct Timespec { public long Sec; public long Nsec; }

    [LibraryImport("libc")] public static partial int clock_gettime(int clock, out Timespec ts);
    [LibraryImport("libc")] private static partial int clock_nanosleep(int clock, int flags, in Timespec request, out Timespec remain);

    /// <summary>CPU time consumed by the calling thread, in nanoseconds.</summary>
    public static long ThreadCpuNanoseconds()
    {
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, out var ts);
        return ts.Sec * 1_000_000_000L + ts.Nsec;
    }

    /// <summary>CPU time consumed by the whole calling process (every thread), in nanoseconds.</summary>
    public static long ProcessCpuNanoseconds()
    {
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, out var ts);
        return ts.Sec * 1_000_000_000L + ts.Nsec;
    }

    /// <summary>Sleeps <paramref name="ns"/> nanoseconds (CLOCK_MONOTONIC, sub-millisecond; an interrupted sleep just returns early).</summary>
    public static void SleepNanoseconds(long ns)
    {
        if (ns <= 0) return;
        var req = new Timespec { Sec = ns / 1_000_000_000L, Nsec = ns % 1_000_000_000L };
        clock_nanosleep(CLOCK_MONOTONIC, 0, req, out _);
    }
}
