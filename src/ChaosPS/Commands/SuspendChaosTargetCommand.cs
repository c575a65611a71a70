using System.Management.Automation;
using ChaosPS.Chaos;
using ChaosPS.Faults;

namespace ChaosPS.Commands;

/// <summary>Hangs workers (SIGSTOP, docker pause), ledgered. Its help is module/help/Suspend-ChaosTarget.md.</summary>
[Cmdlet(VerbsLifecycle.Suspend, "ChaosTarget", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(SuspendResult))]
public sealed class SuspendChaosTargetCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public ChaosTarget[] Target { get; set; } = [];

    [Parameter]
    [DurationTransform]
    public TimeSpan? Duration { get; set; }

    [Parameter]
    public SwitchParameter Force { get; set; }

    private readonly List<ChaosTarget> _targets = [];

    protected override void BeginProcessing()
    {
        try { InputRules.Duration(Duration, nameof(Duration)); }
        catch (ChaosException e) { ThrowChaosError(e); }
    }

    protected override void ProcessRecord()
    {
        foreach (var t in Target)
        {
            if (!IsValidTarget(t)) continue;
            if (TargetRules.Refusal(t, Force) is { } refused) { WriteChaosError(refused); continue; }
            var what = Duration is { } d ? $"{t.Display} for {DurationParser.Format(d)}" : $"{t.Display} until resumed";
            if (!ShouldProcess(what, t.IsContainer ? "Suspend (docker pause)" : "Suspend (SIGSTOP)")) continue;
            _targets.Add(t);
        }
    }

    protected override void EndProcessing()
    {
        if (_targets.Count == 0) return;
        var results = RunEngine((r, ct) => Suspender.SuspendAsync(_targets, Duration, FaultLedger.Default, r, ct));
        if (Duration is not null) WriteObject(results, enumerateCollection: true);
    }
}
