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
    [Parameter(Mandatory = true, ParameterSetName = "Container", Position = 0, ValueFromPipelineByPropertyName = true)]
    [AllowNull, AllowEmptyString]
    public string? Container { get; set; }

    [Parameter(ParameterSetName = "Container")]
    public string? DockerEndpoint { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "ProcessId")]
    [Alias("Pid")]
    public int ProcessId { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "NetNamespace")]
    [AllowNull, AllowEmptyString]
    public string? NetNamespace { get; set; }

    [Parameter]
    public double? LossPercent { get; set; }

    [Parameter]
    public double? LossCorrelation { get; set; }

    [Parameter, DurationTransform]
    public TimeSpan? Delay { get; set; }

    [Parameter, DurationTransform]
    public TimeSpan? Jitter { get; set; }

    [Parameter]
    public double? DuplicatePercent { get; set; }

    [Parameter]
    public double? CorruptPercent { get; set; }

    [Parameter]
    public double? ReorderPercent { get; set; }

    [Parameter]
    [ValidateSet("Tcp", "Udp", "Icmp", IgnoreCase = true)]
    public string? Protocol { get; set; }

    [Parameter]
    public int? Port { get; set; }

    [Parameter]
    public string? Peer { get; set; }

    [Parameter]
    public string[]? Interface { get; set; }

    [Parameter]
    [ValidateSet("Egress", "Ingress", "Both", IgnoreCase = true)]
    public string Direction { get; set; } = "Egress";

    [Parameter]
    [ValidateSet("Auto", "Netem", "Nftables", IgnoreCase = true)]
    public string Mechanism { get; set; } = "Auto";

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
