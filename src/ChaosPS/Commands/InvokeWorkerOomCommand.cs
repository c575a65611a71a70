using System.Management.Automation;
using ChaosPS.Chaos;
using ChaosPS.Faults;

namespace ChaosPS.Commands;

/// <summary>A real out-of-memory kill. Its help is module/help/Invoke-WorkerOom.md.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "WorkerOom", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(OomResult))]
public sealed class InvokeWorkerOomCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true)]
    [ValidateNotNullOrEmpty]
    public ChaosTarget[] Target { get; set; } = [];

    [Parameter]
    [SizeTransform(false)]
    [ValidateNotNull]
    public SizeSpec? Limit { get; set; }

    [Parameter]
    [SizeTransform(false)]
    [ValidateNotNull]
    public SizeSpec? Headroom { get; set; }

    [Parameter]
    [DurationTransform]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    [Parameter]
    public SwitchParameter Force { get; set; }

    private readonly List<ChaosTarget> _targets = [];

    protected override void BeginProcessing()
    {
        try { _options = new OomKiller.Options(Limit?.Bytes, Headroom?.Bytes ?? OomKiller.DefaultHeadroom, Timeout).Validate(); }
        catch (ChaosException e) { ThrowChaosError(e); }
    }

    private OomKiller.Options? _options;

    protected override void ProcessRecord()
    {
        foreach (var t in Target)
        {
            if (!IsValidTarget(t)) continue;
            if (TargetRules.Refusal(t, Force) is { } refused) { WriteChaosError(refused); continue; }
            if (!ShouldProcess(t.Display, t.IsContainer ? "OOM kill (lower the memory limit, allocate in its cgroup)" : "OOM kill (child memory cgroup, allocate in it)")) continue;
            _targets.Add(t);
        }
    }

    protected override void EndProcessing()
    {
        var o = _options!;
        foreach (var t in _targets)
        {
            var result = RunEngine<OomResult?>(async (r, ct) =>
            {
                try { return await OomKiller.RunAsync(t, o, FaultLedger.Default, r, ct); }
                catch (ChaosException e) { r.Error(e); return null; }
            });
            if (result is not null) WriteObject(result);
        }
    }
}
