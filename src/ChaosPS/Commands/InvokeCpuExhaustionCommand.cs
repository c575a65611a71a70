using System.Management.Automation;
using ChaosPS.Stress;

namespace ChaosPS.Commands;

/// <summary>Holds a CPU load of P% on N cores (duty-cycle threads in a stressor process), measured from /proc.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "CpuExhaustion", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(StressResult))]
public sealed class InvokeCpuExhaustionCommand : StressCmdlet
{
    /// <summary>Load per loaded core, 0..100.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    public double Percent { get; set; }

    /// <summary>How many cores to load (default: all online CPUs).</summary>
    [Parameter]
    public int Cores { get; set; }

    /// <summary>Run the stressor inside this container (it joins the container's cgroups).</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("ContainerName", "ContainerId")]
    [ValidateNotBlank(AllowNull = true), ValidateContainer]
    public string? Container { get; set; }

    protected override void ProcessRecord()
    {
        var o = new CpuStressOptions { Percent = Percent, Cores = MyInvocation.BoundParameters.ContainsKey(nameof(Cores)) ? Cores : null, Duration = Duration, Container = Container };
        RunStressor("CpuExhaustion", Container is null ? "host" : $"container {Container}", $"Hold CPU load {CpuStress.Describe(o)}",
            () => { CpuStress.Validate(o); return null; }, async (r, ct) => await CpuStress.RunAsync(o, r, ct).ConfigureAwait(false));
    }
}
