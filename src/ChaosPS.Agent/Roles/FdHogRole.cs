using ChaosPS.Stress;
using Microsoft.Win32.SafeHandles;

namespace ChaosPS.Agent.Roles;

/// <summary>`chaosps-agent fd-hog --count N ...`: opens /dev/null N times and holds the descriptors until told to stop.</summary>
public sealed class FdHogRole : IAgentRole
{
    public string Name => "fd-hog";

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var a = new StressorArgs(args);
        using var life = a.Lifetime(ct);
        int count = a.Int("count", 1000);
        int baseFds = Directory.EnumerateFileSystemEntries("/proc/self/fd").Count() - 1; // minus the enumeration's own
        LinuxIo.RaiseFileLimit((ulong)(count + baseFds + 64));
        var held = new List<SafeFileHandle>(count);
        string? error = null;
        try
        {
            for (int i = 0; i < count; i++) held.Add(File.OpenHandle("/dev/null", FileMode.Open, FileAccess.Read));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { error = e.Message.Replace(' ', '_'); }
        StressorArgs.Say($"READY pid={Environment.ProcessId} held={held.Count} base={baseFds}" + (error is null ? "" : $" error={error}"));
        try { await Task.Delay(Timeout.Infinite, life.Token); } catch (OperationCanceledException) { }
        foreach (var h in held) h.Dispose();
        return 0;
    }
}
