using Docker.DotNet;

namespace ChaosPS.Docker;

/// <summary>What Get-ChaosDockerEngine reports about the engine ChaosPS talks to.</summary>
public sealed class DockerEngineInfo
{
    public string Endpoint { get; init; } = "";
    public bool Reachable { get; init; }
    public string? Version { get; init; }
    public string? ApiVersion { get; init; }
    public string? OperatingSystem { get; init; }
    public string? Error { get; init; }
}

/// <summary>
/// One place that knows how to reach the Docker engine: DOCKER_HOST when set, else the platform's default socket
/// or pipe. Every capability that uses Docker gets its client from here, so errors name the same endpoint.
/// </summary>
public static class DockerEngine
{
    public static string DefaultEndpoint =>
        Environment.GetEnvironmentVariable("DOCKER_HOST") is { Length: > 0 } host ? host
        : OperatingSystem.IsWindows() ? "npipe://./pipe/docker_engine" : "unix:///var/run/docker.sock";

    /// <summary>A client for <paramref name="endpoint"/> (or the default). The caller disposes it.</summary>
    public static DockerClient CreateClient(string? endpoint = null, TimeSpan? timeout = null, string? apiVersion = null)
    {
        var b = new DockerClientBuilder()
            .WithEndpoint(new Uri(endpoint ?? DefaultEndpoint))
            .WithTimeout(timeout ?? TimeSpan.FromSeconds(100));
        // Speak the engine's own API version: the client library's default is newer than older engines accept.
        if (apiVersion is not null && Version.TryParse(apiVersion, out var v)) b = b.WithApiVersion(v);
        return b.Build();
    }

    /// <summary>Pings the engine; never throws.</summary>
    public static async Task<DockerEngineInfo> ProbeAsync(string? endpoint = null, CancellationToken ct = default)
    {
        endpoint ??= DefaultEndpoint;
        if (endpoint.StartsWith("unix://", StringComparison.OrdinalIgnoreCase))
        {
            var socket = new Uri(endpoint).LocalPath;
            if (!File.Exists(socket))
                return new DockerEngineInfo { Endpoint = endpoint, Reachable = false, Error = $"there is no socket at {socket} (is dockerd running?)" };
        }
        try
        {
            using var client = CreateClient(endpoint, TimeSpan.FromSeconds(5));
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            var v = await client.System.GetVersionAsync(timeout.Token).ConfigureAwait(false);
            return new DockerEngineInfo { Endpoint = endpoint, Reachable = true, Version = v.Version, ApiVersion = v.APIVersion, OperatingSystem = $"{v.Os}/{v.Arch}" };
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return new DockerEngineInfo { Endpoint = endpoint, Reachable = false, Error = Describe(e) };
        }
    }

    /// <summary>Returns a connected client (negotiated to the engine's API version) or throws ChaosException(DockerUnreachable) naming the endpoint and what to do.</summary>
    public static async Task<DockerClient> ConnectAsync(string? endpoint = null, CancellationToken ct = default)
    {
        var info = await ProbeAsync(endpoint, ct).ConfigureAwait(false);
        if (!info.Reachable) throw Unreachable(info.Endpoint, info.Error);
        return CreateClient(info.Endpoint, apiVersion: info.ApiVersion);
    }

    public static ChaosException Unreachable(string endpoint, string? why) => new("DockerUnreachable", ChaosErrorCategory.ResourceUnavailable,
        $"The Docker engine at {endpoint} is not reachable: {why}",
        endpoint, "Start the Docker engine (for example 'dockerd --bridge=none --iptables=false &' on a test host), or set DOCKER_HOST / -DockerEndpoint to a reachable engine.");

    private static string Describe(Exception e)
    {
        while (e.InnerException is not null && e is HttpRequestException or AggregateException or DockerApiException == false) e = e.InnerException;
        var inner = e;
        while (inner.InnerException is not null) inner = inner.InnerException;
        return inner == e ? e.Message : $"{e.Message} ({inner.Message})";
    }
}
