using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace ChaosPS.Network;

/// <summary>
/// toxiproxy's HTTP API over a <see cref="ProxyCollection"/>: the same paths, verbs, JSON fields, status codes and
/// error bodies ({"error":...,"status":N}), so toxiproxy clients work unchanged. A small HTTP/1.1 server of its own
/// (keep-alive, Content-Length and chunked bodies) on a loopback socket; no web framework needed in the session.
/// </summary>
public sealed class ToxiproxyApiServer : IAsyncDisposable
{
    public const string Version = "2.12.0";
    private readonly ProxyCollection _proxies;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _cts = new();
    private long _requestId;

    private ToxiproxyApiServer(ProxyCollection proxies, Socket listener)
    {
        _proxies = proxies;
        _listener = listener;
        Listen = ListenAddress.Format((IPEndPoint)listener.LocalEndPoint!);
        _ = Task.Run(AcceptLoopAsync);
    }

    public string Listen { get; }
    public Uri Uri => new($"http://{Listen}/");
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;
    public long Requests => Interlocked.Read(ref _requestId);

    private static readonly object ServersLock = new();
    private static readonly List<ToxiproxyApiServer> Running = [];
    public static IReadOnlyList<ToxiproxyApiServer> Servers { get { lock (ServersLock) return [.. Running]; } }

