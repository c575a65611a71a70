using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace ChaosPS.Network;

/// <summary>Where the network cmdlets act: the built-in proxies of this session, or a toxiproxy server's HTTP API.</summary>
public interface IProxyBackend
{
    /// <summary>The toxiproxy API base (null: built-in proxies of this process).</summary>
    string? Uri { get; }
    Task<IReadOnlyList<ChaosProxyInfo>> ListAsync(CancellationToken ct);
    Task<ChaosProxyInfo> GetAsync(string name, CancellationToken ct);
    Task<ChaosProxyInfo> CreateAsync(string name, string listen, string upstream, bool enabled, TimeSpan? connectTimeout, bool allowNonLoopback, CancellationToken ct, string mode = "tcp");
    Task DeleteAsync(string name, CancellationToken ct);
    Task<ChaosProxyInfo> SetEnabledAsync(string name, bool enabled, CancellationToken ct);
    Task<ToxicSpec> AddToxicAsync(string proxy, ToxicSpec spec, CancellationToken ct);
    Task RemoveToxicAsync(string proxy, string toxic, CancellationToken ct);
}

public static class ProxyBackend
{
    public static IProxyBackend For(string? toxiproxyUri) => string.IsNullOrEmpty(toxiproxyUri) ? LocalProxyBackend.Instance : new ToxiproxyClient(toxiproxyUri);
}

/// <summary>The proxies inside this process (<see cref="ProxyCollection.Default"/>).</summary>
public sealed class LocalProxyBackend : IProxyBackend
{
    public static readonly LocalProxyBackend Instance = new();
    private static ProxyCollection P => ProxyCollection.Default;
    public string? Uri => null;

    public Task<IReadOnlyList<ChaosProxyInfo>> ListAsync(CancellationToken ct) => Task.FromResult<IReadOnlyList<ChaosProxyInfo>>(P.List().Select(p => p.Snapshot()).ToList());
    public Task<ChaosProxyInfo> GetAsync(string name, CancellationToken ct) => Task.FromResult(P.Get(name).Snapshot());

    public Task<ChaosProxyInfo> CreateAsync(string name, string listen, string upstream, bool enabled, TimeSpan? connectTimeout, bool allowNonLoopback, CancellationToken ct, string mode = "tcp")
        => Task.FromResult(P.Create(name, listen, upstream, enabled, connectTimeout, allowNonLoopback, mode).Snapshot());

    public Task DeleteAsync(string name, CancellationToken ct) { P.Remove(name); return Task.CompletedTask; }

    public Task<ChaosProxyInfo> SetEnabledAsync(string name, bool enabled, CancellationToken ct)
    {
        var p = P.Get(name);
        if (enabled) p.Enable(); else p.Disable();
        return Task.FromResult(p.Snapshot());
    }

    public Task<ToxicSpec> AddToxicAsync(string proxy, ToxicSpec spec, CancellationToken ct) => Task.FromResult(P.Get(proxy).AddToxic(spec));
    public Task RemoveToxicAsync(string proxy, string toxic, CancellationToken ct) { P.Get(proxy).RemoveToxic(toxic); return Task.CompletedTask; }
}

/// <summary>A client of toxiproxy's HTTP API (a real toxiproxy, or another session's Start-ChaosProxyServer).</summary>
public sealed class ToxiproxyClient : IProxyBackend
{
    private static readonly HttpClient Http = CreateHttp();
    private readonly string _base;

