using System.Globalization;
using System.Text.Json;

namespace ChaosPS.Network;

/// <summary>
/// An error of the proxy's control plane. <see cref="ApiMessage"/> is toxiproxy's exact text (clients match it),
/// <see cref="HttpStatus"/> the status toxiproxy answers with; the base Message is for people.
/// </summary>
public sealed class ProxyException : ChaosException
{
    public ProxyException(int httpStatus, string apiMessage, string errorId, ChaosErrorCategory category, string message,
        object? target = null, string? recommendedAction = null, Exception? inner = null)
        : base(errorId, category, message, target, recommendedAction, inner)
    {
        HttpStatus = httpStatus;
        ApiMessage = apiMessage;
    }

    public int HttpStatus { get; }
    public string ApiMessage { get; }

    public static ProxyException BadRequest(string apiMessage, string errorId, string? message = null, object? target = null)
        => new(400, apiMessage, errorId, ChaosErrorCategory.InvalidArgument, message ?? apiMessage, target);

    public static ProxyException ProxyNotFound(string name)
        => new(404, "proxy not found", "ProxyNotFound", ChaosErrorCategory.ObjectNotFound, $"No chaos proxy named '{name}' exists.", name,
            "List the proxies with Get-ChaosProxy, or create one with Start-ChaosProxy.");

    public static ProxyException ToxicNotFound(string proxy, string toxic)
        => new(404, "toxic not found", "ToxicNotFound", ChaosErrorCategory.ObjectNotFound, $"Proxy '{proxy}' has no toxic named '{toxic}'.", toxic,
            "List the faults with Get-ChaosProxy -Name <proxy> | Select-Object -ExpandProperty Toxics.");
}

/// <summary>Questions about toxic types, answered from <see cref="ToxicRegistry"/> (the one table of types).</summary>
public static class ToxicTypes
{
    /// <summary>toxiproxy's types, plus ChaosPS's connection-level partitions and HTTP toxics.</summary>
    public static IReadOnlyList<string> All => ToxicRegistry.Names;

    /// <summary>The numeric attributes in toxiproxy's JSON order (none for an unknown type).</summary>
    public static IReadOnlyList<string> Attributes(string type) => ToxicRegistry.Find(type)?.AttributeNames ?? [];

    /// <summary>String attributes (only the HTTP types have them: which requests they match).</summary>
    public static IReadOnlyList<string> StringAttributes(string type) => ToxicRegistry.Find(type)?.StringAttributes ?? [];

    /// <summary>Types that act on single HTTP requests of a proxy in HTTP mode (toxicity = the share of matching requests).</summary>
    public static bool IsHttp(string type) => ToxicRegistry.Find(type)?.Kind == ToxicKind.Http;

    /// <summary>Types that run in a link direction's toxic chain (not connection-level, not per HTTP request).</summary>
    public static bool RunsInChain(string type) => !IsConnectionLevel(type) && !IsHttp(type);

    /// <summary>Types that act on whole connections rather than on a direction's byte stream.</summary>
    public static bool IsConnectionLevel(string type) => ToxicRegistry.Find(type)?.Kind == ToxicKind.Connection;

    public static bool IsKnown(string type) => ToxicRegistry.Find(type) is not null;

    /// <summary>Maps a cmdlet-style name (Latency, SlowClose, ResetPeer, LimitData...) to toxiproxy's type name.</summary>
    public static string FromFriendly(string name)
    {
        var lower = name.ToLowerInvariant();
        if (IsKnown(lower)) return lower;
        foreach (var t in All)
            if (string.Equals(t.Replace("_", ""), lower.Replace("_", "").Replace("-", ""), StringComparison.Ordinal)) return t;
        return lower;
    }

    /// <summary>Checks a toxic's settings (ChaosPS's improvement over toxiproxy: bad values are a 400, nothing changes):
    /// toxicity, no negative attribute, then the type's own checks.</summary>
    public static void Validate(string type, double toxicity, IReadOnlyDictionary<string, long> attributes, IReadOnlyDictionary<string, string>? strings = null)
    {
        if (double.IsNaN(toxicity) || toxicity < 0 || toxicity > 1)
            throw ProxyException.BadRequest($"toxicity must be between 0 and 1, got {toxicity.ToString(CultureInfo.InvariantCulture)}", "InvalidToxicity");
        foreach (var (k, v) in attributes)
            if (v < 0) throw ProxyException.BadRequest($"attribute {k} must not be negative, got {v}", "InvalidToxicAttribute");
        ToxicRegistry.Find(type)?.Validate(attributes, strings);
    }
}

/// <summary>A toxic as the control plane knows it: toxiproxy's data model. Mutable only under its proxy's lock.</summary>
public sealed class ToxicSpec
{
    public string Name { get; internal set; } = "";
    public string Type { get; internal set; } = "";
    /// <summary>upstream (client to server), downstream (server to client) or both (ChaosPS).</summary>
    public string Stream { get; internal set; } = "downstream";
    /// <summary>The stream string exactly as the client sent it (toxiproxy echoes it unchanged).</summary>
    internal string StreamAsSent { get; set; } = "downstream";
    public double Toxicity { get; internal set; } = 1.0;
    internal Dictionary<string, long> Attrs { get; } = new(StringComparer.Ordinal);
    /// <summary>String attributes (HTTP types: method, path).</summary>
    internal Dictionary<string, string> StringAttrs { get; } = new(StringComparer.Ordinal);
    /// <summary>HTTP types: picks the requests it hits; shared by every copy of the spec, so the share stays exact.</summary>
    internal RequestSelector Selector = new();
    /// <summary>Bumped on every update, so links pick up the change.</summary>
    internal int Version;
    /// <summary>Links that drew this toxic as active (toxicity hit), counted since it was added.</summary>
    internal long ActivationCount;

