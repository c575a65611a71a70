using System.Management.Automation;
using ChaosPS.Chaos;
using ChaosPS.Diagnostics;

namespace ChaosPS.Commands;

/// <summary>Writes a dump of .NET worker processes through their diagnostic port. Its help is module/help/Save-WorkerDump.md.</summary>
[Cmdlet(VerbsData.Save, "WorkerDump", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(WorkerDumpResult))]
public sealed class SaveWorkerDumpCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Target")]
    [ValidateNotNullOrEmpty]
    public ChaosTarget[] Target { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = "Id")]
    [ValidateNotNullOrEmpty, ValidateRange(1, int.MaxValue)]
    public int[] ProcessId { get; set; } = [];

    [Parameter]
    [ValidateNotBlank, ValidatePathText]
    public string? Path { get; set; }

    [Parameter]
    [ValidateSet("Full", "Heap", "Mini", "Triage")]
    public string DumpType { get; set; } = "Full";

    protected override void ProcessRecord()
    {
        var dir = GetUnresolvedProviderPathFromPSPath(Path ?? SessionState.Path.CurrentFileSystemLocation.Path);
        var pids = ParameterSetName == "Id" ? ProcessId : Target.Where(t => t.IsContainer || IsValidTarget(t)).Select(t => t.ProcessId ?? 0).ToArray();
        foreach (var pid in pids)
        {
            if (pid <= 0) { WriteChaosError(new ChaosException("NoProcess", ChaosErrorCategory.InvalidArgument, "The target has no host process id (a stopped container?).", pid)); continue; }
            if (!ChaosPS.ProcessIdentity.IsAlive(pid, null))
            {
                WriteChaosError(new ChaosException("ProcessNotFound", ChaosErrorCategory.ObjectNotFound, $"No process {pid} is running.", pid));
                continue;
            }
            if (!ShouldProcess($"process {pid}", $"Write a {DumpType} dump (the process pauses while it is written)")) continue;
            var r = RunEngine<WorkerDumpResult?>(async (rep, ct) =>
            {
                try { return await WorkerDiagnostics.SaveDumpResultAsync(pid, dir, DumpType, ct); }
                catch (ChaosException e) { rep.Error(e); return null; }
            });
            if (r is not null) WriteObject(r);
        }
    }
}
