using System.Diagnostics;
using System.Runtime.InteropServices;

namespace ChaosPS;

/// <summary>POSIX signals by name, and sending them to real processes.</summary>
public static class PosixSignals
{
    // Linux numbering (x86-64 and arm64 agree on these).
    private static readonly Dictionary<string, int> Numbers = new(StringComparer.OrdinalIgnoreCase)
    {
        ["HUP"] = 1, ["INT"] = 2, ["QUIT"] = 3, ["ILL"] = 4, ["TRAP"] = 5, ["ABRT"] = 6, ["BUS"] = 7, ["FPE"] = 8,
        ["KILL"] = 9, ["USR1"] = 10, ["SEGV"] = 11, ["USR2"] = 12, ["PIPE"] = 13, ["ALRM"] = 14, ["TERM"] = 15,
        ["CHLD"] = 17, ["CONT"] = 18, ["STOP"] = 19, ["TSTP"] = 20,
    };

    public static IReadOnlyCollection<string> Names => Numbers.Keys;

    /// <summary>"KILL", "SIGKILL", "9" → 9; throws InvalidSignal otherwise.</summary>
    public static int Parse(string name)
    {
        var n = name.Trim();
        if (n.StartsWith("SIG", StringComparison.OrdinalIgnoreCase)) n = n[3..];
        if (Numbers.TryGetValue(n, out var num)) return num;
        if (int.TryParse(n, out num) && num is > 0 and < 65) return num;
        throw ChaosException.InvalidArgument("InvalidSignal", $"'{name}' is not a signal ChaosPS knows. Use one of: {string.Join(", ", Numbers.Keys)}.", name);
    }

    public static string NameOf(int signal) => Numbers.FirstOrDefault(kv => kv.Value == signal).Key ?? signal.ToString();

    /// <summary>Sends a signal; returns false when the process no longer exists (ESRCH). Throws on other errors.</summary>
    public static bool Send(int pid, int signal)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            if (signal != 9 && signal != 15)
                throw new ChaosException("SignalNotSupported", ChaosErrorCategory.NotImplemented, $"Signal {NameOf(signal)} is only supported on Linux and macOS.", pid);
            try { Process.GetProcessById(pid).Kill(); return true; } catch (ArgumentException) { return false; }
        }
        if (LinuxIo.kill(pid, signal) == 0) return true;
        int errno = Marshal.GetLastPInvokeError();
        if (errno == 3) return false; // ESRCH
        throw new ChaosException("SignalFailed", errno == 1 ? ChaosErrorCategory.PermissionDenied : ChaosErrorCategory.InvalidOperation,
            $"Sending SIG{NameOf(signal)} to process {pid} failed: errno {errno}{(errno == 1 ? " (permission denied)" : "")}.", pid,
            errno == 1 ? "Run as a user allowed to signal that process (same user, or root)." : null);
    }
}

/// <summary>Process identity that survives PID reuse: the PID plus its start time.</summary>
public static class ProcessIdentity
{
    /// <summary>A stable start stamp for <paramref name="pid"/>: /proc/&lt;pid&gt;/stat field 22 on Linux, else StartTime ticks; null when gone.</summary>
    public static string? StartStamp(int pid) => Read(pid).Stamp;

    /// <summary>True when the process with this PID is the same one (same start stamp) and still exists (not a zombie).</summary>
    public static bool IsAlive(int pid, string? startStamp)
    {
        if (pid <= 0) return false;
        var (stamp, state) = Read(pid);   // one read of /proc/<pid>/stat: this is polled often
        if (stamp is null || state is 'Z' or 'X') return false;
        return startStamp is null || stamp == startStamp;
    }

    /// <summary>Start stamp and state letter of a process, from one read; (null, '?') when it is gone.</summary>
    private static (string? Stamp, char State) Read(int pid)
    {
        if (OperatingSystem.IsLinux())
            return ProcStat.Read(pid) is { } stat ? (stat.StartStamp, stat.State) : (null, '?');
        try
        {
            using var p = Process.GetProcessById(pid);
            return (p.StartTime.ToUniversalTime().Ticks.ToString(), '?');
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or UnauthorizedAccessException) { return (null, '?'); }
    }

    /// <summary>The state letter from /proc/&lt;pid&gt;/stat (R, S, D, T, Z, ...); '?' when unknown.</summary>
    public static char ProcessState(int pid) => ProcStat.Read(pid)?.State ?? '?';
}
