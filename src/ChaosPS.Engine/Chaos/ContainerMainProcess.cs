using System.Globalization;

namespace ChaosPS.Chaos;

/// <summary>
/// A container's main process as this host sees it: the host pid the engine reports (container inspect State.Pid),
/// checked to be that container's process here (its cgroup names the container id), with its start stamp (so a reused
/// pid is never signalled) and what the kernel will do with a signal sent to it.
/// </summary>
public sealed class ContainerMainProcess
{
    public int Pid { get; init; }
    public string? StartStamp { get; init; }
    /// <summary>Pid 1 of its own pid namespace (NSpid ends in 1): the kernel drops signals it has no handler for, except SIGKILL/SIGSTOP from an ancestor namespace.</summary>
    public bool NamespaceInit { get; init; }
    /// <summary>SigCgt: the signals it has a handler for (bit n-1 for signal n).</summary>
    public ulong Caught { get; init; }
    /// <summary>SigIgn: the signals it ignores.</summary>
    public ulong Ignored { get; init; }

    public bool IsAlive => ProcessIdentity.IsAlive(Pid, StartStamp);

    /// <summary>Why the kernel will not act on <paramref name="signal"/> for this process; null when it will (a handler runs or the default action applies).</summary>
    public string? Drops(int signal)
    {
        if (signal is 9 or 19) return null;   // SIGKILL and SIGSTOP from the host always act
        ulong bit = 1UL << (signal - 1);
        var name = "SIG" + PosixSignals.NameOf(signal);
        if ((Ignored & bit) != 0) return $"the container's main process (host pid {Pid}) ignores {name} (SIG_IGN), so the kernel discards it";
        if (NamespaceInit && (Caught & bit) == 0)
            return $"the container's main process (host pid {Pid}) is pid 1 of its pid namespace and has no handler for {name}, so the kernel discards it (only SIGKILL and SIGSTOP from the host are forced on it)";
        return null;
    }

    /// <summary>
    /// Finds the container's main process here, or throws ContainerProcessNotVisible when the pid the engine reports is
    /// not that container's process from where ChaosPS runs (a remote engine, another pid namespace, not Linux).
    /// </summary>
    public static ContainerMainProcess Find(int pid, string containerId, ChaosTarget t)
    {
        if (!OperatingSystem.IsLinux())
            throw NotVisible(t, pid, "signalling a container's main process needs ChaosPS on the Linux host whose kernel runs the container");
        bool? inContainer = Cgroups.InContainer(pid, containerId);
        string? status = null;
        try { status = File.ReadAllText(Procfs.PidPath(pid, "status")); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        if (inContainer is null || status is null)
            throw NotVisible(t, pid, $"there is no process {pid} here (the engine runs on another host or in another pid namespace, or the container exited just now)");
        if (inContainer == false)
            throw NotVisible(t, pid, $"process {pid} here is not in the container's cgroup (the engine's pids are from another pid namespace)");
        string? nspid = null, cgt = null, ign = null;
        foreach (var line in status.Split('\n'))
        {
            if (line.StartsWith("NSpid:", StringComparison.Ordinal)) nspid = line[6..].Trim();
            else if (line.StartsWith("SigCgt:", StringComparison.Ordinal)) cgt = line[7..].Trim();
            else if (line.StartsWith("SigIgn:", StringComparison.Ordinal)) ign = line[7..].Trim();
        }
        return new ContainerMainProcess
        {
            Pid = pid,
            StartStamp = ProcessIdentity.StartStamp(pid),
            NamespaceInit = nspid?.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).LastOrDefault() == "1",
            Caught = ulong.TryParse(cgt, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var c) ? c : 0,
            Ignored = ulong.TryParse(ign, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var i) ? i : 0,
        };
    }

    private static ChaosException NotVisible(ChaosTarget t, int pid, string why) => new("ContainerProcessNotVisible", ChaosErrorCategory.ResourceUnavailable,
        $"Cannot crash {t.Display} with a signal to its main process (host pid {pid} by the engine): {why}.", t.Display,
        "Run ChaosPS on the Docker host in its pid namespace, or use -ContainerAction DockerKill (Docker records an API kill as a deliberate stop: restart policies do not fire).");
}
