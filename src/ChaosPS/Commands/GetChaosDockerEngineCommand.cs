using System.Management.Automation;

namespace ChaosPS.Commands;

/// <summary>Tells whether the Docker engine ChaosPS would use is reachable, and its version.</summary>
[Cmdlet(VerbsCommon.Get, "ChaosDockerEngine")]
[OutputType(typeof(ChaosPS.Docker.DockerEngineInfo))]
public sealed class GetChaosDockerEngineCommand : ChaosCmdlet
{
    /// <summary>The engine endpoint, e.g. unix:///var/run/docker.sock; DOCKER_HOST or the platform default when omitted.</summary>
    [Parameter(Position = 0)]
    [ValidateNotBlank, ValidateDockerEndpoint]
    public string? DockerEndpoint { get; set; }

    protected override void EndProcessing()
        => WriteObject(RunEngine((_, ct) => ChaosPS.Docker.DockerEngine.ProbeAsync(DockerEndpoint, ct)));
}
