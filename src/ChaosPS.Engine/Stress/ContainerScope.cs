using ChaosPS.Docker;

namespace ChaosPS.Stress;

/// <summary>A running container a stressor is aimed at: its id, name and main process on the host.</summary>
public sealed record ScopedContainer(string Id, string Name, int Pid);

/// <summary>
/// Puts a host-side stressor "inside" a container the way pumba's --inject-cgroup does: the stressor process joins the
/// container's cgroups (CPU, memory, pids), so its load is charged to the container and the container's limits and
/// OOM scope apply to it; files are created through /proc/&lt;pid&gt;/root, i.e. in the container's own filesystem.
/// No program has to exist inside the image.
/// </summary>
public static class ContainerScope
{
    public static async Task<ScopedContainer> ResolveAsync(string nameOrId, CancellationToken ct)
    {
        using var client = await DockerEngine.ConnectAsync(null, ct).ConfigureAwait(false);
        global::Docker.DotNet.Models.ContainerInspectResponse info;
        try { info = await client.Containers.InspectContainerAsync(nameOrId, ct).ConfigureAwait(false); }
        catch (global::Docker.DotNet.DockerContainerNotFoundException)
        {
            throw new ChaosException("ContainerNotFound", ChaosErrorCategory.ObjectNotFound, $"No container '{nameOrId}' exists.", nameOrId, "Check the name with 'docker ps'.");
        }
        if (info.State is not { Running: true } || info.State.Pid <= 0)
            throw new ChaosException("ContainerNotRunning", ChaosErrorCategory.ResourceUnavailable, $"Container '{nameOrId}' is not running.", nameOrId, "Start the container first.");
        return new ScopedContainer(info.ID, info.Name.TrimStart('/'), (int)info.State.Pid);
    }

    /// <summary>Moves <paramref name="self"/> into every cgroup of <paramref name="containerPid"/>. Returns the files written.</summary>
    public static IReadOnlyList<string> Join(int containerPid, int self)
    {
        var joined = new List<string>();
        foreach (var f in Cgroups.ProcsFiles(containerPid))
        {
            try { File.WriteAllText(f, self.ToString()); joined.Add(f); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { /* a controller we may not join (e.g. the v2 root) */ }
        }
        if (joined.Count == 0)
            throw new ChaosException("CgroupJoinFailed", ChaosErrorCategory.PermissionDenied,
                $"Could not join the cgroups of container process {containerPid}.", containerPid, "Run as root on the Docker host.");
        return joined;
    }

    /// <summary>Memory limit and usage of the container's memory cgroup (v1 or v2); null when it has no limit or none is readable.</summary>
    public static (long Limit, long Usage)? MemoryOf(int containerPid) => Cgroups.MemoryLimitAndUsage(containerPid);

    /// <summary>The host path of <paramref name="pathInContainer"/> in the container's filesystem.</summary>
    public static string HostPath(ScopedContainer c, string pathInContainer) => $"/proc/{c.Pid}/root/{pathInContainer.TrimStart('/')}";
}