    /// <summary>Starts serving; non-loopback addresses need <paramref name="allowNonLoopback"/>. Errors name the address.</summary>
    public static ToxiproxyApiServer Start(string listen, ProxyCollection? proxies = null, bool allowNonLoopback = false)
    {
        var ep = ListenAddress.Resolve(listen, allowNonLoopback);
        var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            ListenAddress.AllowTimeWaitReuse(s);
            s.Bind(ep);
            s.Listen(128);
        }
        catch (SocketException e)
        {
            s.Dispose();
            var (id, category, reason) = ListenErrors.Describe(e);
            throw new ProxyException(500, $"listen tcp {ListenAddress.Format(ep)}: bind: {reason}", id, category,
                $"The proxy API server cannot listen on {ListenAddress.Format(ep)}: {reason}.", listen,
                "Choose another port (toxiproxy's default is 8474), or stop what listens there.", e);
        }
        var server = new ToxiproxyApiServer(proxies ?? ProxyCollection.Default, s);
        lock (ServersLock) Running.Add(server);
        return server;
    }

    public ValueTask DisposeAsync()
    {
        _cts.Cancel();
        _listener.Dispose();
        lock (ServersLock) Running.Remove(this);
        return ValueTask.CompletedTask;
    }

    public void Stop() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task AcceptLoopAsync()
    {
        while (!_cts.IsCancellationRequested)
        {
            Socket c;
            try { c = await _listener.AcceptAsync(_cts.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                if (_cts.IsCancellationRequested) return;
                continue;
            }
            _ = Task.Run(() => ServeConnectionAsync(c));
        }
    }

    // ------------------------------------------------------------------ HTTP/1.1

    private sealed record Request(string Method, string Path, Dictionary<string, string> Headers, byte[] Body);
    internal sealed record Response(int Status, string ContentType, byte[] Body);

    private async Task ServeConnectionAsync(Socket socket)
    {
        using var _ = socket;
        socket.NoDelay = true;
        using var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = new HttpReader(stream);
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
                idle.CancelAfter(TimeSpan.FromSeconds(60));
                var req = await reader.ReadRequestAsync(idle.Token).ConfigureAwait(false);
                if (req is null) return;
                var resp = Handle(req);
                bool close = req.Headers.TryGetValue("connection", out var conn) && conn.Equals("close", StringComparison.OrdinalIgnoreCase);
                var head = new StringBuilder();
                head.Append("HTTP/1.1 ").Append(resp.Status).Append(' ').Append(Reason(resp.Status)).Append("\r\n");
                head.Append("X-Toxiproxy-Request-Id: ").Append(Interlocked.Increment(ref _requestId).ToString("x12", CultureInfo.InvariantCulture)).Append("\r\n");
                head.Append("Date: ").Append(DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture)).Append("\r\n");
                if (resp.ContentType.Length > 0) head.Append("Content-Type: ").Append(resp.ContentType).Append("\r\n");
                if (resp.ContentType.StartsWith("text/plain", StringComparison.Ordinal)) head.Append("X-Content-Type-Options: nosniff\r\n");
                if (resp.Status != 204) head.Append("Content-Length: ").Append(resp.Body.Length).Append("\r\n");
                if (close) head.Append("Connection: close\r\n");
                head.Append("\r\n");
                var bytes = Encoding.ASCII.GetBytes(head.ToString());
                await stream.WriteAsync(bytes, _cts.Token).ConfigureAwait(false);
                if (resp.Status != 204 && resp.Body.Length > 0 && req.Method != "HEAD") await stream.WriteAsync(resp.Body, _cts.Token).ConfigureAwait(false);
                if (close) return;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or FormatException) { }
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK", 201 => "Created", 204 => "No Content", 400 => "Bad Request", 403 => "Forbidden", 404 => "Not Found",
        405 => "Method Not Allowed", 409 => "Conflict", 500 => "Internal Server Error", _ => "Status",
    };

    private sealed class HttpReader(Stream s)
    {
        private readonly byte[] _buf = new byte[16384];
        private int _start, _end;

        private async Task<bool> FillAsync(CancellationToken ct)
        {
            if (_start > 0) { Array.Copy(_buf, _start, _buf, 0, _end - _start); _end -= _start; _start = 0; }
            if (_end == _buf.Length) throw new FormatException("header too large");
            int n = await s.ReadAsync(_buf.AsMemory(_end), ct).ConfigureAwait(false);
            if (n == 0) return false;
            _end += n;
            return true;
        }

        private async Task<string?> ReadLineAsync(CancellationToken ct)
        {
            while (true)
            {
                int i = Array.IndexOf(_buf, (byte)'\n', _start, _end - _start);
                if (i >= 0)
                {
                    var line = Encoding.Latin1.GetString(_buf, _start, i - _start).TrimEnd('\r');
                    _start = i + 1;
                    return line;
                }
                if (!await FillAsync(ct).ConfigureAwait(false)) return null;
            }
        }

        private async Task<byte[]> ReadExactAsync(long n, CancellationToken ct)
        {
            if (n > 16 * 1024 * 1024) throw new FormatException("body too large");
            var body = new byte[n];
            int got = 0;
            while (got < n)
            {
                if (_start == _end && !await FillAsync(ct).ConfigureAwait(false)) throw new IOException("unexpected EOF in body");
                int take = (int)Math.Min(n - got, _end - _start);
                Array.Copy(_buf, _start, body, got, take);
                _start += take; got += take;
            }
            return body;
        }

        public async Task<Request?> ReadRequestAsync(CancellationToken ct)
        {
            string? line;
            do { line = await ReadLineAsync(ct).ConfigureAwait(false); if (line is null) return null; } while (line.Length == 0);
            var parts = line.Split(' ');
            if (parts.Length < 2) throw new FormatException("bad request line");
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            while ((line = await ReadLineAsync(ct).ConfigureAwait(false)) is { Length: > 0 })
            {
                int c = line.IndexOf(':');
                if (c > 0) headers[line[..c].Trim()] = line[(c + 1)..].Trim();
            }
            if (line is null) return null;
            byte[] body = [];
            if (headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                using var ms = new MemoryStream();
                while (true)
                {
                    var sizeLine = await ReadLineAsync(ct).ConfigureAwait(false) ?? throw new IOException("EOF in chunked body");
                    long size = long.Parse(sizeLine.Split(';')[0].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (size == 0) { while ((await ReadLineAsync(ct).ConfigureAwait(false)) is { Length: > 0 }) { } break; }
                    ms.Write(await ReadExactAsync(size, ct).ConfigureAwait(false));
                    await ReadLineAsync(ct).ConfigureAwait(false);
                }
                body = ms.ToArray();
            }
            else if (headers.TryGetValue("content-length", out var cl) && long.TryParse(cl, out var len) && len > 0)
                body = await ReadExactAsync(len, ct).ConfigureAwait(false);
            var target = parts[1];
            int q = target.IndexOf('?');
            if (q >= 0) target = target[..q];
            return new Request(parts[0].ToUpperInvariant(), Uri.UnescapeDataString(target), headers, body);
        }
    }

    // ------------------------------------------------------------------ routing

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

    internal static Response Error(int status, string message, Action<Utf8JsonWriter>? extra = null)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("error", message);
            w.WriteNumber("status", status);
            extra?.Invoke(w);
            w.WriteEndObject();
        }
        ms.WriteByte((byte)'\n');
        return new Response(status, "text/plain; charset=utf-8", ms.ToArray());
    }

    private static Response Json(int status, Action<Utf8JsonWriter> write)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms)) write(w);
        ms.WriteByte((byte)'\n');
        return new Response(status, "application/json", ms.ToArray());
    }

    private static Response NoContent() => new(204, "", []);

    // ------------------------------------------------------------------ handlers

    private static JsonElement ParseBody(Request req)
    {
        if (req.Body.Length == 0) throw ProxyException.BadRequest("bad request body: EOF", "BadRequestBody");
        try
        {
            var reader = new Utf8JsonReader(req.Body, new JsonReaderOptions { AllowMultipleValues = true, CommentHandling = JsonCommentHandling.Skip });
            return JsonElement.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw ProxyException.BadRequest($"bad request body: {e.Message}", "BadRequestBody");
        }
    }

    /// <summary>Go's encoding/json matches keys case-insensitively (an exact match wins).</summary>
    internal static bool TryGet(JsonElement obj, string key, out JsonElement value)
    {
        value = default;
        if (obj.ValueKind != JsonValueKind.Object) return false;
        if (obj.TryGetProperty(key, out value)) return true;
        foreach (var p in obj.EnumerateObject())
            if (string.Equals(p.Name, key, StringComparison.OrdinalIgnoreCase)) { value = p.Value; return true; }
        return false;
    }

    private static string? GetString(JsonElement obj, string key)
    {
        if (!TryGet(obj, key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw ProxyException.BadRequest($"bad request body: json: cannot unmarshal {Kind(v)} into Go struct field .{key} of type string", "BadRequestBody");
        return v.GetString();
    }

    private static bool? GetBool(JsonElement obj, string key)
    {
        if (!TryGet(obj, key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
        throw ProxyException.BadRequest($"bad request body: json: cannot unmarshal {Kind(v)} into Go struct field .{key} of type bool", "BadRequestBody");
    }

    private static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number => "number " + v.GetRawText(), JsonValueKind.String => "string", JsonValueKind.Array => "array",
        JsonValueKind.Object => "object", JsonValueKind.True or JsonValueKind.False => "bool", _ => "null",
    };

    private static JsonElement RequireObject(JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw ProxyException.BadRequest($"bad request body: json: cannot unmarshal {Kind(e)} into Go value of type {what}", "BadRequestBody");
        return e;
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

    private static (double? Toxicity, Dictionary<string, long>? Attributes, Dictionary<string, string>? Strings) ReadToxicFields(JsonElement body, string? type)
    {
        double? toxicity = null;
        if (TryGet(body, "toxicity", out var tv) && tv.ValueKind != JsonValueKind.Null)
        {
            if (tv.ValueKind != JsonValueKind.Number) throw ProxyException.BadRequest($"bad request body: json: cannot unmarshal {Kind(tv)} into Go struct field Toxic.toxicity of type float32", "BadRequestBody");
            toxicity = tv.GetDouble();
            if (toxicity < 0 && type is not null) toxicity = null; // the Go client sends -1 for "unchanged"
        }
        Dictionary<string, long>? attrs = null;
        Dictionary<string, string>? strings = null;
        if (TryGet(body, "attributes", out var av) && av.ValueKind != JsonValueKind.Null)
        {
            if (av.ValueKind != JsonValueKind.Object) throw ProxyException.BadRequest($"bad request body: json: cannot unmarshal {Kind(av)} into Go struct field Toxic.attributes of type map", "BadRequestBody");
            attrs = new Dictionary<string, long>(StringComparer.OrdinalIgnoreCase);
            foreach (var a in av.EnumerateObject())
            {
                // The HTTP toxics' method and path are strings (every other attribute is an int64, as in toxiproxy).
                if (a.Value.ValueKind == JsonValueKind.String && a.Name.ToLowerInvariant() is "method" or "path")
                {
                    (strings ??= new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase))[a.Name] = a.Value.GetString()!;
                    continue;
                }
                if (a.Value.ValueKind != JsonValueKind.Number || !a.Value.TryGetInt64(out var n))
                    throw ProxyException.BadRequest($"bad request body: json: cannot unmarshal {Kind(a.Value)} into Go struct field .{a.Name} of type int64", "BadRequestBody");
                attrs[a.Name] = n;
            }
        }
        return (toxicity, attrs, strings);
    }
}
