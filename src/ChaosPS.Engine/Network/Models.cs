namespace ChaosPS.Network;

/// <summary>A proxy as Get-ChaosProxy shows it, with live metrics (a snapshot).</summary>
public sealed class ChaosProxyInfo
{
    public string Name { get; init; } = "";
    public string Listen { get; init; } = "";
    public string Upstream { get; init; } = "";
    public bool Enabled { get; init; }
    /// <summary>tcp, or http (HTTP/1.x parsed, so the HTTP faults can act on single requests).</summary>
    public string Mode { get; init; } = "tcp";
    /// <summary>HTTP mode: requests seen (null in tcp mode).</summary>
    public long? HttpRequests { get; init; }
    /// <summary>HTTP mode: requests an HttpStatus fault answered without reaching the upstream (null in tcp mode).</summary>
    public long? HttpAnswered { get; init; }
    /// <summary>False while disabled or while a RefuseConnect partition holds the listener closed.</summary>
    public bool Listening { get; init; }
    public int ActiveConnections { get; init; }
    public long ConnectionsTotal { get; init; }
    /// <summary>Client connections closed because the upstream could not be reached within the connect timeout.</summary>
    public long DialFailures { get; init; }
    /// <summary>Connections reset at accept by a ResetOnConnect fault.</summary>
    public long RefusedConnections { get; init; }
    /// <summary>Connections reset by a toxic (reset_peer).</summary>
    public long Resets { get; init; }
    /// <summary>Bytes written to the upstream (client to server), live.</summary>
    public long BytesUpstream { get; init; }
    /// <summary>Bytes written to clients (server to client), live.</summary>
    public long BytesDownstream { get; init; }
    /// <summary>How many times a toxic became active on a connection (toxicity hits).</summary>
    public long ToxicActivations { get; init; }
    public IReadOnlyList<NetworkFaultInfo> Toxics { get; init; } = [];
    public TimeSpan ConnectTimeout { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    /// <summary>The toxiproxy server this proxy lives on (null: the built-in proxy of this session).</summary>
    public string? ToxiproxyUri { get; init; }
    /// <summary>The proxy's name again, so `Get-ChaosProxy | Add-NetworkFault` binds by property name.</summary>
    public string Proxy => Name;
}

/// <summary>
/// Which fault (toxic) on which proxy, as every network fault object names it (<see cref="NetworkFaultInfo"/>,
/// <see cref="NetworkFaultResult"/>): the proxy, the toxic's name and type, its stream, toxicity and attributes. The
/// objects keep these as their own flat properties (users and the format views read <c>$f.Proxy</c>, <c>$f.Type</c>),
/// forwarding here.
/// </summary>
internal sealed record NetworkFaultIdentity
{
    public static readonly NetworkFaultIdentity None = new();

    public string Proxy { get; init; } = "";
    public string Name { get; init; } = "";
    /// <summary>toxiproxy's type name: latency, bandwidth, slow_close, timeout, reset_peer, slicer, limit_data, down, ...</summary>
    public string Type { get; init; } = "";
    public string Stream { get; init; } = "";
    public double Toxicity { get; init; }
    public IReadOnlyDictionary<string, long> Attributes { get; init; } = new Dictionary<string, long>();
}

/// <summary>A fault (toxic) on a proxy, as the network cmdlets output it.</summary>
public sealed class NetworkFaultInfo
{
    /// <summary>Which fault on which proxy (the flat properties below forward to it).</summary>
    internal NetworkFaultIdentity Fault { get; init; } = NetworkFaultIdentity.None;
    public string Proxy => Fault.Proxy;
    public string Name => Fault.Name;
    public string Type => Fault.Type;
    public string Stream => Fault.Stream;
    public double Toxicity => Fault.Toxicity;
    public IReadOnlyDictionary<string, long> Attributes => Fault.Attributes;
    /// <summary>Connections this toxic became active on; for an HTTP fault, the requests it hit (built-in proxy only).</summary>
    public long Activations { get; init; }
    /// <summary>HTTP faults: requests that matched its method and path (null for other faults).</summary>
    public long? RequestsMatched { get; init; }
    /// <summary>HTTP faults: the methods matched (empty: all).</summary>
    public string? Method { get; init; }
    /// <summary>HTTP faults: the path prefix or wildcard matched (empty: all).</summary>
    public string? Path { get; init; }
    /// <summary>The fault ledger id (Get-ChaosFault / Restore-ChaosFault) when the fault was added by a cmdlet.</summary>
    public string? FaultId { get; init; }
    public string? ToxiproxyUri { get; init; }
    /// <summary>Human summary of the attributes, e.g. "latency=500 jitter=100".</summary>
    public string Settings => string.Join(' ', Attributes.Select(kv => $"{kv.Key}={kv.Value}")
        .Concat(string.IsNullOrEmpty(Method) ? [] : [$"method={Method}"]).Concat(string.IsNullOrEmpty(Path) ? [] : [$"path={Path}"]));

