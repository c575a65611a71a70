using System.Management.Automation;
using ChaosPS.Stress;

namespace ChaosPS.Commands;

/// <summary>Fills a filesystem to P% used, or until only -LeaveFree is left, holds it, and always removes the fill file.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "DiskExhaustion", DefaultParameterSetName = "Percent", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(StressResult))]
public sealed class InvokeDiskExhaustionCommand : StressCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("DataPath", "FullName")]
    [ValidateNotBlank, ValidatePathText]
    public string Path { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = "Percent")]
    public double Percent { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "LeaveFree")]
    [SizeTransform(false)]
    [ValidateNotNull]
    public SizeSpec? LeaveFree { get; set; }

    [Parameter]
    [Alias("ContainerName", "ContainerId")]
    [ValidateNotBlank, ValidateContainer]
    public string? Container { get; set; }

    protected override void ProcessRecord()
    {
        var path = Container is null ? GetUnresolvedProviderPathFromPSPath(Path) : Path;
        var o = new DiskStressOptions
        {
            Path = path, Percent = ParameterSetName == "Percent" ? Percent : null, LeaveFree = ParameterSetName == "LeaveFree" ? LeaveFree!.Bytes : null,
            Duration = Duration, Force = Force, Container = Container,
        };
        RunStressor("DiskExhaustion", Container is null ? path : $"{path} in container {Container}", $"Disk {DiskStress.Describe(o)}",
            () => { if (Container is null) DiskStress.Check(o, path); return null; },
            async (r, ct) => await DiskStress.RunAsync(o, r, ct).ConfigureAwait(false));
    }
}
