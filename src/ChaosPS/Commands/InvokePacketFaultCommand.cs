using System.Management.Automation;
using ChaosPS.Faults;
using ChaosPS.PacketFaults;

namespace ChaosPS.Commands;

/// <summary>Applies a packet fault for a duration and removes it when the duration ends. Its help is module/help/Invoke-PacketFault.md.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "PacketFault", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "Container")]
[OutputType(typeof(PacketFaultResult))]
public sealed class InvokePacketFaultCommand : PacketFaultCmdletBase
{
    [Parameter(Mandatory = true)]
    [DurationTransform]
    public TimeSpan Duration { get; set; }

    protected override void ProcessRecord()
    {
        if (Duration <= TimeSpan.Zero)
            ThrowChaosError(ChaosException.InvalidArgument("InvalidDuration", "-Duration must be positive.", Duration));
        var plan = BuildPlan();
        if (!ShouldProcess(plan.Target.Display, Action(plan, DurationParser.Format(Duration)))) return;
        var duration = Duration;
        WriteObject(RunEngine((r, ct) => PacketFaultEngine.InvokeAsync(plan, duration, FaultLedger.Default, r, ct)));
    }
}
