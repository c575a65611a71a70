using System.Management.Automation;
using ChaosPS.Chaos;

namespace ChaosPS.Commands;

/// <summary>
/// Crashes workers for real: a signal to a process (KILL, TERM, INT, QUIT, ABRT, SEGV; or TERM with a grace period
/// then KILL); for a container by default the same signal to its main process from the host (a crash, so its restart
/// policy fires), or docker kill/stop/restart through the engine's API. -Count/-Percent pick from the piped set; -Interval with -Duration
/// repeats random crashes (a chaos-monkey loop). Writes one result per crash with the observed exit code/state.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "WorkerCrash", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(CrashResult))]
public sealed class InvokeWorkerCrashCommand : ChaosCmdlet
{
    /// <summary>Targets from Get-ChaosTarget.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public ChaosTarget[] Target { get; set; } = [];

    /// <summary>The signal: KILL (default), TERM, INT, QUIT, ABRT or SEGV. Containers: the signal for their main process (or, with -ContainerAction DockerKill, the one docker kill sends).</summary>
    [Parameter]
    [ValidateSet("KILL", "TERM", "INT", "QUIT", "ABRT", "SEGV", IgnoreCase = true)]
    public string Signal { get; set; } = "KILL";

    /// <summary>Send the signal (TERM by default when this is given), wait this long, then SIGKILL what is still alive. Containers: the stop/restart timeout.</summary>
    [Parameter]
    [DurationTransform]
    public TimeSpan? GracePeriod { get; set; }

    /// <summary>
    /// Containers: Signal (default: -Signal to the container's main process from this host, by the host pid the engine
    /// reports; the process dies as in a real crash, so the restart policy fires; with -GracePeriod, SIGKILL after it),
    /// DockerKill (docker kill with -Signal), DockerStop (SIGTERM then SIGKILL after -GracePeriod), DockerRestart.
    /// Docker records its API calls as deliberate: after DockerKill or DockerStop no restart policy restarts the container.
    /// </summary>
    [Parameter]
    [ValidateSet("Signal", "DockerKill", "DockerStop", "DockerRestart")]
    public string ContainerAction { get; set; } = "Signal";

    /// <summary>Crash this many of the piped targets, picked at random (per round with -Interval; default 1 there).</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int? Count { get; set; }

    /// <summary>Crash this percentage of the piped targets (rounded up), picked at random.</summary>
    [Parameter]
    [ValidateRange(0.0, 100.0)]
    public double? Percent { get; set; }

    /// <summary>Seed for the random pick.</summary>
    [Parameter]
    public int? Seed { get; set; }

    /// <summary>Chaos-monkey loop: crash a random pick every Interval until -Duration has passed.</summary>
    [Parameter]
    [DurationTransform]
    public TimeSpan? Interval { get; set; }

    /// <summary>How long the chaos-monkey loop runs (with -Interval).</summary>
    [Parameter]
    [DurationTransform]
    public TimeSpan? Duration { get; set; }

    /// <summary>How long to watch each target exit after the signal (default 10s).</summary>
    [Parameter]
    [DurationTransform]
    public TimeSpan ObserveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Write a dump of each .NET worker before crashing it (into -DumpDirectory, default the current folder).</summary>
    [Parameter]
    public SwitchParameter Dump { get; set; }

    /// <summary>Where -Dump writes dumps.</summary>
    [Parameter]
    [ValidateNotBlank, ValidatePathText]
    public string? DumpDirectory { get; set; }

    /// <summary>The kind of dump -Dump writes: Full (default), Heap, Mini or Triage.</summary>
    [Parameter]
    [ValidateSet("Full", "Heap", "Mini", "Triage")]
    public string DumpType { get; set; } = "Full";

    /// <summary>Results are always written (one per crash); accepted so pipelines read naturally.</summary>
    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>Allow protected targets.</summary>
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
