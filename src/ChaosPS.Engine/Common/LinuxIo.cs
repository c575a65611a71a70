using System.Runtime.InteropServices;

namespace ChaosPS;

/// <summary>
/// The Linux system calls behind ChaosPS's own event loops (the load generator's <c>EpollEngine</c> and the proxy's
/// <c>RelayLoop</c>): epoll, non-blocking socket I/O, timerfd and eventfd. The epoll_event layout is x64's (packed);
/// callers check <see cref="Supported"/>.
/// </summary>
internal static unsafe class LinuxIo
{
    public static bool Supported => OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture == Architecture.X64;

    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    public struct EpollEvent { public uint Events; public ulong Data; }
    [StructLayout(LayoutKind.Sequential)]
    public struct ITimerSpec { public long IntervalSec, IntervalNsec, ValueSec, ValueNsec; }

    public const uint EPOLLIN = 0x1, EPOLLOUT = 0x4, EPOLLERR = 0x8, EPOLLHUP = 0x10, EPOLLRDHUP = 0x2000;
    public const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public const int MSG_NOSIGNAL = 0x4000, SHUT_WR = 1;
    public const int EINTR = 4, EAGAIN = 11, EPIPE = 32, ECONNRESET = 104, ETIMEDOUT = 110, ECONNREFUSED = 111;

    [DllImport("libc", SetLastError = true)] public static extern int epoll_create1(int flags);
    [DllImport("libc", SetLastError = true)] public static extern int epoll_ctl(int epfd, int op, int fd, EpollEvent* ev);
    [DllImport("libc", SetLastError = true)] public static extern int epoll_wait(int epfd, EpollEvent* events, int max, int timeout);
    [DllImport("libc", SetLastError = true)] public static extern nint recv(int fd, byte* buf, nint len, int flags);
    [DllImport("libc", SetLastError = true)] public static extern nint send(int fd, byte* buf, nint len, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int shutdown(int fd, int how);
    [DllImport("libc", SetLastError = true)] public static extern int getsockopt(int fd, int level, int name, int* value, int* len);
    [DllImport("libc", SetLastError = true)] public static extern int timerfd_create(int clock, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int timerfd_settime(int fd, int flags, ITimerSpec* value, ITimerSpec* old);
    [DllImport("libc", SetLastError = true)] public static extern int eventfd(uint initval, int flags);
    [DllImport("libc", SetLastError = true)] public static extern nint read(int fd, byte* buf, nint len);
    [DllImport("libc", SetLastError = true)] public static extern nint write(int fd, byte* buf, nint len);
    [DllImport("libc", SetLastError = true)] public static extern int close(int fd);
}
