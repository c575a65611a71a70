using System.Management.Automation;
using ChaosPS.Faults;
using ChaosPS.PacketFaults;

namespace ChaosPS.Commands;

/// <summary>
/// Adds a packet fault (loss, delay, duplication, corruption, reordering) to a container's, a process's or a named
/// network namespace, with tc netem where the kernel has it and nftables otherwise. It stays until Restore-ChaosFault -
/// or until this PowerShell exits or is killed (the fault ledger's watchdog removes it). Recorded before it is applied.
/// </summary>
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
