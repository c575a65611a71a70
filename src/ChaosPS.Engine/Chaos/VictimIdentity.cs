namespace ChaosPS.Chaos;

/// <summary>
/// Who a worker fault hit, as every result of one names it (<see cref="CrashResult"/>, <see cref="OomResult"/>): the
/// target as a person reads it, its kind and name, the host pid and container the fault acted on, the worker id, command
/// line, URI and Docker endpoint. The results keep these as their own flat properties (users and the format views read
/// <c>$r.ProcessId</c>, <c>$r.Name</c>), forwarding here.
/// </summary>
internal sealed record VictimIdentity
{
    public static readonly VictimIdentity None = new();

    /// <summary>How a person names it: "process 1234 (sleep)", "container web-1 (3f2a9c1b2d4e)".</summary>
    public string Target { get; init; } = "";
    public string Kind { get; init; } = "";
    public string Name { get; init; } = "";
    public int? ProcessId { get; init; }
    public string? ContainerId { get; init; }
    public string? WorkerId { get; init; }
    public string? CommandLine { get; init; }
    public string? Uri { get; init; }
    public string? DockerEndpoint { get; init; }

    /// <summary>A host process the fault acted on by its pid.</summary>
    public static VictimIdentity OfProcess(ChaosTarget t, int? pid) => new()
    {
        Target = t.Display, Kind = t.Kind, Name = t.Name, ProcessId = pid, WorkerId = t.WorkerId, CommandLine = t.CommandLine, Uri = t.Uri,
    };

    /// <summary>A container the fault acted on (by its id, and its main process's host pid when known).</summary>
    public static VictimIdentity OfContainer(ChaosTarget t, int? pid, string containerId)
        => OfProcess(t, pid) with { ContainerId = containerId, DockerEndpoint = t.DockerEndpoint };
}
