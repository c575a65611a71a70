using System.Text;
using System.Text.Json;
using static ChaosPS.Network.ToxiproxyJson;

namespace ChaosPS.Network;

/// <summary>The toxiproxy API's routes (paths, verbs, toxiproxy's middleware order), their handlers and /metrics.</summary>
public sealed partial class ToxiproxyApiServer
{
    private Response Handle(Request req)
    {
        var seg = req.Path.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
        // Route match first (toxiproxy's middleware applies only to routes that exist).
        string[]? allowed = seg switch
        {
            ["proxies"] => ["GET", "POST"],
            ["populate"] => ["POST"],
            ["reset"] => ["POST"],
            ["version"] => ["GET"],
            ["metrics"] => ["GET"],
            ["proxies", _] => ["GET", "POST", "PATCH", "DELETE"],
            ["proxies", _, "toxics"] => ["GET", "POST"],
            ["proxies", _, "toxics", _] => ["GET", "POST", "PATCH", "DELETE"],
            _ => null,
        };
        if (allowed is null) return new Response(404, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes("404 page not found\n"));
        if (!allowed.Contains(req.Method)) return new Response(405, "", []);
        if (req.Headers.TryGetValue("user-agent", out var ua) && ua.StartsWith("Mozilla/", StringComparison.Ordinal))
            return new Response(403, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes("User agent not allowed\n"));
        try
        {
            return (seg, req.Method) switch
            {
                (["proxies"], "GET") => Json(200, w =>
                {
                    w.WriteStartObject();
                    foreach (var p in _proxies.List()) { w.WritePropertyName(p.Name); p.WriteJson(w); }
                    w.WriteEndObject();
                }),
                (["proxies"], "POST") => CreateProxy(req),
                (["populate"], _) => Populate(req),
                (["reset"], _) => Reset(),
                (["version"], _) => new Response(200, "application/json;charset=utf-8", Encoding.UTF8.GetBytes($"{{\"version\": \"{Version}\"}}\n")),
                (["metrics"], _) => new Response(200, "text/plain; version=0.0.4; charset=utf-8", Encoding.UTF8.GetBytes(PrometheusText())),
                (["proxies", var name], "GET") => Json(200, w => _proxies.Get(name).WriteJson(w)),
                (["proxies", var name], "DELETE") => DeleteProxy(name),
                (["proxies", var name], _) => UpdateProxy(name, req),
                (["proxies", var name, "toxics"], "GET") => ListToxics(name),
                (["proxies", var name, "toxics"], _) => CreateToxic(name, req),
                (["proxies", var name, "toxics", var toxic], "GET") => Json(200, _proxies.Get(name).GetToxic(toxic).WriteJson),
                (["proxies", var name, "toxics", var toxic], "DELETE") => DeleteToxic(name, toxic),
                (["proxies", var name, "toxics", var toxic], _) => UpdateToxic(name, toxic, req),
                _ => new Response(405, "", []),
            };
        }
        catch (ProxyException e)
        {
            return Error(e.HttpStatus, e.ApiMessage);
        }
        catch (ChaosException e)
        {
            return Error(500, e.Message);
        }
    }