    public IReadOnlyDictionary<string, long> Attributes => Attrs;
    public IReadOnlyDictionary<string, string> StringAttributes => StringAttrs;
    public string StringAttr(string key) => StringAttrs.TryGetValue(key, out var v) ? v : "";
    /// <summary>HTTP types: requests that matched its method and path since it was added.</summary>
    public long RequestsMatched => Selector.Matched;

    public long Attr(string key) => Attrs.TryGetValue(key, out var v) ? v : 0;

    public bool AppliesTo(bool upstream) => Stream == "both" || Stream == (upstream ? "upstream" : "downstream");

    internal ToxicSpec Clone()
    {
        var c = new ToxicSpec { Name = Name, Type = Type, Stream = Stream, StreamAsSent = StreamAsSent, Toxicity = Toxicity, Version = Version, ActivationCount = ActivationCount, Selector = Selector };
        foreach (var kv in Attrs) c.Attrs[kv.Key] = kv.Value;
        foreach (var kv in StringAttrs) c.StringAttrs[kv.Key] = kv.Value;
        return c;
    }

    /// <summary>Writes toxiproxy's toxic object: attributes (every field of the type), name, type, stream, toxicity.</summary>
    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartObject("attributes");
        foreach (var a in ToxicTypes.Attributes(Type)) w.WriteNumber(a, Attr(a));
        foreach (var a in ToxicTypes.StringAttributes(Type)) w.WriteString(a, StringAttr(a));
        w.WriteEndObject();
        w.WriteString("name", Name);
        w.WriteString("type", Type);
        w.WriteString("stream", StreamAsSent);
        w.WriteNumber("toxicity", Toxicity);
        w.WriteEndObject();
    }

    /// <summary>Builds a toxic from cmdlet-style arguments, validated.</summary>
    public static ToxicSpec Create(string type, string stream, double toxicity, IDictionary<string, long>? attributes, string? name = null,
        IDictionary<string, string>? strings = null)
    {
        type = ToxicTypes.FromFriendly(type);
        if (!ToxicTypes.IsKnown(type)) throw ProxyException.BadRequest("invalid toxic type", "InvalidToxicType", $"'{type}' is not a toxic type. Valid: {string.Join(", ", ToxicTypes.All)}.", type);
        var s = NormalizeStream(stream);
        var spec = new ToxicSpec { Type = type, Stream = s, StreamAsSent = stream, Toxicity = toxicity, Name = string.IsNullOrEmpty(name) ? $"{type}_{stream}" : name };
        if (attributes is not null)
            foreach (var (k, v) in attributes) spec.Attrs[CheckAttributeName(type, k)] = v;
        if (strings is not null)
            foreach (var (k, v) in strings) spec.StringAttrs[CheckStringAttributeName(type, k)] = v;
        spec.FillDefaults();
        ToxicTypes.Validate(type, toxicity, spec.Attrs, spec.StringAttrs);
        return spec;
    }

    /// <summary>Defaults the type declares for attributes not given (http_status answers 503 unless told otherwise).</summary>
    internal void FillDefaults()
    {
        if (ToxicRegistry.Find(Type) is not { } def) return;
        foreach (var a in def.Attributes)
            if (a.Default is { } d && !Attrs.ContainsKey(a.Name)) Attrs[a.Name] = d;
    }

    /// <summary>The "down" fault: not a toxic but the proxy disabled (toxiproxy's `down`).</summary>
    public static ToxicSpec Down() => new() { Name = "down", Type = "down", Stream = "both", StreamAsSent = "both" };

    internal static string NormalizeStream(string stream)
    {
        var s = stream.ToLowerInvariant();
        if (s is "upstream" or "downstream" or "both") return s;
        throw ProxyException.BadRequest("stream was invalid, can be either upstream or downstream", "InvalidToxicStream",
            $"Stream '{stream}' is not valid; use upstream, downstream or both.", stream);
    }

    internal static string CheckStringAttributeName(string type, string key)
    {
        foreach (var a in ToxicTypes.StringAttributes(type))
            if (string.Equals(a, key, StringComparison.OrdinalIgnoreCase)) return a;
        throw ProxyException.BadRequest($"unknown string attribute {key} for toxic type {type}", "InvalidToxicAttribute", null, key);
    }

    internal static string CheckAttributeName(string type, string key)
    {
        foreach (var a in ToxicTypes.Attributes(type))
            if (string.Equals(a, key, StringComparison.OrdinalIgnoreCase)) return a;
        var known = ToxicTypes.Attributes(type);
        throw ProxyException.BadRequest($"unknown attribute {key} for toxic type {type}" + (known.Count > 0 ? $" (valid: {string.Join(", ", known)})" : " (it takes none)"),
            "InvalidToxicAttribute", null, key);
    }
}
