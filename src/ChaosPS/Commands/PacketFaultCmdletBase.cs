using System.Management.Automation;
using ChaosPS.PacketFaults;

namespace ChaosPS.Commands;

/// <summary>
/// The parameters Add-PacketFault and Invoke-PacketFault share: which network namespace (a container's, a process's or
/// a named one), which effects, which packets. Values are checked by the engine (stable error ids, NaN included) before
/// anything is changed; engine types appear only inside methods (the load-context rule).
/// </summary>
public abstract class PacketFaultCmdletBase : ChaosCmdlet
{
    /// <summary>A running container (name or id); the fault goes into its network namespace (its main process's, from container inspect State.Pid).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "Container", Position = 0, ValueFromPipelineByPropertyName = true)]
    [AllowNull, AllowEmptyString]
    public string? Container { get; set; }

    /// <summary>The Docker engine (default: DOCKER_HOST or the local socket).</summary>
    [Parameter(ParameterSetName = "Container")]
    public string? DockerEndpoint { get; set; }

    /// <summary>A process; the fault goes into its network namespace (/proc/PID/ns/net).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "ProcessId")]
    [Alias("Pid")]
    public int ProcessId { get; set; }

    /// <summary>A named network namespace (/run/netns/NAME, as `ip netns add` makes them).</summary>
    [Parameter(Mandatory = true, ParameterSetName = "NetNamespace")]
    [AllowNull, AllowEmptyString]
    public string? NetNamespace { get; set; }

    /// <summary>Percent (0..100) of the matching packets dropped.</summary>
    [Parameter]
    public double? LossPercent { get; set; }

    /// <summary>Percent (0..100) by which a packet's loss depends on the previous one's (netem only).</summary>
    [Parameter]
    public double? LossCorrelation { get; set; }

    /// <summary>Delay added to each packet (netem only).</summary>
    [Parameter, DurationTransform]
    public TimeSpan? Delay { get; set; }

    /// <summary>± jitter on the delay (netem only).</summary>
    [Parameter, DurationTransform]
    public TimeSpan? Jitter { get; set; }

    /// <summary>Percent of packets sent twice (netem only).</summary>
    [Parameter]
    public double? DuplicatePercent { get; set; }

    /// <summary>Percent of packets with a flipped bit (netem only).</summary>
    [Parameter]
    public double? CorruptPercent { get; set; }

    /// <summary>Percent of packets sent at once while the rest wait -Delay (netem only; needs -Delay).</summary>
    [Parameter]
    public double? ReorderPercent { get; set; }

    /// <summary>Only packets of this protocol (nftables only).</summary>
    [Parameter]
    [ValidateSet("Tcp", "Udp", "Icmp", IgnoreCase = true)]
    public string? Protocol { get; set; }

    /// <summary>Only TCP/UDP packets with this port at either end (nftables only).</summary>
    [Parameter]
    public int? Port { get; set; }

    /// <summary>Only packets to (egress) or from (ingress) this address or CIDR range (nftables only).</summary>
    [Parameter]
    public string? Peer { get; set; }

    /// <summary>Interfaces inside the namespace (default: every interface but lo; name lo to fault loopback traffic).</summary>
    [Parameter]
    public string[]? Interface { get; set; }

    /// <summary>Egress (leaving the interface, the default and netem's only direction), Ingress or Both (nftables).</summary>
    [Parameter]
    [ValidateSet("Egress", "Ingress", "Both", IgnoreCase = true)]
    public string Direction { get; set; } = "Egress";

    /// <summary>Auto (netem where the kernel has it and the request fits, else nftables), Netem or Nftables.</summary>
    [Parameter]
    [ValidateSet("Auto", "Netem", "Nftables", IgnoreCase = true)]
    public string Mechanism { get; set; } = "Auto";

    /// <summary>Allow the host's own network namespace (the same as /proc/1/ns/net: its SSH and everything else).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    private static string Canonical(string v, params string[] set) => set.First(s => s.Equals(v, StringComparison.OrdinalIgnoreCase));

    /// <summary>Validates, resolves the namespace and renders the rules; a terminating error with a specific id before anything changes.</summary>
    internal PacketFaultEngine.Plan BuildPlan()
    {
        var spec = new PacketFaultSpec
        {
            LossPercent = LossPercent, LossCorrelation = LossCorrelation, Delay = Delay, Jitter = Jitter,
            DuplicatePercent = DuplicatePercent, CorruptPercent = CorruptPercent, ReorderPercent = ReorderPercent,
            Protocol = Protocol?.ToLowerInvariant(), Port = Port, Peer = Peer, Interfaces = Interface,
            Direction = Canonical(Direction, "Egress", "Ingress", "Both"), Mechanism = Canonical(Mechanism, "Auto", "Netem", "Nftables"),
        };
        string set = ParameterSetName;
        string? container = Container, ns = NetNamespace, endpoint = DockerEndpoint;
        int pid = ProcessId;
        bool force = Force;
        return RunEngine((r, ct) => PacketFaultEngine.PlanAsync(spec, c => set switch
        {
            "Container" => NetNamespaceTarget.ForContainerAsync(container, endpoint, c),
            "ProcessId" => NetNamespaceTarget.ForProcessAsync(pid, c),
            _ => NetNamespaceTarget.ForNamedAsync(ns, c),
        }, force, ct));
    }

    /// <summary>The -WhatIf / -Confirm text: the effects and the exact rules.</summary>
    internal static string Action(PacketFaultEngine.Plan plan, string? duration)
        => $"Apply packet fault {plan.Spec.DescribeEffects()} on {plan.Spec.DescribeFilter()} ({plan.Spec.Direction.ToLowerInvariant()}; {string.Join(", ", plan.Devices)})"
           + (duration is null ? "" : $" for {duration}") + $" via {plan.Mechanism} ({plan.MechanismReason}), with:\n{plan.Rules}";
}
