using System.Management.Automation;
using ChaosPS.Stress;

namespace ChaosPS.Commands;

/// <summary>Opens N TCP connections to a loopback target and holds them for the duration.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "ConnectionExhaustion", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(StressResult))]
public sealed class InvokeConnectionExhaustionCommand : StressCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("RouterUri", "Url")]
    public Uri? Uri { get; set; }

    [Parameter]
    public int Count { get; set; } = 1000;

    [Parameter]
    [DurationTransform]
    [ValidateDuration]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    protected override void ProcessRecord()
    {
        var o = new ConnectionStressOptions { Uri = Uri!, Count = Count, Duration = Duration, ConnectTimeout = ConnectTimeout };
        RunStressor("ConnectionExhaustion", Uri!.ToString(), $"Hold {Count} TCP connections for {DurationParser.Format(Duration)}",
            () => { ConnectionStress.Validate(o); return null; },
            async (r, ct) => await ConnectionStress.RunAsync(o, r, ct).ConfigureAwait(false));
    }
}