    public ToxiproxyClient(string uri)
    {
        if (!System.Uri.TryCreate(uri.Contains("://") ? uri : "http://" + uri, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
            throw ChaosException.InvalidArgument("InvalidToxiproxyUri", $"'{UriRedaction.Redact(uri)}' is not an http URI of a toxiproxy server.", UriRedaction.Redact(uri), "Use e.g. http://127.0.0.1:8474.");
        _base = u.GetLeftPart(UriPartial.Authority);
    }

    public string? Uri => _base;

    private static HttpClient CreateHttp()
    {
        var h = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        h.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("chaosps", "0.1"));
        return h;
    }

    private async Task<JsonElement?> SendAsync(string method, string path, string? body, string target, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(new HttpMethod(method), _base + path);
        if (body is not null) req.Content = new StringContent(body, Encoding.UTF8, "application/json");
        HttpResponseMessage resp;
        try { resp = await Http.SendAsync(req, ct).ConfigureAwait(false); }
        catch (HttpRequestException e)
        {
            throw new ChaosException("ToxiproxyUnreachable", ChaosErrorCategory.ConnectionError, $"The toxiproxy server at {UriRedaction.Redact(_base)} is not reachable: {UriRedaction.Redact(e.Message)}", UriRedaction.Redact(_base),
                "Start it (toxiproxy-server, or Start-ChaosProxyServer), or check -ToxiproxyUri.", e);
        }
        using (resp)
        {
            var text = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            int status = (int)resp.StatusCode;
            if (status >= 400)
            {
                string message = text.Trim();
                try { using var d = JsonDocument.Parse(text); if (d.RootElement.TryGetProperty("error", out var e)) message = e.GetString() ?? message; } catch (JsonException) { }
                var (id, cat) = status switch
                {
                    404 => ("ToxiproxyNotFound", ChaosErrorCategory.ObjectNotFound),
                    409 => ("ToxiproxyConflict", ChaosErrorCategory.ResourceExists),
                    400 => ("ToxiproxyBadRequest", ChaosErrorCategory.InvalidArgument),
                    _ => ("ToxiproxyError", ChaosErrorCategory.InvalidResult),
                };
                throw new ProxyException(status, message, id, cat, $"{method} {UriRedaction.Redact(_base)}{path}: HTTP {status}: {message}", target);
            }
            if (text.Length == 0) return null;
            using var doc = JsonDocument.Parse(text);
            return doc.RootElement.Clone();
        }
    }

    private static string Esc(string s) => System.Uri.EscapeDataString(s);

    public async Task<IReadOnlyList<ChaosProxyInfo>> ListAsync(CancellationToken ct)
    {
        var e = await SendAsync("GET", "/proxies", null, _base, ct).ConfigureAwait(false);
        return e is { ValueKind: JsonValueKind.Object } o ? o.EnumerateObject().Select(p => ToInfo(p.Value)).OrderBy(p => p.Name, StringComparer.Ordinal).ToList() : [];
    }

    public async Task<ChaosProxyInfo> GetAsync(string name, CancellationToken ct) => ToInfo((await SendAsync("GET", $"/proxies/{Esc(name)}", null, name, ct).ConfigureAwait(false))!.Value);

    public async Task<ChaosProxyInfo> CreateAsync(string name, string listen, string upstream, bool enabled, TimeSpan? connectTimeout, bool allowNonLoopback, CancellationToken ct, string mode = "tcp")
    {
        var fields = new Dictionary<string, object> { ["name"] = name, ["listen"] = listen, ["upstream"] = upstream, ["enabled"] = enabled };
        if (ProxyModes.Normalize(mode) == "http") fields["mode"] = "http"; // only ChaosPS's server knows it: sent only when asked for
        var body = JsonSerializer.Serialize(fields);
        return ToInfo((await SendAsync("POST", "/proxies", body, name, ct).ConfigureAwait(false))!.Value);
    }

    public Task DeleteAsync(string name, CancellationToken ct) => SendAsync("DELETE", $"/proxies/{Esc(name)}", null, name, ct);

    public async Task<ChaosProxyInfo> SetEnabledAsync(string name, bool enabled, CancellationToken ct)
        => ToInfo((await SendAsync("POST", $"/proxies/{Esc(name)}", enabled ? "{\"enabled\":true}" : "{\"enabled\":false}", name, ct).ConfigureAwait(false))!.Value);

    public async Task<ToxicSpec> AddToxicAsync(string proxy, ToxicSpec spec, CancellationToken ct)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("name", spec.Name);
            w.WriteString("type", spec.Type);
            w.WriteString("stream", spec.StreamAsSent);
            w.WriteNumber("toxicity", spec.Toxicity);
            w.WriteStartObject("attributes");
            foreach (var (k, v) in spec.Attributes) w.WriteNumber(k, v);
            foreach (var (k, v) in spec.StringAttributes) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        var e = await SendAsync("POST", $"/proxies/{Esc(proxy)}/toxics", Encoding.UTF8.GetString(ms.ToArray()), spec.Name, ct).ConfigureAwait(false);
        return ToSpec(e!.Value);
    }

    public Task RemoveToxicAsync(string proxy, string toxic, CancellationToken ct) => SendAsync("DELETE", $"/proxies/{Esc(proxy)}/toxics/{Esc(toxic)}", null, toxic, ct);

    private ChaosProxyInfo ToInfo(JsonElement e)
    {
        string name = Str(e, "name");
        var toxics = e.TryGetProperty("toxics", out var t) && t.ValueKind == JsonValueKind.Array ? t.EnumerateArray().Select(ToSpec).ToList() : [];
        bool enabled = e.TryGetProperty("enabled", out var en) && en.ValueKind == JsonValueKind.True;
        return new ChaosProxyInfo
        {
            Name = name, Listen = Str(e, "listen"), Upstream = UriRedaction.Redact(Str(e, "upstream"))!, Enabled = enabled, Listening = enabled,
            Mode = Str(e, "mode") is { Length: > 0 } m ? m : "tcp",
            Toxics = toxics.Select(x => NetworkFaultInfo.From(name, x, null, _base)).ToList(), ToxiproxyUri = UriRedaction.Redact(_base),
        };
    }

    internal static ToxicSpec ToSpec(JsonElement e)
    {
        var type = Str(e, "type");
        var stream = Str(e, "stream");
        var spec = new ToxicSpec
        {
            Name = Str(e, "name"), Type = type, StreamAsSent = stream, Stream = stream.ToLowerInvariant(),
            Toxicity = e.TryGetProperty("toxicity", out var tx) && tx.ValueKind == JsonValueKind.Number ? tx.GetDouble() : 1.0,
        };
        if (e.TryGetProperty("attributes", out var a) && a.ValueKind == JsonValueKind.Object)
            foreach (var p in a.EnumerateObject())
                if (p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt64(out var v)) spec.Attrs[p.Name] = v;
                else if (p.Value.ValueKind == JsonValueKind.String) spec.StringAttrs[p.Name] = p.Value.GetString()!;
        return spec;
    }

    private static string Str(JsonElement e, string key) => e.TryGetProperty(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
}
