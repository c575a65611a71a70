using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ChaosPS.Experiments.Reports;

/// <summary>
/// An experiment journal (Chaos Toolkit's journal plus a <c>chaosps</c> block) read as JSON, with every credential
/// redacted on the way in: reports never see a password in a URI or an Authorization header.
/// </summary>
public sealed class JournalDocument
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    internal static readonly JsonSerializerOptions Compact = new() { WriteIndented = false, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    internal static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private JournalDocument(JsonObject root, string? sourcePath)
    {
        Root = root;
        SourcePath = sourcePath;
    }

    /// <summary>The redacted journal.</summary>
    public JsonObject Root { get; }

    /// <summary>The file it was read from, when it came from a file.</summary>
    public string? SourcePath { get; }

    /// <summary>Reads a journal from JSON text; <paramref name="sourcePath"/> only names it in errors and reports.</summary>
    public static JournalDocument Parse(string json, string? sourcePath = null)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip, MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw new ChaosException("InvalidJournal", ChaosErrorCategory.InvalidData,
                $"The experiment journal{(sourcePath is null ? "" : $" '{sourcePath}'")} is not valid JSON: {e.Message}", sourcePath ?? Shorten(json, 80),
                "Give the journal file Invoke-ChaosExperiment wrote, its JSON text, or the journal object it returned.", e);
        }
        if (node is not JsonObject root || root["experiment"] is not JsonObject || root["start"] is null)
            throw new ChaosException("InvalidJournal", ChaosErrorCategory.InvalidData,
                $"The JSON{(sourcePath is null ? "" : $" in '{sourcePath}'")} is not an experiment journal (it needs an 'experiment' object and a 'start' time).",
                sourcePath ?? Shorten(json, 80), "Give the journal file Invoke-ChaosExperiment wrote, its JSON text, or the journal object it returned.");
        Redactor.Redact(root);
        return new JournalDocument(root, sourcePath);
    }

    /// <summary>Reads a journal file.</summary>
    public static JournalDocument Load(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ChaosException("JournalNotReadable", e is FileNotFoundException or DirectoryNotFoundException ? ChaosErrorCategory.ObjectNotFound : ChaosErrorCategory.ReadError,
                $"Cannot read the experiment journal '{path}': {e.Message}", path, "Check the path Invoke-ChaosExperiment reported as JournalPath.", e);
        }
        return Parse(text, path);
    }

    public JsonObject Experiment => (JsonObject)Root["experiment"]!;
    public string Title => Str(Experiment["title"]) ?? "experiment";
    public string Status => Str(Root["status"]) ?? "unknown";
    public bool Deviated => Root["deviated"] is JsonValue v && v.TryGetValue<bool>(out var b) && b;
    public JsonObject? ChaosPS => Root["chaosps"] as JsonObject;
    public bool Partial => ChaosPS?["partial"] is JsonValue v && v.TryGetValue<bool>(out var b) && b;
    public DateTimeOffset? Start => Time(Root["start"]);
    public DateTimeOffset? End => Time(Root["end"]);
    public double Duration => Num(Root["duration"]) ?? (End is { } e && Start is { } s ? (e - s).TotalSeconds : 0);
    public string? JournalPath => Str(ChaosPS?["journal_path"]) ?? SourcePath;

    /// <summary>The verdict: the <c>chaosps.verdict</c> the runner wrote, else one derived from status, deviation and the steady states.</summary>
    public string Verdict
    {
        get
        {
            if (Str(ChaosPS?["verdict"]) is { Length: > 0 } v) return v;
            var ss = Root["steady_states"] as JsonObject;
            return Status switch
            {
                "interrupted" => "Interrupted",
                "aborted" => "Aborted",
                "failed" => "Failed",
                _ when Deviated => "Deviated",
                _ when ss?["before"] is not JsonObject => "Inconclusive",
                _ when Bool((ss["before"] as JsonObject)?["steady_state_met"]) != true => "Failed",
                _ => "Passed",
            };
        }
    }

    /// <summary>Seconds from the experiment's start to <paramref name="t"/> (null when either is unknown).</summary>
    public double? Offset(DateTimeOffset? t) => t is { } x && Start is { } s ? (x - s).TotalSeconds : null;

    /// <summary>The redacted journal as indented JSON.</summary>
    public string ToJson() => Root.ToJsonString(Indented);

    // ---------- small JSON helpers shared by the reports ----------

    internal static string? Str(JsonNode? n) => n is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    internal static double? Num(JsonNode? n)
    {
        if (n is not JsonValue v) return null;
        if (v.TryGetValue<double>(out var d)) return d;
        if (v.TryGetValue<long>(out var l)) return l;
        if (v.TryGetValue<string>(out var s) && double.TryParse(s, NumberStyles.Float, Inv, out d)) return d;
        return null;
    }

    internal static bool? Bool(JsonNode? n) => n is JsonValue v && v.TryGetValue<bool>(out var b) ? b : null;

    internal static DateTimeOffset? Time(JsonNode? n) =>
        Str(n) is { } s && DateTimeOffset.TryParse(s, Inv, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t) ? t : null;

    /// <summary>A value as short text: strings as they are, anything else as compact JSON.</summary>
    internal static string Show(JsonNode? n, int max = 400)
    {
        var s = n switch
        {
            null => "null",
            JsonValue v when v.TryGetValue<string>(out var str) => str,
            _ => n.ToJsonString(Compact),
        };
        return Shorten(s, max);
    }

    internal static string Shorten(string s, int max) => s.Length <= max ? s : s[..max] + $"… ({s.Length - max} more characters)";

    /// <summary>A member of an object by name, ignoring case (PowerShell objects serialise PascalCase, the journal snake_case).</summary>
    internal static JsonNode? Get(JsonNode? n, string name)
    {
        if (n is not JsonObject o) return null;
        if (o.TryGetPropertyValue(name, out var exact)) return exact;
        foreach (var kv in o) if (string.Equals(kv.Key, name, StringComparison.OrdinalIgnoreCase)) return kv.Value;
        return null;
    }

    internal static IEnumerable<JsonObject> Objects(JsonNode? n) => n is JsonArray a ? a.OfType<JsonObject>() : [];
}

