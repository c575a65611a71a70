using System.Management.Automation;
using ChaosPS.Gpu;
using ChaosPS.Stress;

namespace ChaosPS.Commands;

/// <summary>Allocates GPU memory in chunks through the CUDA driver API, verifies it with NVML before, during and after, and releases it.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "VramExhaustion", DefaultParameterSetName = "Percent", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(StressResult))]
public sealed class InvokeVramExhaustionCommand : StressCmdlet
{
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Index")]
    [ValidateRange(0, 1023)]
    public int Device { get; set; }

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Percent")]
    public double Percent { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "Size")]
    [SizeTransform(false)]
    [ValidateNotNull]
    public SizeSpec? Size { get; set; }

    protected override void ProcessRecord()
    {
        var o = new VramStressOptions
        {
            Device = Device, Percent = ParameterSetName == "Percent" ? Percent : null, Bytes = ParameterSetName == "Size" ? Size!.Bytes : null, Duration = Duration,
        };
        var backend = new NvidiaBackend();
        RunStressor("VramExhaustion", $"GPU {Device}", $"Allocate {(o.Percent is { } p ? $"{p}% of free" : SizeParser.Format(o.Bytes ?? 0))} of VRAM for {DurationParser.Format(Duration)}",
            () =>
            {
                if (o.Percent is { } pc && (double.IsNaN(pc) || pc < 0 || pc > 100))
                    throw ChaosException.InvalidArgument("PercentOutOfRange", $"-Percent {pc} is outside 0..100.", pc);
                VramFill.Plan(VramFill.Device(backend, Device), o.Percent, o.Bytes);
                return null;
            },
            async (r, ct) => await VramStress.RunAsync(o, backend, r, ct).ConfigureAwait(false));
    }
}
