using System.Management.Automation;

namespace ChaosPS.Commands;

/// <summary>Tells whether the Docker engine ChaosPS would use is reachable, and its version.</summary>
[Cmdlet(VerbsCommon.Get, "ChaosDockerEngine")]
[OutputType(typeof(ChaosPS.Docker.DockerEngineInfo))]
public sealed class GetChaosDockerEngineCommand : ChaosCmdlet
{
    [Parameter(Position = 0)]
    [ValidateNotBlank, ValidateDockerEndpoint]
    public string? DockerEndpoint { get; set; }

    protected override void EndProcessing()
        => WriteObject(RunEngine((_, ct) => ChaosPS.Docker.DockerEngine.ProbeAsync(DockerEndpoint, ct)));
}
