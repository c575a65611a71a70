using System.Management.Automation;
using ChaosPS.Stress;

namespace ChaosPS.Commands;

/// <summary>Holds a CPU load of P% on N cores (duty-cycle threads in a stressor process), measured from /proc.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "CpuExhaustion", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(StressResult))]
public sealed class InvokeCpuExhaustionCommand : StressCmdlet
{
    [Parameter(Mandatory = true, Position = 0)]
    public double Percent { get; set; }

    [Parameter]
    public int Cores { get; set; }

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
