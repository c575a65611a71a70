using System.Management.Automation;
using ChaosPS.Targets;

namespace ChaosPS.Commands;

/// <summary>Stops embedded target systems and everything they started (processes, containers, run folders).</summary>
[Cmdlet(VerbsLifecycle.Stop, "ChaosTarget", DefaultParameterSetName = "ByObject", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ChaosTargetSystem))]
public sealed class StopChaosTargetCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "ByObject")]
    [ValidateNotNullOrEmpty]
    public ChaosTargetSystem[] InputObject { get; set; } = [];

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "ById")]
    [Alias("TargetId")]
    [ValidateNotBlank]
    public string[] Id { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = "All")]
    public SwitchParameter All { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<ChaosTargetSystem> systems = ParameterSetName switch
        {
            "ByObject" => InputObject,
            "All" => TargetLauncher.List(),
            _ => Resolve(Id),
        };
        foreach (var s in systems)
        {
            if (!ShouldProcess($"target {s.Id} ({s.Workers.Length} workers, {s.Runtime})", "Stop")) continue;
            // Teardown runs to the end even on Ctrl+C: a half-stopped system would be worse than a late prompt.
            var stopped = RunEngine((r, _) => TargetLauncher.StopAsync(s, r));
            if (PassThru) WriteObject(stopped);
        }
    }

    private IEnumerable<ChaosTargetSystem> Resolve(string[] ids)
    {
        var running = TargetLauncher.List();
        foreach (var id in ids)
        {
            var s = running.FirstOrDefault(x => string.Equals(x.Id, id, StringComparison.OrdinalIgnoreCase));
            if (s is null)
                WriteChaosError(new ChaosException("TargetNotFound", ChaosErrorCategory.ObjectNotFound, $"No running target system has id '{id}'.", id,
                    "List running systems with Stop-ChaosTarget -All -WhatIf."));
            else yield return s;
        }
    }
}
