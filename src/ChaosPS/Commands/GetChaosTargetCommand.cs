using System.Management.Automation;
using ChaosPS.Chaos;

namespace ChaosPS.Commands;

/// <summary>
/// Selects processes and containers to aim worker chaos at, as typed objects. Nothing is selected without a criterion;
/// protected targets (PID 1, this pwsh and its parents, the container engine) are refused unless -Force.
/// </summary>
[Cmdlet(VerbsCommon.Get, "ChaosTarget")]
[OutputType(typeof(ChaosTarget))]
public sealed class GetChaosTargetCommand : ChaosCmdlet
{
    /// <summary>Process or container names (wildcards allowed).</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ValidateNotBlank, ValidateWildcard]
    public string[]? Name { get; set; }

    /// <summary>Process ids, or container ids (prefixes) / names.</summary>
    [Parameter]
    [ValidateNotBlank]
    public string[]? Id { get; set; }

    /// <summary>A wildcard pattern matched against the whole command line (processes).</summary>
    [Parameter]
    [SupportsWildcards]
    [ValidateNotBlank, ValidateWildcard]
    public string? CommandLine { get; set; }

    /// <summary>A regular expression matched against the name (processes: also the command line).</summary>
    [Parameter]
    [ValidateNotBlank]
    public string? Regex { get; set; }

    /// <summary>Processes listening on these TCP ports.</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int[]? Port { get; set; }

    /// <summary>Container labels, "key" or "key=value"; all must match. Implies -Kind Container.</summary>
    [Parameter]
    [ValidateNotBlank]
    public string[]? Label { get; set; }

    /// <summary>Process (default) or Container.</summary>
    [Parameter]
    [ValidateSet("Process", "Container")]
    public string? Kind { get; set; }

    /// <summary>Process ids from the pipeline (e.g. the embedded testbed's workers).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank(AllowNull = true), ValidateRange(0, int.MaxValue)]
    public int[]? ProcessId { get; set; }

    /// <summary>Container ids from the pipeline (e.g. the embedded testbed's workers in the Docker runtime).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank(AllowNull = true), ValidateContainer]
    public string[]? ContainerId { get; set; }

    /// <summary>The worker's URI, carried onto the target (bound from piped worker objects).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank(AllowNull = true), ValidateHttpUri(LoopbackOnly = true)]
    public string? Uri { get; set; }

    /// <summary>Pick this many of the matches at random.</summary>
    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? Count { get; set; }

    /// <summary>Pick this percentage of the matches at random (rounded up).</summary>
    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public double? Percent { get; set; }

    /// <summary>Seed for the random pick: the same seed over the same set picks the same targets.</summary>
    [Parameter]
    public int? Seed { get; set; }

    /// <summary>Allow protected targets.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>The Docker engine endpoint (DOCKER_HOST or the platform default when omitted).</summary>
    [Parameter]
    [ValidateNotBlank, ValidateDockerEndpoint]
    public string? DockerEndpoint { get; set; }

    private readonly List<ChaosTarget> _piped = [];
    private bool _pipedAny;

    protected override void BeginProcessing()
    {
        try
        {
            TargetRules.CheckCountOrPercent(Count, Percent);
            TargetQuery.CheckRegex(Regex);
        }
        catch (ChaosPS.ChaosException e) { ThrowChaosError(e); }
    }

    protected override void ProcessRecord()
    {
        bool fromPipeline = MyInvocation.BoundParameters.ContainsKey(nameof(ProcessId)) || MyInvocation.BoundParameters.ContainsKey(nameof(ContainerId));
        if (!fromPipeline) return;
        _pipedAny = true;
        if (ContainerId is { Length: > 0 })
        {
            foreach (var id in ContainerId)
            {
                var t = RunEngine((_, ct) => TargetSelector.ContainerAsync(id, DockerEndpoint, ct));
                if (t is null) { WriteChaosError(NotFound($"container '{id}'")); continue; }
                _piped.Add(WithUri(t));
            }
        }
        else
        {
            foreach (var pid in ProcessId ?? [])
            {
                var t = TargetSelector.Process(pid, Uri);
                if (t is null) { WriteChaosError(NotFound($"process {pid}")); continue; }
                _piped.Add(t);
            }
        }
        ProcessId = null; ContainerId = null; Uri = null;
    }

    private ChaosTarget WithUri(ChaosTarget t) => Uri is null ? t : new ChaosTarget
    {
        Kind = t.Kind, Name = t.Name, ProcessId = t.ProcessId, ContainerId = t.ContainerId, CommandLine = t.CommandLine, Ports = t.Ports,
        WorkerId = t.WorkerId, Labels = t.Labels, Image = t.Image, State = t.State, StartStamp = t.StartStamp, Uri = Uri,
        DockerEndpoint = t.DockerEndpoint, ProtectedReason = t.ProtectedReason,
    };

    protected override void EndProcessing()
    {
        var query = new TargetQuery
        {
            Kind = TargetQuery.DefaultKind(Kind, Label),
            Name = Name, Id = Id, CommandLine = CommandLine, Regex = Regex, Port = Port, Label = Label, DockerEndpoint = DockerEndpoint,
        };
        try { query.Validate(piped: _pipedAny); }
        catch (ChaosPS.ChaosException e) { ThrowChaosError(e); }
        var all = new List<ChaosTarget>(_piped);
        if (!query.IsEmpty)
        {
            var missing = new List<string>();
            List<ChaosTarget> found;
            try
            {
                found = query.Kind == "Container"
                    ? RunEngine((_, ct) => TargetSelector.SelectContainersAsync(query, missing, ct))
                    : TargetSelector.SelectProcesses(query, missing);
            }
            catch (ChaosPS.ChaosException e) { ThrowChaosError(e); return; }
            foreach (var m in missing) WriteChaosError(NotFound(m));
            // Piped targets and criteria together: the piped targets that also match the criteria.
            all = _pipedAny ? _piped.Where(p => found.Any(f => Same(p, f))).ToList() : found;
        }
        var allowed = new List<ChaosTarget>();
        foreach (var t in all.DistinctBy(t => t.ContainerId ?? t.ProcessId?.ToString()))
        {
            if (TargetRules.Refusal(t, Force, selecting: true) is { } refused) { WriteChaosError(refused); continue; }
            allowed.Add(t);
        }
        foreach (var t in TargetRules.Pick(allowed, Count, Percent, Seed))
            WriteObject(t);
    }

    private static bool Same(ChaosTarget a, ChaosTarget b) => a.Kind == b.Kind && (a.IsContainer ? a.ContainerId == b.ContainerId : a.ProcessId == b.ProcessId);

    private static ChaosPS.ChaosException NotFound(string what) => new("TargetNotFound", ChaosPS.ChaosErrorCategory.ObjectNotFound,
        $"No {what} was found.", what, "Check the name or id (Get-Process / docker ps).");
}
