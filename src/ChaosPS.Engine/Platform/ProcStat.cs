using System.Globalization;

namespace ChaosPS;

/// <summary>
/// One line of /proc/&lt;pid&gt;/stat, parsed once for every reader in ChaosPS. The command name (field 2) may hold
/// spaces and parentheses, so the fixed fields are counted from the last ')'.
/// </summary>
/// <param name="Pid">Field 1.</param>
/// <param name="Comm">Field 2 without its parentheses (the kernel cuts it at 15 characters).</param>
/// <param name="State">Field 3: R, S, D, T, t, Z, X, ...</param>
/// <param name="ParentPid">Field 4.</param>
/// <param name="UserTicks">Field 14 (utime), in clock ticks.</param>
/// <param name="SystemTicks">Field 15 (stime), in clock ticks.</param>
/// <param name="StartStamp">Field 22 (starttime) as written: with the pid, an identity that survives pid reuse.</param>
/// <param name="ExitStatus">Field 52 (exit_code, Linux 3.5+): the wait status of a zombie; null when absent.</param>
public sealed record ProcStat(int Pid, string Comm, char State, int ParentPid, long UserTicks, long SystemTicks, string StartStamp, int? ExitStatus)
{
    /// <summary>True for a zombie or a dead process (state Z or X).</summary>
    public bool IsDead => State is 'Z' or 'X';

    /// <summary>The exit code a shell would report for <see cref="ExitStatus"/> (128+signal when killed); null without one.</summary>
    public int? ExitCode => ExitStatus is { } s ? ((s & 0x7f) != 0 ? 128 + (s & 0x7f) : (s >> 8) & 0xff) : null;

    /// <summary>Parses one stat line; null when it is not one (too few fields, no parenthesised name, a field that is no number).</summary>
    public static ProcStat? Parse(string? line)
    {
        if (line is null) return null;
        int open = line.IndexOf('('), close = line.LastIndexOf(')');
        if (open < 1 || close < open || close + 2 >= line.Length || line[close + 1] != ' ') return null;
        if (!int.TryParse(line.AsSpan(0, open).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)) return null;
        var rest = line[(close + 2)..].TrimEnd('\n', '\r', ' ').Split(' ');
        // rest[0] is field 3; field N is rest[N - 3].
        if (rest.Length < 20 || rest[0].Length != 1) return null;
        if (!int.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var ppid)
            || !long.TryParse(rest[11], NumberStyles.None, CultureInfo.InvariantCulture, out var utime)
            || !long.TryParse(rest[12], NumberStyles.None, CultureInfo.InvariantCulture, out var stime)
            || rest[19].Length == 0 || !rest[19].All(char.IsAsciiDigit))
            return null;
        int? exit = rest.Length > 49 && int.TryParse(rest[49], NumberStyles.Integer, CultureInfo.InvariantCulture, out var st) ? st : null;
        return new ProcStat(pid, line[(open + 1)..close], rest[0][0], ppid, utime, stime, rest[19], exit);
    }

    /// <summary>Reads and parses /proc/&lt;pid&gt;/stat; null when the process is gone, unreadable or the line is malformed.</summary>
    public static ProcStat? Read(int pid)
    {
        if (pid <= 0) return null;
        try { return Parse(File.ReadAllText(Procfs.PidPath(pid, "stat"))); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }
}
