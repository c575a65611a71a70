namespace ChaosPS;

/// <summary>One process as /proc shows it.</summary>
public sealed record ProcInfo(int Pid, int ParentPid, string Name, string CommandLine, char State, string? StartStamp);

/// <summary>Reads the Linux process table from /proc: names, command lines, parents and listening TCP ports.</summary>
public static class ProcessTable
{
    public static ProcInfo? Read(int pid)
    {
        if (ProcStat.Read(pid) is not { } stat) return null;
        var cmd = string.Join(' ', Procfs.CommandLine(pid) ?? []);
        return new ProcInfo(pid, stat.ParentPid, DisplayName(stat.Comm, cmd), cmd, stat.State, stat.StartStamp);
    }

    /// <summary>comm is cut at 15 characters; the executable's file name is more useful when it is longer.</summary>
    public static string DisplayName(string comm, string commandLine)
    {
        if (comm.Length >= 15 && commandLine.Length > 0)
        {
            var first = Path.GetFileName(commandLine.Split(' ')[0]);
            if (first.StartsWith(comm, StringComparison.Ordinal)) return first;
        }
        return comm;
    }

    /// <summary>Every live process (zombies left out).</summary>
    public static IEnumerable<ProcInfo> All()
    {
        foreach (var pid in Procfs.Pids())
            if (Read(pid) is { } p && p.State is not 'Z' and not 'X') yield return p;
    }

    /// <summary>The pids of <paramref name="pid"/> and all its ancestors up to (and including) 1.</summary>
    public static HashSet<int> Ancestry(int pid)
    {
        var set = new HashSet<int>();
        for (int p = pid, i = 0; p > 0 && i < 256 && set.Add(p); i++)
            p = ProcStat.Read(p)?.ParentPid ?? 0;
        return set;
    }

    /// <summary>Listening TCP ports (IPv4 and IPv6) by socket inode.</summary>
    public static Dictionary<long, int> ListeningSocketInodes()
    {
        var map = new Dictionary<long, int>();
        foreach (var table in new[] { $"{Procfs.Root}/net/tcp", $"{Procfs.Root}/net/tcp6" })
            foreach (var (inode, port) in Procfs.TcpSockets(table, Procfs.TcpListen)) map[inode] = port;
        return map;
    }

    /// <summary>The TCP ports a process listens on (needs permission to read its /proc/&lt;pid&gt;/fd).</summary>
    public static int[] ListeningPorts(int pid, Dictionary<long, int>? inodes = null)
    {
        inodes ??= ListeningSocketInodes();
        if (inodes.Count == 0) return [];
        var ports = new SortedSet<int>();
        foreach (var inode in Procfs.SocketInodes(pid) ?? [])
            if (inodes.TryGetValue(inode, out var port)) ports.Add(port);
        return ports.ToArray();
    }

    /// <summary>ESTABLISHED TCP connections owned by a process (by its socket inodes) to any peer; null when it is gone.</summary>
    public static int? EstablishedConnections(int pid)
    {
        if (Procfs.SocketInodes(pid) is not { } inodes) return null;
        int n = 0;
        foreach (var table in new[] { Procfs.PidPath(pid, "net/tcp"), Procfs.PidPath(pid, "net/tcp6") })
            foreach (var (inode, _) in Procfs.TcpSockets(table, Procfs.TcpEstablished))
                if (inodes.Contains(inode)) n++;
        return n;
    }
}
