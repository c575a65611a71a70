using Microsoft.Diagnostics.NETCore.Client;

namespace ChaosPS.Diagnostics;

/// <summary>What Save-WorkerDump reports.</summary>
public sealed class WorkerDumpResult
{
    public int ProcessId { get; init; }
    public string Name { get; init; } = "";
    public string Path { get; init; } = "";
    public string DumpType { get; init; } = "";
    public long SizeBytes { get; init; }
    public TimeSpan Elapsed { get; init; }
    public DateTimeOffset At { get; init; }
}

/// <summary>Talks to .NET workers over their diagnostic port (Microsoft.Diagnostics.NETCore.Client): dumps and counters.</summary>
public static partial class WorkerDiagnostics
{
    /// <summary>True when the process exposes a .NET diagnostic port (it is a .NET process this user can reach).</summary>
    public static bool IsDotnet(int pid)
    {
        if (!DiagnosticsClient.GetPublishedProcesses().Contains(pid)) return false;
        if (!OperatingSystem.IsLinux()) return true;
        // The port is a socket named dotnet-diagnostic-<pid>-<start time>-socket. A .NET process killed hard leaves its
        // socket behind, and a later process that reuses the pid (a shell, a sleep) would look like .NET: only a socket
        // carrying this process's own start time (/proc/<pid>/stat field 22) counts.
        var stamp = ProcStat.Read(pid)?.StartStamp;
        if (stamp is null) return false;
        try { return File.Exists(Path.Combine(Path.GetTempPath(), $"dotnet-diagnostic-{pid}-{stamp}-socket")); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }

    internal static ChaosException NotDotnet(int pid) => new("NotADotnetProcess", ChaosErrorCategory.InvalidOperation,
        $"Process {pid} has no .NET diagnostic port: it is not a .NET process, runs in another container/mount namespace, or disabled diagnostics (DOTNET_EnableDiagnostics=0).",
        pid, "Aim at a .NET worker process on this host, as the same user.");

    /// <summary>Writes a dump of a .NET process into <paramref name="directory"/>; returns the file path.</summary>
    public static async Task<string> SaveDumpAsync(int pid, string directory, string dumpType, CancellationToken ct)
    {
        var r = await SaveDumpResultAsync(pid, directory, dumpType, ct).ConfigureAwait(false);
        return r.Path;
    }

    public static async Task<WorkerDumpResult> SaveDumpResultAsync(int pid, string directory, string dumpType, CancellationToken ct)
    {
        if (!IsDotnet(pid)) throw NotDotnet(pid);
        var type = dumpType switch
        {
            "Mini" => DumpType.Normal,
            "Heap" => DumpType.WithHeap,
            "Triage" => DumpType.Triage,
            _ => DumpType.Full,
        };
        Directory.CreateDirectory(directory);
        var name = ProcessTable.Read(pid)?.Name ?? "process";
        var path = System.IO.Path.GetFullPath(System.IO.Path.Combine(directory, $"{name}-{pid}-{DateTime.UtcNow:yyyyMMddTHHmmssfff}.dmp"));
        var sw = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            var client = new DiagnosticsClient(pid);
            await client.WriteDumpAsync(type, path, logDumpGeneration: false, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ServerNotAvailableException or ServerErrorException or UnsupportedCommandException or TimeoutException or IOException)
        {
            throw new ChaosException("DumpFailed", ChaosErrorCategory.InvalidOperation, $"Writing a dump of process {pid} failed: {e.Message}", pid,
                "Make sure the process is a .NET process run by this user and the folder is writable.");
        }
        return new WorkerDumpResult
        {
            ProcessId = pid, Name = name, Path = path, DumpType = dumpType, SizeBytes = new FileInfo(path).Length, Elapsed = sw.Elapsed, At = DateTimeOffset.UtcNow,
        };
    }
}
