using System.Globalization;

namespace ChaosPS.Chaos;

/// <summary>One process as /proc shows it.</summary>
public sealed record ProcInfo(int Pid, int ParentPid, string Name, string CommandLine, char State, string? StartStamp);

/// <summary>Reads the Linux process table from /proc: names, command lines, parents and listening TCP ports.</summary>
public static class ProcessTable
{
    public static ProcInfo? Read(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            int open = stat.IndexOf('('), close = stat.LastIndexOf(')');
            var comm = stat[(open + 1)..close];
            var rest = stat[(close + 2)..].Split(' ');
            char state = rest[0][0];
            int ppid = int.Parse(rest[1], CultureInfo.InvariantCulture);
            string cmd = "";
            try
            {
                var raw = File.ReadAllBytes($"/proc/{pid}/cmdline");
                cmd = System.Text.Encoding.UTF8.GetString(raw).TrimEnd('\0').Replace('\0', ' ');
            }
            catch (IOException) { }
            // comm is cut at 15 characters; the executable's file name is more useful when it is longer.
            var name = comm;
            if (comm.Length >= 15 && cmd.Length > 0)
            {
                var first = Path.GetFileName(cmd.Split(' ')[0]);
                if (first.StartsWith(comm, StringComparison.Ordinal)) name = first;
            }
            return new ProcInfo(pid, ppid, name, cmd, state, rest[19]);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
        {
            return null;
        }
    }

    public static IEnumerable<ProcInfo> All()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) continue;
            if (Read(pid) is { } p && p.State is not 'Z' and not 'X') yield return p;
        }
    }

    /// <summary>The pids of <paramref name="pid"/> and all its ancestors up to (and including) 1.</summary>
    public static HashSet<int> Ancestry(int pid)
    {
        var set = new HashSet<int>();
        for (int p = pid, i = 0; p > 0 && i < 256 && set.Add(p); i++)
            p = Read(p)?.ParentPid ?? 0;
        return set;
    }

    /// <summary>Listening TCP ports (IPv4 and IPv6) by socket inode.</summary>
    public static Dictionary<long, int> ListeningSocketInodes()
    {
        var map = new Dictionary<long, int>();
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            string[] lines;
            try { lines = File.ReadAllLines(file); } catch (IOException) { continue; }
            foreach (var line in lines.Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length < 10 || f[3] != "0A") continue; // 0A = LISTEN
                var local = f[1];
                int port = int.Parse(local[(local.IndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                if (long.TryParse(f[9], out var inode) && inode != 0) map[inode] = port;
            }
        }
        return map;
    }

    /// <summary>The TCP ports a process listens on (needs permission to read its /proc/&lt;pid&gt;/fd).</summary>
    public static int[] ListeningPorts(int pid, Dictionary<long, int>? inodes = null)
    {
        inodes ??= ListeningSocketInodes();
        if (inodes.Count == 0) return [];
        var ports = new SortedSet<int>();
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
            {
                string? link;
                try { link = new FileInfo(fd).LinkTarget; } catch (IOException) { continue; } catch (UnauthorizedAccessException) { continue; }
                if (link is null || !link.StartsWith("socket:[", StringComparison.Ordinal)) continue;
                if (long.TryParse(link.AsSpan(8, link.Length - 9), out var inode) && inodes.TryGetValue(inode, out var port)) ports.Add(port);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return ports.ToArray();
    }

    /// <summary>The memory cgroup of a process: (v1 or v2, path relative to the hierarchy root); null when unknown.</summary>
    public static (bool V2, string Path)? MemoryCgroup(int pid)
    {
        try
        {
            foreach (var line in File.ReadAllLines($"/proc/{pid}/cgroup"))
            {
                var parts = line.Split(':', 3);
                if (parts.Length < 3) continue;
                if (parts[1].Split(',').Contains("memory")) return (false, parts[2]);
            }
            foreach (var line in File.ReadAllLines($"/proc/{pid}/cgroup"))
                if (line.StartsWith("0::", StringComparison.Ordinal)) return (true, line[3..]);
        }
        catch (IOException) { }
        return null;
    }
}
