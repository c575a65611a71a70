using System.Text.Json;
using Request = ChaosPS.Network.ToxiproxyApiServer.Request;
using Response = ChaosPS.Network.ToxiproxyApiServer.Response;

namespace ChaosPS.Network;

/// <summary>toxiproxy-shaped JSON: response bodies (a trailing newline, as Go's encoder writes), error bodies, and
/// request decoding with Go encoding/json's case-insensitive keys and its error messages (clients match them).</summary>
internal static class ToxiproxyJson
{
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

    internal static Response Json(int status, Action<Utf8JsonWriter> write)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms)) write(w);
        ms.WriteByte((byte)'\n');
        return new Response(status, "application/json", ms.ToArray());
    }

    internal static Response NoContent() => new(204, "", []);

    internal static JsonElement ParseBody(Request req)
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

    internal static string? GetString(JsonElement obj, string key)
    {
        if (!TryGet(obj, key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind != JsonValueKind.String) throw ProxyException.BadRequest($"bad request body: json: cannot unmarshal {Kind(v)} into Go struct field .{key} of type string", "BadRequestBody");
        return v.GetString();
    }

    internal static bool? GetBool(JsonElement obj, string key)
    {
        if (!TryGet(obj, key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind is JsonValueKind.True or JsonValueKind.False) return v.GetBoolean();
        throw ProxyException.BadRequest($"bad request body: json: cannot unmarshal {Kind(v)} into Go struct field .{key} of type bool", "BadRequestBody");
    }

    internal static string Kind(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.Number => "number " + v.GetRawText(), JsonValueKind.String => "string", JsonValueKind.Array => "array",
        JsonValueKind.Object => "object", JsonValueKind.True or JsonValueKind.False => "bool", _ => "null",
    };

    internal static JsonElement RequireObject(JsonElement e, string what)
    {
        if (e.ValueKind != JsonValueKind.Object)
            throw ProxyException.BadRequest($"bad request body: json: cannot unmarshal {Kind(e)} into Go value of type {what}", "BadRequestBody");
        return e;
    }

    internal static (double? Toxicity, Dictionary<string, long>? Attributes, Dictionary<string, string>? Strings) ReadToxicFields(JsonElement body, string? type)
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
