using System.Globalization;

namespace ChaosPS.Stress;

/// <summary>Memory figures from /proc/meminfo, in bytes. Used = Total - Available (what `free` calls used, roughly).</summary>
public sealed record MemorySnapshot(long Total, long Available, long Free)
{
    public long Used => Total - Available;
    public double UsedPercent => Total == 0 ? 0 : 100.0 * Used / Total;
}

/// <summary>Cumulative CPU jiffies from /proc/stat (all CPUs).</summary>
public readonly record struct CpuTimes(long Busy, long Total)
{
    /// <summary>Busy percentage of all CPUs between two snapshots.</summary>
    public static double BusyPercent(CpuTimes a, CpuTimes b)
        => b.Total - a.Total <= 0 ? 0 : 100.0 * (b.Busy - a.Busy) / (b.Total - a.Total);
}

/// <summary>A filesystem as statvfs and /proc/self/mountinfo see it.</summary>
public sealed record FilesystemSnapshot(string Path, string MountPoint, string FsType, long Total, long Available, long Free)
{
    public long Used => Total - Free;
    /// <summary>Percent used as df shows it: used / (used + available).</summary>
    public double UsedPercent => Used + Available == 0 ? 0 : 100.0 * Used / (Used + Available);
    public bool IsRootFilesystem => MountPoint == "/";
}

/// <summary>Reads the Linux host's CPU, memory, filesystem and per-process figures the stressors measure with.</summary>
public static class HostStats
{
    public static readonly long ClockTicksPerSecond = 100; // USER_HZ on every mainstream Linux build

    public static MemorySnapshot ReadMemory()
    {
        long total = 0, avail = -1, free = 0;
        foreach (var line in File.ReadLines("/proc/meminfo"))
        {
            if (line.StartsWith("MemTotal:", StringComparison.Ordinal)) total = Kb(line);
            else if (line.StartsWith("MemAvailable:", StringComparison.Ordinal)) avail = Kb(line);
            else if (line.StartsWith("MemFree:", StringComparison.Ordinal)) free = Kb(line);
        }
        return new MemorySnapshot(total, avail < 0 ? free : avail, free);
        static long Kb(string l) => KbLine(l);
    }

    /// <summary>Bytes from a "Name:   1234 kB" line of /proc/meminfo or /proc/&lt;pid&gt;/status (a tab, and no space once the number is wide).</summary>
    public static long KbLine(string line)
        => long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;

    public static CpuTimes ReadCpu()
    {
        using var r = new StreamReader("/proc/stat");
        var first = r.ReadLine() ?? "";
        var f = first.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        // cpu user nice system idle iowait irq softirq steal guest guest_nice
        long v(int i) => f.Length > i ? long.Parse(f[i], CultureInfo.InvariantCulture) : 0;
        long idle = v(4) + v(5);
        long total = 0;
        for (int i = 1; i <= 8 && i < f.Length; i++) total += v(i);
        return new CpuTimes(total - idle, total);
    }

    public static int OnlineCpus => Environment.ProcessorCount;

    /// <summary>utime+stime of a process in clock ticks; null when it is gone.</summary>
    public static long? ProcessCpuTicks(int pid) => ProcStat.Read(pid) is { } stat ? stat.UserTicks + stat.SystemTicks : null;

    /// <summary>Resident set size of a process in bytes (VmRSS); null when it is gone.</summary>
    public static long? ProcessRss(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return KbLine(line);
            return 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Number of open descriptors of a process; null when it is gone or unreadable.</summary>
    public static int? ProcessFdCount(int pid)
    {
        try { return Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count(); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>ESTABLISHED TCP connections owned by a process (by its socket inodes) to any peer; null when gone.</summary>
    public static int? ProcessTcpEstablished(int pid) => ProcessTable.EstablishedConnections(pid);

    /// <summary>System-wide allocated file handles (first field of /proc/sys/fs/file-nr).</summary>
    public static long SystemFileHandles()
    {
        try { return long.Parse(File.ReadAllText("/proc/sys/fs/file-nr").Split('\t', ' ')[0], CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or FormatException) { return -1; }
    }

    public static FilesystemSnapshot ReadFilesystem(string path)
    {
        if (LinuxIo.statvfs(path, out var s) != 0)
        {
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            throw new ChaosException("FilesystemUnreadable", ChaosErrorCategory.ReadError, $"statvfs({path}) failed with errno {errno}.", path);
        }
        long frsize = (long)(s.Frsize == 0 ? s.Bsize : s.Frsize);
        var (mount, type) = MountOf(path);
        return new FilesystemSnapshot(path, mount, type, (long)s.Blocks * frsize, (long)s.Bavail * frsize, (long)s.Bfree * frsize);
    }

    /// <summary>The mount point and filesystem type that hold <paramref name="path"/> (longest matching mount point in /proc/self/mountinfo).</summary>
    public static (string MountPoint, string FsType) MountOf(string path)
    {
        var full = Path.GetFullPath(path);
        // A path inside a container (/proc/<pid>/root/...) is looked up in that process's own mount table.
        var mountinfo = "/proc/self/mountinfo";
        var m = System.Text.RegularExpressions.Regex.Match(full, @"^/proc/(\d+)/root(/.*)?$");
        if (m.Success) { mountinfo = $"/proc/{m.Groups[1].Value}/mountinfo"; full = m.Groups[2].Success ? m.Groups[2].Value : "/"; }
        else { try { full = new DirectoryInfo(full).ResolveLinkTarget(true)?.FullName ?? full; } catch (IOException) { } }
        string best = "/", type = "?";
        try
        {
            foreach (var line in File.ReadLines(mountinfo))
            {
                // id parent major:minor root mountpoint options ... - fstype source superopts
                var f = line.Split(' ');
                if (f.Length < 5) continue;
                var mp = Unescape(f[4]);
                int dash = Array.IndexOf(f, "-");
                var fstype = dash >= 0 && dash + 1 < f.Length ? f[dash + 1] : "?";
                bool under = mp == "/" || full == mp || full.StartsWith(mp.TrimEnd('/') + "/", StringComparison.Ordinal);
                if (under && mp.Length >= best.Length) { best = mp; type = fstype; }
            }
        }
        catch (IOException) { }
        return (best, type);
        static string Unescape(string s) => s.Replace("\\040", " ").Replace("\\011", "\t").Replace("\\012", "\n").Replace("\\134", "\\");
    }
}
