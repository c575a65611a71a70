using System.Collections.Frozen;

namespace ChaosPS.Network;

/// <summary>Where a toxic acts: a link direction's byte stream, whole connections, or single HTTP requests.</summary>
public enum ToxicKind
{
    /// <summary>Runs in a link direction's toxic chain (toxiproxy's toxics).</summary>
    Chain,
    /// <summary>Acts on whole connections before any byte is relayed (reset_on_connect, refuse_connect).</summary>
    Connection,
    /// <summary>Acts on single requests of a proxy in HTTP mode (toxicity = the share of matching requests).</summary>
    Http,
}

/// <summary>What the cmdlets demand when a fault is made without an attribute: toxiproxy-style text and a hint for people.</summary>
public sealed record ToxicRequirement(string ApiMessage, string Hint);

/// <summary>One numeric attribute of a toxic type: its toxiproxy name, unit, range and default.</summary>
public sealed record ToxicAttribute(string Name, string Unit)
{
    public long Min { get; init; }
    public long Max { get; init; } = long.MaxValue;
    /// <summary>Filled in when the attribute is not given (null: stays absent, reads as 0 as in toxiproxy).</summary>
    public long? Default { get; init; }
    /// <summary>Set when the cmdlets require the attribute (toxiproxy's API takes 0 when it is absent).</summary>
    public ToxicRequirement? Required { get; init; }
}

/// <summary>
/// A toxic type: its toxiproxy name, the cmdlet's name for it, its attributes (in toxiproxy's JSON order), its own
/// checks beyond "not negative", and for chain toxics the factory of its per-link behaviour.
/// </summary>
public sealed class ToxicDefinition
{
    public required string Name { get; init; }
    /// <summary>The cmdlets' -Type value (Latency, SlowClose, HttpStatus...).</summary>
    public required string FriendlyName { get; init; }
    public ToxicKind Kind { get; init; } = ToxicKind.Chain;
    public IReadOnlyList<ToxicAttribute> Attributes { get; init; } = [];
    /// <summary>String attributes (only the HTTP types have them: which requests they match).</summary>
    public IReadOnlyList<string> StringAttributes { get; init; } = [];
    /// <summary>The type's own checks, after toxicity and "not negative" (a bad value throws a 400 ProxyException).</summary>
    internal Action<IReadOnlyDictionary<string, long>, IReadOnlyDictionary<string, string>?>? Check { get; init; }
    /// <summary>Chain toxics: makes the toxic's state for one link direction (resolved once per link, never per read).</summary>
    internal Func<ToxicSpec, Link, bool, LinkToxic>? CreateLink { get; init; }
    /// <summary>HTTP toxics: what the toxic does to a request it hits (the proxy's HTTP mode asks this, never the name).</summary>
    internal IHttpToxic? HttpBehaviour { get; init; }

    /// <summary>The attribute names in toxiproxy's JSON order.</summary>
    public IReadOnlyList<string> AttributeNames => _names ??= [.. Attributes.Select(a => a.Name)];
    private IReadOnlyList<string>? _names;

    /// <summary>Whether the type has its behaviour wired: a link factory for chain toxics, an <see cref="IHttpToxic"/> for
    /// HTTP toxics, the proxy itself for connection toxics.</summary>
    public bool HasBehaviour => Kind switch
    {
        ToxicKind.Chain => CreateLink is not null,
        ToxicKind.Http => HttpBehaviour is not null,
        _ => true,
    };

    public ToxicAttribute? Attribute(string name)
    {
        foreach (var a in Attributes) if (a.Name == name) return a;
        return null;
    }

    public void Validate(IReadOnlyDictionary<string, long> attributes, IReadOnlyDictionary<string, string>? strings) => Check?.Invoke(attributes, strings);

    /// <summary>A toxic of a link direction's chain: its per-link factory, its attributes, its own checks if any.</summary>
    internal static ToxicDefinition Chain(string name, string friendlyName, Func<ToxicSpec, Link, bool, LinkToxic> create,
        IReadOnlyList<ToxicAttribute>? attributes = null, Action<IReadOnlyDictionary<string, long>, IReadOnlyDictionary<string, string>?>? check = null)
        => new() { Name = name, FriendlyName = friendlyName, CreateLink = create, Check = check, Attributes = attributes ?? [] };

    /// <summary>A connection-level toxic: it takes no attributes and acts in the proxy itself.</summary>
    internal static ToxicDefinition Connection(string name, string friendlyName) => new() { Name = name, FriendlyName = friendlyName, Kind = ToxicKind.Connection };

    /// <summary>An HTTP toxic: matched by method and path (checked after its own checks), acting on the requests it hits
    /// through its behaviour.</summary>
    internal static ToxicDefinition Http(string name, string friendlyName, IReadOnlyList<ToxicAttribute> attributes, IHttpToxic behaviour,
        Action<IReadOnlyDictionary<string, long>>? check = null) => new()
    {
        Name = name, FriendlyName = friendlyName, Kind = ToxicKind.Http, Attributes = attributes, StringAttributes = HttpRules.MatchAttributes,
        HttpBehaviour = behaviour,
        Check = (a, strings) => { check?.Invoke(a); HttpRules.ValidateMatch(strings); },
    };
}

/// <summary>The one table of toxic types; everything else (validation, JSON, cmdlets, the proxy) reads from it.</summary>
public static class ToxicRegistry
{
    /// <summary>toxiproxy's types, then ChaosPS's connection-level partitions and HTTP toxics (this order is shown to users).</summary>
    public static readonly IReadOnlyList<ToxicDefinition> All =
    [
        LatencyLinkToxic.Definition, BandwidthLinkToxic.Definition, SlowCloseLinkToxic.Definition, TimeoutLinkToxic.Definition,
        ResetPeerLinkToxic.Definition, SlicerLinkToxic.Definition, LimitDataLinkToxic.Definition, NoopLinkToxic.Definition,
        ResetOnConnectToxic.Definition, RefuseConnectToxic.Definition,
        HttpStatusToxic.Definition, HttpDelayToxic.Definition, HttpSlowBodyToxic.Definition, HttpResetToxic.Definition,
    ];

    private static readonly FrozenDictionary<string, ToxicDefinition> ByName = All.ToFrozenDictionary(d => d.Name, StringComparer.Ordinal);

    public static IReadOnlyList<string> Names { get; } = [.. All.Select(d => d.Name)];

    public static ToxicDefinition? Find(string type) => ByName.GetValueOrDefault(type);
}
