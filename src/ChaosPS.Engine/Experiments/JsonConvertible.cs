using System.Collections;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ChaosPS.Experiments;

/// <summary>Turns activity outputs (JSON nodes, primitives, dictionaries, lists, ChaosPS result objects) into JSON for the journal.</summary>
public static class JsonConvertible
{
    private const int MaxDepth = 8;
    // Bulky encodings that belong to Merge-LoadTestResult, not to a journal.
    private static readonly HashSet<string> Skipped = ["MergeState", "LatencyHistogram"];

    public static JsonNode? ToNode(object? value) => ToNode(value, 0);

    private static JsonNode? ToNode(object? value, int depth)
    {
        switch (value)
        {
            case null: return null;
            case JsonNode n: return n.Parent is null ? n : n.DeepClone();
            case string s: return JsonValue.Create(s);
            case bool b: return JsonValue.Create(b);
            case char c: return JsonValue.Create(c.ToString());
            case int or long or short or byte or sbyte or ushort or uint or ulong: return JsonValue.Create(Convert.ToInt64(value, CultureInfo.InvariantCulture));
            case float f: return double.IsFinite(f) ? JsonValue.Create((double)f) : null;
            case double d: return double.IsFinite(d) ? JsonValue.Create(d) : null;
            case decimal m: return JsonValue.Create(m);
            case TimeSpan t: return JsonValue.Create(t.TotalSeconds);
            case DateTime dt: return JsonValue.Create(Iso(dt.Kind == DateTimeKind.Unspecified ? DateTime.SpecifyKind(dt, DateTimeKind.Utc) : dt.ToUniversalTime()));
            case DateTimeOffset dto: return JsonValue.Create(Iso(dto.UtcDateTime));
            case Enum e: return JsonValue.Create(e.ToString());
            case Uri u: return JsonValue.Create(u.ToString());
            case Guid g: return JsonValue.Create(g.ToString());
            case JsonElement je: return JsonNode.Parse(je.GetRawText());
        }
        if (depth >= MaxDepth) return JsonValue.Create(value.ToString());
        if (value is IDictionary dict)
        {
            var o = new JsonObject();
            foreach (DictionaryEntry kv in dict) o[Convert.ToString(kv.Key, CultureInfo.InvariantCulture) ?? ""] = ToNode(kv.Value, depth + 1);
            return o;
        }
        if (value is IEnumerable list)
        {
            var a = new JsonArray();
            foreach (var item in list) a.Add(ToNode(item, depth + 1));
            return a;
        }
        var type = value.GetType();
        if (type.IsPrimitive) return JsonValue.Create(Convert.ToString(value, CultureInfo.InvariantCulture));
        var obj = new JsonObject();
        foreach (var p in type.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || Skipped.Contains(p.Name)) continue;
            object? v;
            try { v = p.GetValue(value); } catch { continue; }
            obj[p.Name] = ToNode(v, depth + 1);
        }
        return obj;
    }

    public static string Iso(DateTime utc) => utc.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture);
    public static string Iso(DateTimeOffset t) => Iso(t.UtcDateTime);

    /// <summary>JSON node → plain .NET values (string, long, double, bool, object[], Dictionary) for parameters.</summary>
    public static object? ToPlain(JsonNode? node) => node switch
    {
        null => null,
        JsonObject o => o.ToDictionary(kv => kv.Key, kv => ToPlain(kv.Value), StringComparer.OrdinalIgnoreCase),
        JsonArray a => a.Select(ToPlain).ToArray(),
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => v.GetValue<string>(),
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            JsonValueKind.Number => v.TryGetValue<long>(out var l) ? l : v.TryGetValue<int>(out var i) ? i : v.GetValue<double>(),
            _ => null,
        },
        _ => null,
    };
}
