using System.Text.Json;
using System.Text.Json.Nodes;

namespace ChaosPS.Experiments;

/// <summary>
/// Masks an experiment's secret values as "***" in what a run records: the journal (and so every report made from
/// it), the plan, activity outputs and error messages. A value of 4 characters or more is masked wherever it occurs
/// in a string; a shorter one only where a whole string is that value (masking every "ab" in a journal would destroy
/// it and still hide nothing).
/// </summary>
public sealed class SecretRedactor
{
    public const string Mask = "***";
    public const int MinSubstringLength = 4;
    public static readonly SecretRedactor None = new([]);

    private readonly string[] _values;

    public SecretRedactor(IEnumerable<string> values)
    {
        // Longest first, so a secret that contains another is masked whole.
        _values = values.Where(x => x.Length > 0).Distinct(StringComparer.Ordinal).OrderByDescending(x => x.Length).ToArray();
    }

    public bool IsEmpty => _values.Length == 0;

    public string Redact(string text)
    {
        if (_values.Length == 0 || string.IsNullOrEmpty(text)) return text;
        foreach (var v in _values)
        {
            if (text == v) return Mask;
            if (v.Length >= MinSubstringLength && text.Contains(v, StringComparison.Ordinal)) text = text.Replace(v, Mask, StringComparison.Ordinal);
        }
        return text;
    }

    public List<string>? Redact(List<string>? lines) => lines is null || IsEmpty ? lines : lines.Select(Redact).ToList();

    /// <summary>A copy of <paramref name="node"/> with every string (and property name) masked; the node itself when there is nothing to mask.</summary>
    public JsonNode? Redact(JsonNode? node)
    {
        if (IsEmpty || node is null) return node;
        var copy = node.DeepClone();
        return RedactInPlace(copy);
    }

    /// <summary>Masks <paramref name="node"/> in place (a value node is replaced: use the returned node).</summary>
    public JsonNode? RedactInPlace(JsonNode? node)
    {
        if (IsEmpty) return node;
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(kv => kv.Key).ToList())
                {
                    var child = o[key];
                    var now = RedactInPlace(child);
                    string masked = Redact(key);
                    if (masked != key) { o.Remove(key); o[masked] = now; }
                    else if (!ReferenceEquals(child, now)) o[key] = now;
                }
                return o;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                {
                    var child = a[i];
                    var now = RedactInPlace(child);
                    if (!ReferenceEquals(child, now)) a[i] = now;
                }
                return a;
            case JsonValue v when v.GetValueKind() == JsonValueKind.String:
                string s = v.GetValue<string>();
                string r = Redact(s);
                return r == s ? v : JsonValue.Create(r);
            case JsonValue v when v.GetValueKind() == JsonValueKind.Number:
                // An inline numeric secret (a PIN, a port): masked where the whole value is it.
                string n = v.ToJsonString();
                return _values.Contains(n, StringComparer.Ordinal) ? JsonValue.Create(Mask) : v;
            default:
                return node;
        }
    }
}
