using System.Management.Automation;
using ChaosPS.Faults;
using ChaosPS.PacketFaults;

namespace ChaosPS.Commands;

/// <summary>Adds a packet fault to a network namespace. Its help is module/help/Add-PacketFault.md.</summary>
[Cmdlet(VerbsCommon.Add, "PacketFault", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High, DefaultParameterSetName = "Container")]
[OutputType(typeof(PacketFaultInfo))]
public sealed class AddPacketFaultCommand : PacketFaultCmdletBase
{
    protected override void ProcessRecord()
    {
        var plan = BuildPlan();
        if (!ShouldProcess(plan.Target.Display, Action(plan, null))) return;
        WriteObject(RunEngine((r, ct) => PacketFaultEngine.ApplyAsync(plan, null, FaultLedger.Default, ct)));
    }
}
