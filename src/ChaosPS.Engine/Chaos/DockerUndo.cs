using System.Globalization;
using ChaosPS.Docker;
using ChaosPS.Faults;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace ChaosPS.Chaos;

/// <summary>Unpauses a container paused by Suspend-ChaosTarget (undo step "docker-unpause").</summary>
public sealed class DockerUnpauseUndo : IUndoHandler
{
    public string Action => "docker-unpause";

    public static UndoStep Step(string containerId, string? endpoint)
    {
        var s = new UndoStep("docker-unpause", $"docker unpause {ChaosTarget.ShortId(containerId)}", ("container", containerId));
        if (endpoint is not null) s.Args["endpoint"] = endpoint;
        return s;
    }

    public async Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        using var client = await DockerEngine.ConnectAsync(step.Args.GetValueOrDefault("endpoint"), ct).ConfigureAwait(false);
        var id = step.Arg("container");
        ContainerInspectResponse r;
        try { r = await client.Containers.InspectContainerAsync(id, ct).ConfigureAwait(false); }
        catch (DockerContainerNotFoundException) { throw new UndoTargetGoneException($"container {ChaosTarget.ShortId(id)} was removed; nothing to unpause"); }
        if (r.State?.Paused != true) throw new UndoTargetGoneException($"container {ChaosTarget.ShortId(id)} is not paused ({r.State?.Status}); nothing to unpause");
        await client.Containers.UnpauseContainerAsync(id, ct).ConfigureAwait(false);
    }
}

/// <summary>Restores a container's memory limit (undo step "docker-update-memory") after Invoke-WorkerOom lowered it.</summary>
public sealed class DockerUpdateMemoryUndo : IUndoHandler
{
    public string Action => "docker-update-memory";

    public static UndoStep Step(string containerId, string? endpoint, long memory, long memorySwap)
    {
        var s = new UndoStep("docker-update-memory",
            $"restore the memory limit of container {ChaosTarget.ShortId(containerId)} to {(memory <= 0 ? "unlimited" : SizeParser.Format(memory))}",
            ("container", containerId), ("memory", memory.ToString(CultureInfo.InvariantCulture)), ("memorySwap", memorySwap.ToString(CultureInfo.InvariantCulture)));
        if (endpoint is not null) s.Args["endpoint"] = endpoint;
        return s;
    }

    public async Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        using var client = await DockerEngine.ConnectAsync(step.Args.GetValueOrDefault("endpoint"), ct).ConfigureAwait(false);
        var id = step.Arg("container");
        long memory = long.Parse(step.Arg("memory"), CultureInfo.InvariantCulture);
        long swap = long.Parse(step.Arg("memorySwap"), CultureInfo.InvariantCulture);
        try { await client.Containers.InspectContainerAsync(id, ct).ConfigureAwait(false); }
        catch (DockerContainerNotFoundException) { throw new UndoTargetGoneException($"container {ChaosTarget.ShortId(id)} was removed; its limit went with it"); }
        await ContainerMemory.SetLimitAsync(client, id, memory, swap, ct).ConfigureAwait(false);
    }
}

/// <summary>Reads and changes a container's memory limit through the Docker API.</summary>
public static class ContainerMemory
{
    /// <summary>Sets Memory/MemorySwap; 0 or less means "no limit" (sent as -1, which the engine passes on as unlimited).</summary>
    public static async Task SetLimitAsync(DockerClient client, string id, long memory, long memorySwap, CancellationToken ct)
    {
        var p = new ContainerUpdateParameters
        {
            Memory = memory > 0 ? memory : -1,
            MemorySwap = memorySwap > 0 || memorySwap == -1 ? memorySwap : -1,
        };
        await client.Containers.UpdateContainerAsync(id, p, ct).ConfigureAwait(false);
    }
}
