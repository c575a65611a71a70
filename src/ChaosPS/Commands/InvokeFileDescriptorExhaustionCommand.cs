using System.Management.Automation;
using ChaosPS.Stress;

namespace ChaosPS.Commands;

/// <summary>Holds N open file descriptors in a stressor process, or (-ProcessId) lowers a process's descriptor limit to what it has open plus -Count.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "FileDescriptorExhaustion", DefaultParameterSetName = "Hold", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(StressResult))]
public sealed class InvokeFileDescriptorExhaustionCommand : StressCmdlet
{
    [Parameter(Position = 0)]
    public int Count { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "Process", ValueFromPipelineByPropertyName = true)]
    [Alias("Pid")]
    [ValidateRange(1, int.MaxValue)]
    public int ProcessId { get; set; }

    protected override void ProcessRecord()
    {
        bool limit = ParameterSetName == "Process";
        var o = new FdStressOptions { Count = MyInvocation.BoundParameters.ContainsKey(nameof(Count)) ? Count : limit ? 0 : 1000, Duration = Duration, ProcessId = limit ? ProcessId : null };
        RunStressor("FileDescriptorExhaustion", limit ? $"process {ProcessId}" : "host",
            limit ? $"Limit to open descriptors + {o.Count} for {DurationParser.Format(Duration)}" : $"Hold {o.Count} descriptors for {DurationParser.Format(Duration)}",
            () => { FdStress.Validate(o); return null; },
            async (r, ct) => await FdStress.RunAsync(o, r, ct).ConfigureAwait(false));
    }
}
