using System.Text.Json.Nodes;

namespace ChaosPS.Experiments;

/// <summary>
/// The JSONPath subset experiments use in tolerances: $, .name, ['name'], [n] (negative from the end), [*], .* and
/// ..name (recursive descent). Filters and slices are not supported and are reported as such when checked.
/// </summary>
public sealed class JsonPathLite
{
    private abstract record Step;
    private sealed record Child(string Name) : Step;
    private sealed record Index(int I) : Step;
    private sealed record Wildcard : Step;
    private sealed record Descend(string Name) : Step;

    private readonly List<Step> _steps;
    private JsonPathLite(List<Step> steps) => _steps = steps;

    public static bool TryParse(string text, out JsonPathLite? path, out string? error)
    {
        path = null; error = null;
        var steps = new List<Step>();
        int i = 0;
        if (text.StartsWith('$')) i = 1;
        while (i < text.Length)
        {
            if (text[i] == '.')
            {
                bool recursive = i + 1 < text.Length && text[i + 1] == '.';
                i += recursive ? 2 : 1;
                int start = i;
                while (i < text.Length && text[i] != '.' && text[i] != '[') i++;
                string name = text[start..i];
                if (name.Length == 0) { error = $"expected a name after '.' at position {start} of {text}"; return false; }
                steps.Add(recursive ? new Descend(name) : name == "*" ? new Wildcard() : new Child(name));
            }
            else if (text[i] == '[')
            {
                int end = text.IndexOf(']', i);
                if (end < 0) { error = $"unclosed '[' at position {i} of {text}"; return false; }
                string inner = text[(i + 1)..end].Trim();
                i = end + 1;
                if (inner == "*") steps.Add(new Wildcard());
                else if (inner.Length >= 2 && (inner[0] == '\'' || inner[0] == '"') && inner[^1] == inner[0]) steps.Add(new Child(inner[1..^1]));
                else if (int.TryParse(inner, out int n)) steps.Add(new Index(n));
                else { error = $"'[{inner}]' is not supported in {text}: use [n], [*] or ['name'] (filters and slices are not supported)"; return false; }
            }
            else { error = $"unexpected '{text[i]}' at position {i} of {text}: expected '.' or '['"; return false; }
        }
        path = new JsonPathLite(steps);
        return true;
    }

    public List<JsonNode?> Select(JsonNode? root)
    {
        var current = new List<JsonNode?> { root };
        foreach (var step in _steps)
        {
            var next = new List<JsonNode?>();
            foreach (var node in current)
            {
                switch (step)
                {
                    case Child c when node is JsonObject o && o.ContainsKey(c.Name): next.Add(o[c.Name]); break;
                    case Index ix when node is JsonArray a:
                        int k = ix.I < 0 ? a.Count + ix.I : ix.I;
                        if (k >= 0 && k < a.Count) next.Add(a[k]);
                        break;
                    case Wildcard when node is JsonArray a2: next.AddRange(a2); break;
                    case Wildcard when node is JsonObject o2: next.AddRange(o2.Select(kv => kv.Value)); break;
                    case Descend d: Collect(node, d.Name, next); break;
                }
            }
            current = next;
        }
        return current;
    }

    private static void Collect(JsonNode? node, string name, List<JsonNode?> into)
    {
        if (node is JsonObject o)
        {
            foreach (var (k, v) in o)
            {
                if (k == name) into.Add(v);
                Collect(v, name, into);
            }
        }
        else if (node is JsonArray a)
            foreach (var v in a) Collect(v, name, into);
    }
}
