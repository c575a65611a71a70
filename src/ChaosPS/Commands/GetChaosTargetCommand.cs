using System.Management.Automation;
using ChaosPS.Chaos;

namespace ChaosPS.Commands;

/// <summary>Selects processes and containers to aim worker chaos at, as typed objects. Its help is module/help/Get-ChaosTarget.md.</summary>
[Cmdlet(VerbsCommon.Get, "ChaosTarget")]
[OutputType(typeof(ChaosTarget))]
public sealed class GetChaosTargetCommand : ChaosCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ValidateNotBlank, ValidateWildcard]
    public string[]? Name { get; set; }

    [Parameter]
    [ValidateNotBlank]
    public string[]? Id { get; set; }

    [Parameter]
    [SupportsWildcards]
    [ValidateNotBlank, ValidateWildcard]
    public string? CommandLine { get; set; }

    [Parameter]
    [ValidateNotBlank]
    public string? Regex { get; set; }

    [Parameter]
    [ValidateRange(1, 65535)]
    public int[]? Port { get; set; }

    [Parameter]
    [ValidateNotBlank]
    public string[]? Label { get; set; }

    [Parameter]
    [ValidateSet("Process", "Container")]
    public string? Kind { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank(AllowNull = true), ValidateRange(0, int.MaxValue)]
    public int[]? ProcessId { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank(AllowNull = true), ValidateContainer]
    public string[]? ContainerId { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotBlank(AllowNull = true), ValidateHttpUri(LoopbackOnly = true)]
    public string? Uri { get; set; }

    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int? Count { get; set; }

    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public double? Percent { get; set; }

    [Parameter]
    public int? Seed { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

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
