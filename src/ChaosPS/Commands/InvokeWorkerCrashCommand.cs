using System.Management.Automation;
using ChaosPS.Chaos;

namespace ChaosPS.Commands;

/// <summary>Crashes workers for real. Its help is module/help/Invoke-WorkerCrash.md.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "WorkerCrash", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(CrashResult))]
public sealed class InvokeWorkerCrashCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public ChaosTarget[] Target { get; set; } = [];

    [Parameter]
    [ValidateSet("KILL", "TERM", "INT", "QUIT", "ABRT", "SEGV", IgnoreCase = true)]
    public string Signal { get; set; } = "KILL";

    [Parameter]
    [DurationTransform]
    public TimeSpan? GracePeriod { get; set; }

    [Parameter]
    [ValidateSet("Signal", "DockerKill", "DockerStop", "DockerRestart")]
    public string ContainerAction { get; set; } = "Signal";

    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Count { get; set; }

    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public double? Percent { get; set; }

    [Parameter]
    public int? Seed { get; set; }

    [Parameter]
    [DurationTransform]
    public TimeSpan? Interval { get; set; }

    [Parameter]
    [DurationTransform]
    public TimeSpan? Duration { get; set; }

    [Parameter]
    [DurationTransform]
    public TimeSpan ObserveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    [Parameter]
    public SwitchParameter Dump { get; set; }

    [Parameter]
    [ValidateNotBlank, ValidatePathText]
    public string? DumpDirectory { get; set; }

    [Parameter]
    [ValidateSet("Full", "Heap", "Mini", "Triage")]
    public string DumpType { get; set; } = "Full";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    private readonly List<ChaosTarget> _targets = [];

    protected override void BeginProcessing()
    {
        try
        {
            TargetRules.CheckCountOrPercent(Count, Percent);
            TargetRules.CheckCrashTiming(GracePeriod, Interval, Duration, ObserveTimeout);
        }
        catch (ChaosException e) { ThrowChaosError(e); }
        if (GracePeriod is not null && !MyInvocation.BoundParameters.ContainsKey(nameof(Signal))) Signal = "TERM";
        Signal = Signal.ToUpperInvariant();
    }

    protected override void ProcessRecord()
    {
        foreach (var t in Target)
        {
            if (!IsValidTarget(t)) continue;
            if (TargetRules.Refusal(t, Force) is { } refused) { WriteChaosError(refused); continue; }
            _targets.Add(t);
        }
    }

    private Crasher.Options Options => new(Signal, GracePeriod, ContainerAction, ObserveTimeout,
        Dump ? GetUnresolvedProviderPathFromPSPath(DumpDirectory ?? SessionState.Path.CurrentFileSystemLocation.Path) : null, DumpType);

    protected override void EndProcessing()
    {
        if (_targets.Count == 0) return;
        var o = Options;
        if (_targets.Any(t => t.IsContainer))
            foreach (var w in Crasher.IgnoredForContainers(ContainerAction, MyInvocation.BoundParameters.ContainsKey(nameof(Signal)), GracePeriod is not null))
                WriteWarning(w);
        if (Interval is { } interval && Duration is { } duration)
        {
            int perRound = TargetRules.PerRound(Count, Percent, _targets.Count);
            var plan = $"every {DurationParser.Format(interval)} for {DurationParser.Format(duration)}: {perRound} of [{string.Join(", ", _targets.Select(t => t.Display))}] at random, with {Crasher.Describe(_targets[0], o)}";
            if (!ShouldProcess(plan, "Chaos-monkey loop")) return;
            RunEngine((r, ct) => ChaosMonkey.RunAsync(_targets, o, interval, duration, perRound, Seed, r, ct));
            return;
        }
        var picked = TargetRules.Pick(_targets, Count, Percent, Seed);
        var confirmed = picked.Where(t => ShouldProcess(t.Display, Crasher.Describe(t, o))).ToList();
        if (confirmed.Count == 0) return;
        var results = RunEngine((r, ct) => Crasher.CrashAllAsync(confirmed, o, r, ct));
        WriteObject(results, enumerateCollection: true);
    }
}
