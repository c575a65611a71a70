using System.Management.Automation;
using ChaosPS.Chaos;
using ChaosPS.Diagnostics;

namespace ChaosPS.Commands;

/// <summary>Samples the runtime counters of .NET workers. Its help is module/help/Get-WorkerDiagnostics.md.</summary>
[Cmdlet(VerbsCommon.Get, "WorkerDiagnostics", DefaultParameterSetName = "Target")]
[OutputType(typeof(WorkerCounters))]
public sealed class GetWorkerDiagnosticsCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Target")]
    [ValidateNotNullOrEmpty]
    public ChaosTarget[] Target { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = "Id")]
    [ValidateNotNullOrEmpty, ValidateRange(1, int.MaxValue)]
    public int[] ProcessId { get; set; } = [];

    [Parameter]
    [DurationTransform]
    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(3);

    [Parameter]
    [DurationTransform]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(1);

    private readonly List<int> _pids = [];

    protected override void BeginProcessing()
    {
        try { InputRules.Duration(Duration, nameof(Duration)); InputRules.Duration(Interval, nameof(Interval)); }
        catch (ChaosException e) { ThrowChaosError(e); }
        if (Interval < TimeSpan.FromSeconds(1)) ThrowChaosError(ChaosException.InvalidArgument("InvalidDuration", "-Interval must be at least 1s (EventCounter intervals are whole seconds).", Interval));
    }

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Id")
        {
            foreach (var pid in ProcessId)
            {
                if (ChaosPS.ProcessIdentity.IsAlive(pid, null)) _pids.Add(pid);
                else WriteChaosError(new ChaosException("ProcessNotFound", ChaosErrorCategory.ObjectNotFound, $"No process {pid} is running.", pid));
            }
        }
        else foreach (var t in Target)
        {
            if (!IsValidTarget(t)) continue;
            if (t.ProcessId is { } p) _pids.Add(p);
            else WriteChaosError(new ChaosException("NoProcess", ChaosErrorCategory.InvalidArgument, $"{t.Display} has no host process (not running).", t));
        }
    }

    protected override void EndProcessing()
    {
        if (_pids.Count == 0) return;
        RunEngine(async (r, ct) =>
        {
            r.Progress(new ProgressInfo("Get-WorkerDiagnostics", $"sampling {_pids.Count} process(es) for {DurationParser.Format(Duration)}"));
            var tasks = _pids.Distinct().Select(async pid =>
            {
                try { r.Output(await WorkerDiagnostics.SampleCountersAsync(pid, Duration, Interval, ct)); }
                catch (ChaosException e) { r.Error(e); }
            });
            await Task.WhenAll(tasks);
        });
    }
}
