using System.Globalization;

namespace ChaosPS;

/// <summary>The process table and socket tables as Linux's /proc shows them (one scanner for all of ChaosPS).</summary>
public static class Procfs
{
    /// <summary>The procfs mount; tests may point it elsewhere only through the parsing helpers, never here.</summary>
    public const string Root = "/proc";

    /// <summary>/proc/&lt;pid&gt;/&lt;entry&gt;.</summary>
    public static string PidPath(int pid, string entry) => $"{Root}/{pid.ToString(CultureInfo.InvariantCulture)}/{entry}";

    /// <summary>Every pid that has a directory in /proc now (it may be gone by the time it is read).</summary>
    public static IEnumerable<int> Pids()
    {
        foreach (var dir in Directory.EnumerateDirectories(Root))
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) yield return pid;
    }

    /// <summary>The arguments of a process from /proc/&lt;pid&gt;/cmdline (empty for a kernel thread); null when unreadable.</summary>
    public static string[]? CommandLine(int pid)
    {
        byte[] raw;
        try { raw = File.ReadAllBytes(PidPath(pid, "cmdline")); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return SplitCommandLine(raw);
    }

    /// <summary>Splits a NUL-separated cmdline (trailing NULs dropped).</summary>
    public static string[] SplitCommandLine(byte[] raw)
    {
        var text = System.Text.Encoding.UTF8.GetString(raw).TrimEnd('\0');
        return text.Length == 0 ? [] : text.Split('\0');
    }

    /// <summary>The socket inodes a process holds open, from the links in /proc/&lt;pid&gt;/fd; null when that folder cannot be read.</summary>
    public static HashSet<long>? SocketInodes(int pid)
    {
        var inodes = new HashSet<long>();
        try
        {
            foreach (var fd in Directory.EnumerateFileSystemEntries(PidPath(pid, "fd")))
            {
                string? link;
                try { link = new FileInfo(fd).LinkTarget; }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
                if (ParseSocketLink(link) is { } inode) inodes.Add(inode);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return inodes;
    }

    /// <summary>"socket:[1234]" → 1234; null for any other link.</summary>
    public static long? ParseSocketLink(string? link)
        => link is not null && link.StartsWith("socket:[", StringComparison.Ordinal) && link.EndsWith(']')
           && long.TryParse(link.AsSpan(8, link.Length - 9), NumberStyles.None, CultureInfo.InvariantCulture, out var inode) ? inode : null;

    /// <summary>TCP socket states as /proc/net/tcp writes them.</summary>
    public const string TcpEstablished = "01", TcpListen = "0A";

    /// <summary>
    /// The sockets of one TCP table (/proc/net/tcp, /proc/net/tcp6, or a process's own /proc/&lt;pid&gt;/net/tcp*) in
    /// <paramref name="state"/>: (inode, local port). An unreadable or missing table yields nothing.
    /// </summary>
    public static IEnumerable<(long Inode, int LocalPort)> TcpSockets(string table, string state)
    {
        string[] lines;
        try { lines = File.ReadAllLines(table); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { yield break; }
        foreach (var line in lines.Skip(1))
            if (ParseTcpLine(line, state) is { } s) yield return s;
    }

    /// <summary>One row of a /proc/net/tcp table when it is in <paramref name="state"/>; null otherwise or when malformed.</summary>
    public static (long Inode, int LocalPort)? ParseTcpLine(string line, string state)
    {
        var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (f.Length < 10 || f[3] != state) return null;
        var local = f[1];
        int colon = local.IndexOf(':');
        if (colon < 0 || !int.TryParse(local.AsSpan(colon + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var port)) return null;
        return long.TryParse(f[9], NumberStyles.None, CultureInfo.InvariantCulture, out var inode) && inode != 0 ? (inode, port) : null;
    }
}
