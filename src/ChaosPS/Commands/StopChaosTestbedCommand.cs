using System.Management.Automation;
using ChaosPS.Testbed;

namespace ChaosPS.Commands;

/// <summary>Stops embedded testbeds and everything they started (processes, containers, run folders).</summary>
[Cmdlet(VerbsLifecycle.Stop, "ChaosTarget", DefaultParameterSetName = "ByObject", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ChaosTestbed))]
public sealed class StopChaosTestbedCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "ByObject")]
    [ValidateNotNullOrEmpty]
    public ChaosTestbed[] InputObject { get; set; } = [];

    [Parameter(Mandatory = true, ValueFromPipelineByPropertyName = true, ParameterSetName = "ById")]
    [Alias("TestbedId")]
    [ValidateNotBlank]
    public string[] Id { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = "All")]
    public SwitchParameter All { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        IEnumerable<ChaosTestbed> systems = ParameterSetName switch
        {
            "ByObject" => InputObject,
            "All" => TestbedLauncher.List(),
            _ => Resolve(Id),
        };
        foreach (var s in systems)
        {
            if (!ShouldProcess($"target {s.Id} ({s.Workers.Length} workers, {s.Runtime})", "Stop")) continue;
            // Teardown runs to the end even on Ctrl+C: a half-stopped system would be worse than a late prompt.
            var stopped = RunEngine((r, _) => TestbedLauncher.StopAsync(s, r));
            if (PassThru) WriteObject(stopped);
        }
    }

    private IEnumerable<ChaosTestbed> Resolve(string[] ids)
    {
        var running = TestbedLauncher.List();
        foreach (var id in ids)
        {
            var s = running.FirstOrDefault(x => string.Equals(x.Id, id, StringComparison.OrdinalIgnoreCase));
            if (s is null)
                WriteChaosError(new ChaosException("TargetNotFound", ChaosErrorCategory.ObjectNotFound, $"No running testbed has id '{id}'.", id,
                    "List running systems with Stop-ChaosTestbed -All -WhatIf."));
            else yield return s;
        }
    }
}
