using System.Management.Automation;
using ChaosPS.Stress;

namespace ChaosPS.Commands;

/// <summary>Brings used memory to P% (Reach) or allocates on top (Add), in a stressor process the kernel may OOM-kill instead of pwsh.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "MemoryExhaustion", DefaultParameterSetName = "Percent", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(StressResult))]
public sealed class InvokeMemoryExhaustionCommand : StressCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Percent")]
    public double Percent { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "Size")]
    [SizeTransform(false)]
    [ValidateNotNull]
    public SizeSpec? Size { get; set; }

    [Parameter]
    [ValidateSet("Reach", "Add")]
    public string? Mode { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("ContainerName", "ContainerId")]
    [ValidateNotBlank(AllowNull = true), ValidateContainer]
    public string? Container { get; set; }

    protected override void ProcessRecord()
    {
        var o = new MemoryStressOptions
        {
            Percent = ParameterSetName == "Percent" ? Percent : null, Bytes = ParameterSetName == "Size" ? Size!.Bytes : null,
            Mode = Mode, Duration = Duration, Container = Container, Force = Force,
        };
        RunStressor("MemoryExhaustion", Container is null ? "host" : $"container {Container}", $"Memory {MemoryStress.Describe(o)}",
            () =>
            {
                var m = HostStats.ReadMemory();
                MemoryStress.Check(o, m, null);
                if (Container is not null) return null;
                double target = o.Percent ?? 100.0 * o.Bytes!.Value / m.Total;
                if (MemoryStress.ResolveMode(o) == "Add") target += m.UsedPercent;
                return target >= 90 ? $"This brings memory use to about {target:0}% of {SizeParser.Format(m.Total)}; other processes may slow down or be OOM-killed." : null;
            },
            async (r, ct) => await MemoryStress.RunAsync(o, r, ct).ConfigureAwait(false));
    }
}