/// <summary>Hides credentials: the password of <c>user:password@</c> in URIs, and the values of Authorization-like headers.</summary>
public static partial class Redactor
{
    public const string Mask = "***";

    private static readonly HashSet<string> SecretKeys = new(StringComparer.OrdinalIgnoreCase)
    {
        "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie",
    };

    [GeneratedRegex(@"(?<pre>\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^:/?#@\s""'<>]+):(?<pw>[^@/?#\s""'<>]+)@", RegexOptions.CultureInvariant)]
    private static partial Regex UriCredential();

    [GeneratedRegex(@"(?<pre>\b(?:proxy-)?authorization[""']?\s*[:=]\s*[""']?)(?<v>[^\r\n""',;}]+)", RegexOptions.CultureInvariant | RegexOptions.IgnoreCase)]
    private static partial Regex AuthorizationHeader();

    /// <summary>Redacts one piece of text.</summary>
    public static string RedactText(string s)
    {
        if (string.IsNullOrEmpty(s)) return s;
        if (s.Contains('@')) s = UriCredential().Replace(s, m => m.Groups["pre"].Value + ":" + Mask + "@");
        if (s.Contains("uthorization", StringComparison.OrdinalIgnoreCase))
            s = AuthorizationHeader().Replace(s, m => m.Groups["v"].Value.Trim() == Mask ? m.Value : m.Groups["pre"].Value + Mask);
        return s;
    }

    /// <summary>Redacts a JSON tree in place: every string value and every secret-named member.</summary>
    public static void Redact(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(kv => kv.Key).ToList())
                {
                    var child = o[key];
                    if (SecretKeys.Contains(key) && child is JsonValue)
                        o[key] = Mask;
                    else if (child is JsonValue v && v.TryGetValue<string>(out var s))
                    {
                        var r = RedactText(s);
                        if (!ReferenceEquals(r, s) && r != s) o[key] = r;
                    }
                    else Redact(child);
                }
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                {
                    if (a[i] is JsonValue v && v.TryGetValue<string>(out var s))
                    {
                        var r = RedactText(s);
                        if (r != s) a[i] = r;
                    }
                    else Redact(a[i]);
                }
                break;
        }
    }
}
