using System.Management.Automation;
using ChaosPS.Chaos;
using ChaosPS.Recovery;

namespace ChaosPS.Commands;

/// <summary>Probes until the system is healthy again or -Timeout passes. Its help is module/help/Wait-ChaosRecovery.md.</summary>
[Cmdlet(VerbsLifecycle.Wait, "ChaosRecovery")]
[OutputType(typeof(RecoveryResult))]
public sealed class WaitChaosRecoveryCommand : ChaosCmdlet
{
    [Parameter(ValueFromPipeline = true)]
    [Alias("Crash")]
    [ValidateNotNull]
    public object[]? InputObject { get; set; }

    [Parameter(Position = 0)]
    [ValidateNotBlank]
    public string[]? Uri { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty, ValidateRange(100, 599)]
    public int[]? ExpectedStatus { get; set; }

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? BodyMatch { get; set; }

    [Parameter]
    [DurationTransform(RequireUnit = true)]
    public TimeSpan? MaxLatency { get; set; }

    [Parameter]
    [ValidateNotBlank]
    public string[]? TcpEndpoint { get; set; }

    [Parameter]
    [ValidateNotBlank]
    [ValidateContainer]
    public string[]? ContainerId { get; set; }

    [Parameter]
    [ValidateRange(0, 1_000_000)]
    public int? MinRestartCount { get; set; }

    [Parameter]
    [ValidateNotBlank, ValidateChaosName]
    public string[]? ProcessName { get; set; }

    [Parameter]
    [DurationTransform]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    [Parameter]
    [DurationTransform(RequireUnit = true)]
    public TimeSpan Interval { get; set; } = TimeSpan.FromMilliseconds(200);

    [Parameter]
    [ValidateRange(1, 1000)]
    public int SuccessThreshold { get; set; } = 1;

    [Parameter]
    public DateTimeOffset? Since { get; set; }

    [Parameter]
    [ValidateNotBlank]
    [ValidateDockerEndpoint]
    public string? DockerEndpoint { get; set; }

    [Parameter]
    public SwitchParameter AllowNonLoopback { get; set; }

    private readonly List<CrashResult> _crashes = [];
    private readonly List<DateTimeOffset> _faultEnds = [];
    private readonly List<string> _withoutEffect = [];

    protected override void BeginProcessing()
    {
        try
        {
            InputRules.Duration(Timeout, nameof(Timeout));
            InputRules.Duration(Interval, nameof(Interval));
            InputRules.Duration(MaxLatency, nameof(MaxLatency));
            if (Since is { } since && (since.Year < 2000 || since > DateTimeOffset.UtcNow.AddDays(1)))
                throw ChaosException.InvalidArgument("InvalidSince", $"-Since {since:u} is not a time a fault can have happened.", since);
            foreach (var u in Uri ?? []) InputRules.HttpUri(u, nameof(Uri), loopbackOnly: !AllowNonLoopback);
            foreach (var e in TcpEndpoint ?? []) InputRules.ProbeEndpoint(e, nameof(TcpEndpoint), AllowNonLoopback);
        }
        catch (ChaosException e) { ThrowChaosError(e); }
        if (BodyMatch is not null)
        {
            try { _ = new System.Text.RegularExpressions.Regex(BodyMatch); }
            catch (ArgumentException ex) { ThrowChaosError(ChaosException.InvalidArgument("InvalidRegex", $"-BodyMatch is not a valid regular expression: {ex.Message}", BodyMatch)); }
        }
    }


    protected override void ProcessRecord()
    {
        foreach (var item in InputObject ?? [])
        {
            var o = item is PSObject p ? p.BaseObject : item;
            if (o is CrashResult c) _crashes.Add(c);
            else if (o is OomResult oom) _crashes.Add(CrashResult.FromOom(oom));
            else if (FaultEnd(o) is { } end)
            {
                _faultEnds.Add(end);
                if (RecoveryWaiter.WithoutEffect(o) is { } none) _withoutEffect.Add(none);
            }
            else if (o is not null)
                WriteChaosError(ChaosException.InvalidArgument("NotAFaultResult", $"Wait-ChaosRecovery takes fault results (Invoke-WorkerCrash, Invoke-WorkerOom, Invoke-NetworkFault, Invoke-*Exhaustion, Suspend-/Resume-ChaosTarget with a resume); got {o.GetType().Name}.", o,
                    "For a fault that is still in force (Add-NetworkFault), remove it first and pass -Since."));
        }
    }

    /// <summary>When a piped fault ended; null for what is not a finished fault.</summary>
    private static DateTimeOffset? FaultEnd(object o) => o switch
    {
        ChaosPS.Network.NetworkFaultResult n => n.RemovedAt,
        ChaosPS.Stress.StressResult s => s.EndedAt,
        SuspendResult { ResumedAt: { } resumed } => resumed,
        _ => null,
    };

    private DateTimeOffset? DefaultFaultAt()
    {
        if (Since is not null) return Since;
        if (_faultEnds.Count == 0) return null; // the engine's default: the earliest crash, else now
        var end = _faultEnds.Max();
        if (_crashes.Count > 0 && _crashes.Min(c => c.CrashedAt) > end) end = _crashes.Min(c => c.CrashedAt);
        return end;
    }

    protected override void EndProcessing()
    {
        var o = new RecoveryOptions
        {
            ExpectedStatus = [.. ExpectedStatus ?? []], BodyPattern = BodyMatch, MaxLatency = MaxLatency, Timeout = Timeout, Interval = Interval,
            SuccessThreshold = SuccessThreshold, FaultAt = DefaultFaultAt(), DockerEndpoint = DockerEndpoint, MinRestartCount = MinRestartCount,
        };
        o.HttpUris.AddRange(Uri ?? []);
        foreach (var e in TcpEndpoint ?? []) o.TcpEndpoints.Add(InputRules.ProbeEndpoint(e, nameof(TcpEndpoint), AllowNonLoopback));
        o.Crashes.AddRange(_crashes);
        o.OtherFaults = _faultEnds.Count;
        o.OtherFaultsWithoutEffect.AddRange(_withoutEffect);
        o.Containers.AddRange(ContainerId ?? []);
        o.ProcessNames.AddRange(ProcessName ?? []);
        var result = RunEngine((r, ct) => RecoveryWaiter.WaitAsync(o, r, ct));
        if (result.FaultCount > 0 && result.FaultsWithoutEffect.Count == result.FaultCount)
            WriteWarning($"Wait-ChaosRecovery: no piped fault took effect ({string.Join("; ", result.FaultsWithoutEffect)}); " +
                "Recovered only says the system is healthy: there was nothing to recover from (see FaultsWithoutEffect).");
        WriteObject(result);
        if (!result.Recovered)
            WriteVerdictError("ChaosPS.NotRecovered", $"Wait-ChaosRecovery: not recovered within {DurationParser.Format(Timeout)}: {result.LastProbe}", result);
    }
}