    /// <summary>
    /// toxiproxy's proxy metrics in Prometheus text (the same names and labels), but live: toxiproxy adds a connection's
    /// bytes only when it closes; these count as bytes move. Served always (toxiproxy needs -proxy-metrics), with
    /// ChaosPS's connection, dial-failure, refusal, reset and toxic-activation counters beside them.
    /// </summary>
    internal string PrometheusText()
    {
        var sb = new StringBuilder();
        var proxies = _proxies.List().OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
        static string Esc(string v) => v.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");
        static string Labels(ChaosProxy p, string? direction) =>
            (direction is null ? "" : $"direction=\"{direction}\",") + $"listener=\"{Esc(p.Listen)}\",proxy=\"{Esc(p.Name)}\",upstream=\"{Esc(p.Upstream)}\"";
        void Family(string name, string type, string help, Func<ChaosProxy, IEnumerable<(string? Direction, long Value)>> values)
        {
            sb.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
            sb.Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');
            foreach (var p in proxies)
                foreach (var (dir, v) in values(p))
                    sb.Append(name).Append('{').Append(Labels(p, dir)).Append("} ").Append(v.ToString(System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
        }
        Family("toxiproxy_proxy_received_bytes_total", "counter", "The total bytes received from the source of each direction.",
            p => [("upstream", Interlocked.Read(ref p.MetricsCore.BytesReceivedUpstream)), ("downstream", Interlocked.Read(ref p.MetricsCore.BytesReceivedDownstream))]);
        Family("toxiproxy_proxy_sent_bytes_total", "counter", "The total bytes written to the destination of each direction.",
            p => [("upstream", Interlocked.Read(ref p.MetricsCore.BytesUpstream)), ("downstream", Interlocked.Read(ref p.MetricsCore.BytesDownstream))]);
        Family("chaosps_proxy_connections_active", "gauge", "Open client connections.", p => [(null, Interlocked.Read(ref p.MetricsCore.ConnectionsActive))]);
        Family("chaosps_proxy_connections_total", "counter", "Accepted client connections.", p => [(null, Interlocked.Read(ref p.MetricsCore.ConnectionsTotal))]);
        Family("chaosps_proxy_dial_failures_total", "counter", "Connections closed because the upstream could not be reached.", p => [(null, Interlocked.Read(ref p.MetricsCore.DialFailures))]);
        Family("chaosps_proxy_refused_connections_total", "counter", "Connections reset by a reset_on_connect fault.", p => [(null, Interlocked.Read(ref p.MetricsCore.Refused))]);
        Family("chaosps_proxy_resets_total", "counter", "Links reset by a fault (both peers saw ECONNRESET).", p => [(null, Interlocked.Read(ref p.MetricsCore.Resets))]);
        Family("chaosps_proxy_toxic_activations_total", "counter", "Times a toxic became active on a link (toxicity drawn per connection).", p => [(null, p.Toxics.Sum(t => t.ActivationCount))]);
        Family("chaosps_proxy_http_requests_total", "counter", "HTTP mode: requests seen.", p => p.IsHttp ? [(null, Interlocked.Read(ref p.MetricsCore.HttpRequests))] : []);
        Family("chaosps_proxy_http_answered_total", "counter", "HTTP mode: requests an http_status toxic answered without the upstream.", p => p.IsHttp ? [(null, Interlocked.Read(ref p.MetricsCore.HttpAnswered))] : []);
        return sb.ToString();
    }

    private Response CreateProxy(Request req)
    {
        var body = RequireObject(ParseBody(req), "toxiproxy.Proxy");
        var name = GetString(body, "name");
        var listen = GetString(body, "listen") ?? "";
        var upstream = GetString(body, "upstream");
        bool enabled = GetBool(body, "enabled") ?? true;
        var mode = GetString(body, "mode"); // ChaosPS: "http" for the HTTP mode; toxiproxy ignores unknown keys
        if (string.IsNullOrEmpty(name)) throw ProxyException.BadRequest("missing required field: name", "MissingProxyName");
        if (string.IsNullOrEmpty(upstream)) throw ProxyException.BadRequest("missing required field: upstream", "MissingUpstream");
        mode = ProxyModes.Normalize(mode);
        if (_proxies.TryGet(name, out _))
            throw new ProxyException(409, "proxy already exists", "ProxyExists", ChaosErrorCategory.ResourceExists, "proxy already exists", name);
        var p = _proxies.Create(name, listen, upstream, enabled, mode: mode);
        return Json(201, w => p.WriteJson(w));
    }

    private Response Populate(Request req)
    {
        var body = ParseBody(req);
        if (body.ValueKind != JsonValueKind.Array)
            throw ProxyException.BadRequest($"bad request body: json: cannot unmarshal {Kind(body)} into Go value of type []toxiproxy.Proxy", "BadRequestBody");
        var items = new List<ProxyCollection.PopulateItem>();
        foreach (var e in body.EnumerateArray())
        {
            RequireObject(e, "toxiproxy.Proxy");
            items.Add(new(GetString(e, "name") ?? "", GetString(e, "listen") ?? "", GetString(e, "upstream") ?? "", GetBool(e, "enabled") ?? true, GetString(e, "mode") ?? "tcp"));
        }
        var created = _proxies.Populate(items, out var failure);
        void WriteList(Utf8JsonWriter w)
        {
            w.WritePropertyName("proxies");
            if (created.Count == 0) { w.WriteNullValue(); return; }
            w.WriteStartArray();
            foreach (var p in created) p.WriteJson(w);
            w.WriteEndArray();
        }
        if (failure is not null) return Error(failure.HttpStatus, failure.ApiMessage, WriteList);
        return Json(201, w => { w.WriteStartObject(); WriteList(w); w.WriteEndObject(); });
    }

    private Response Reset()
    {
        try { _proxies.Reset(); }
        catch (ProxyException e) { return Error(e.HttpStatus == 404 ? 500 : e.HttpStatus, e.ApiMessage); }
        return NoContent();
    }

    private Response DeleteProxy(string name)
    {
        _proxies.Remove(name);
        return NoContent();
    }

    private Response UpdateProxy(string name, Request req)
    {
        var p = _proxies.Get(name);
        var body = RequireObject(ParseBody(req), "toxiproxy.Proxy");
        p.Update(GetString(body, "listen"), GetString(body, "upstream"), GetBool(body, "enabled"));
        return Json(200, w => p.WriteJson(w));
    }

    private Response ListToxics(string name)
    {
        var p = _proxies.Get(name);
        return Json(200, w => { w.WriteStartArray(); foreach (var t in p.Toxics) t.WriteJson(w); w.WriteEndArray(); });
    }

    private Response CreateToxic(string name, Request req)
    {
        var p = _proxies.Get(name);
        var body = RequireObject(ParseBody(req), "toxiproxy.Toxic");
        var (toxicity, attrs, strings) = ReadToxicFields(body, null);
        var streamSent = TryGet(body, "stream", out var st) && st.ValueKind != JsonValueKind.Null ? GetString(body, "stream")! : "downstream";
        var stream = ToxicSpec.NormalizeStream(streamSent);
        var type = GetString(body, "type") ?? "";
        var toxicName = GetString(body, "name");
        if (string.IsNullOrEmpty(toxicName)) toxicName = $"{type}_{streamSent}";
        if (!ToxicTypes.IsKnown(type)) throw ProxyException.BadRequest("invalid toxic type", "InvalidToxicType");
        if (p.HasToxic(toxicName))
            throw new ProxyException(409, "toxic already exists", "ToxicExists", ChaosErrorCategory.ResourceExists, "toxic already exists", toxicName);
        var spec = new ToxicSpec { Name = toxicName, Type = type, Stream = stream, StreamAsSent = streamSent, Toxicity = toxicity ?? 1.0 };
        if (attrs is not null) foreach (var (k, v) in attrs) spec.Attrs[ToxicSpec.CheckAttributeName(type, k)] = v;
        if (strings is not null) foreach (var (k, v) in strings) spec.StringAttrs[ToxicSpec.CheckStringAttributeName(type, k)] = v;
        var added = p.AddToxic(spec);
        return Json(200, added.WriteJson);
    }

    private Response UpdateToxic(string name, string toxic, Request req)
    {
        var p = _proxies.Get(name);
        var existing = p.GetToxic(toxic);
        var body = RequireObject(ParseBody(req), "toxiproxy.Toxic");
        var (toxicity, attrs, strings) = ReadToxicFields(body, existing.Type);
        var canonical = attrs?.ToDictionary(kv => ToxicSpec.CheckAttributeName(existing.Type, kv.Key), kv => kv.Value);
        var canonicalStrings = strings?.ToDictionary(kv => ToxicSpec.CheckStringAttributeName(existing.Type, kv.Key), kv => kv.Value);
        return Json(200, p.UpdateToxic(toxic, toxicity, canonical, canonicalStrings).WriteJson);
    }

    private Response DeleteToxic(string name, string toxic)
    {
        _proxies.Get(name).RemoveToxic(toxic);
        return NoContent();
    }
}