    public static NetworkFaultInfo From(string proxy, ToxicSpec t, string? faultId, string? uri = null) => new()
    {
        Fault = new()
        {
            Proxy = proxy, Name = t.Name, Type = t.Type, Stream = t.StreamAsSent, Toxicity = t.Toxicity,
            Attributes = ToxicTypes.IsKnown(t.Type) ? ToxicTypes.Attributes(t.Type).ToDictionary(a => a, t.Attr) : new Dictionary<string, long>(t.Attributes),
        },
        Activations = t.ActivationCount,
        RequestsMatched = ToxicTypes.IsHttp(t.Type) ? t.RequestsMatched : null,
        Method = ToxicTypes.IsHttp(t.Type) ? t.StringAttr("method") : null,
        Path = ToxicTypes.IsHttp(t.Type) ? t.StringAttr("path") : null,
        FaultId = faultId, ToxiproxyUri = UriRedaction.Redact(uri),
    };

    /// <summary>A proxy's Down fault (a whole proxy disabled, not a toxic): both streams, always in force.</summary>
    internal static NetworkFaultInfo Down(string proxy, string name, string faultId, string? uri) => new()
    {
        Fault = new() { Proxy = proxy, Name = name, Type = "down", Stream = "both", Toxicity = 1 }, FaultId = faultId, ToxiproxyUri = UriRedaction.Redact(uri),
    };

    /// <summary>What Remove-NetworkFault -PassThru writes for a fault it removed: the proxy and the fault's name.</summary>
    public static NetworkFaultInfo Removed(string proxy, string name, string? uri) => new() { Fault = new() { Proxy = proxy, Name = name }, ToxiproxyUri = UriRedaction.Redact(uri) };
}

/// <summary>What Invoke-NetworkFault reports when its fault has ended.</summary>
public sealed class NetworkFaultResult
{
    /// <summary>Which fault on which proxy (the flat properties below forward to it).</summary>
    internal NetworkFaultIdentity Fault { get; init; } = NetworkFaultIdentity.None;
    public string Proxy => Fault.Proxy;
    public string Name => Fault.Name;
    public string Type => Fault.Type;
    public string Stream => Fault.Stream;
    public double Toxicity => Fault.Toxicity;
    public IReadOnlyDictionary<string, long> Attributes => Fault.Attributes;
    public string FaultId { get; init; } = "";
    public TimeSpan PlannedDuration { get; init; }
    /// <summary>When the fault was in force: from applied (UTC) until removed.</summary>
    public DateTimeOffset AppliedAt { get; init; }
    public DateTimeOffset RemovedAt { get; init; }
    public TimeSpan ActualDuration { get; init; }
    /// <summary>Completed: ran its duration; Cancelled: Ctrl+C / Stop-Job ended it early. Either way it was removed.</summary>
    public string Outcome { get; init; } = "";
    /// <summary>Restored / AlreadyRestored / Failed (from the fault ledger).</summary>
    public string RestoreOutcome { get; init; } = "";
    /// <summary>
    /// Connections the proxy accepted while the fault was in force, and toxic activations among them. For a Down fault:
    /// the connection attempts refused while it was down (<see cref="RefusedDuring"/>) plus the open connections it
    /// closed (<see cref="ClosedAtStart"/>); every one of them hit the fault.
    /// </summary>
    public long ConnectionsDuring { get; init; }
    /// <summary>Down faults on a built-in proxy: connection attempts refused while down (counted through a raw socket); null when not measurable (needs root or CAP_NET_RAW) or not a Down fault.</summary>
    public long? RefusedDuring { get; init; }
    /// <summary>Down faults: open connections the proxy closed when it went down.</summary>
    public long ClosedAtStart { get; init; }
    public long Activations { get; init; }
    public long BytesUpstreamDuring { get; init; }
    public long BytesDownstreamDuring { get; init; }
    /// <summary>
    /// The counters above were read: a built-in proxy (a toxiproxy server's proxy leaves them 0), and for a Down fault
    /// the refused attempts could be counted too.
    /// </summary>
    public bool TrafficMeasured { get; init; }
    /// <summary>Measured, and nothing went through the proxy or was refused or closed while the fault was in force: it acted on nothing.</summary>
    public bool NoTraffic => TrafficMeasured && ConnectionsDuring == 0 && Activations == 0 && ClosedAtStart == 0 && (RefusedDuring ?? 0) == 0
        && BytesUpstreamDuring == 0 && BytesDownstreamDuring == 0;
}

/// <summary>A running toxiproxy-compatible API server (Start-ChaosProxyServer).</summary>
public sealed class ChaosProxyServerInfo
{
    public string Listen { get; init; } = "";
    /// <summary>Pass this as -ToxiproxyUri, or to a toxiproxy client (TOXIPROXY_URL).</summary>
    public string Uri { get; init; } = "";
    public string Version { get; init; } = "";
    public DateTimeOffset StartedAt { get; init; }
    public int Proxies { get; init; }

    public static ChaosProxyServerInfo From(ToxiproxyApiServer s) => new()
    {
        Listen = s.Listen, Uri = s.Uri.ToString().TrimEnd('/'), Version = ToxiproxyApiServer.Version, StartedAt = s.StartedAt,
        Proxies = ProxyCollection.Default.List().Count,
    };
}
