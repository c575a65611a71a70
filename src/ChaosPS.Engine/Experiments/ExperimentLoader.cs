using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ChaosPS.Experiments;

/// <summary>An experiment read, checked and with its configuration substituted: ready to plan or run.</summary>
public sealed class LoadedExperiment
{
    /// <summary>The file it came from, or "(hashtable)".</summary>
    public required string Source { get; init; }
    /// <summary>json, psd1 or hashtable.</summary>
    public required string Format { get; init; }
    /// <summary>The experiment with ${name} substituted and activity refs resolved; the journal's "experiment".</summary>
    public required JsonObject Document { get; init; }
    /// <summary>The configuration values used (after -Configuration overrides and env lookups).</summary>
    public required IReadOnlyDictionary<string, JsonNode?> Configuration { get; init; }
    /// <summary>Masks the values of the experiment's secrets in everything the run records (journal, plan, errors).</summary>
    public SecretRedactor Redactor { get; init; } = SecretRedactor.None;

    public string Title => Document["title"]?.GetValue<string>() ?? "";
    public IReadOnlyList<string> Tags => Document["tags"] is JsonArray a ? a.Select(t => t?.ToString() ?? "").ToList() : [];
}

/// <summary>
/// Reads experiments in Chaos Toolkit's JSON format (and the same structure from a .psd1 or hashtable, converted to
/// JSON by the caller), substitutes configuration and checks every field before anything runs.
/// </summary>
public static partial class ExperimentLoader
{
    public static readonly string[] HypothesisStrategies = ["default", "before-method-only", "after-method-only", "during-method-only", "continuously"];
    public static readonly string[] RollbackStrategies = ["always", "deviated", "never"];

    /// <summary>Parses experiment JSON text; a syntax error names the file, line and position.</summary>
    public static JsonObject ParseJson(string text, string source)
    {
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw new ExperimentException(new ExperimentIssue(ExperimentException.Ids.InvalidJson, ChaosErrorCategory.InvalidData, source,
                e.Path ?? "$", $"not valid JSON (line {e.LineNumber + 1}, position {e.BytePositionInLine + 1}): {e.Message}"));
        }
        return node as JsonObject ?? throw new ExperimentException(new ExperimentIssue(ExperimentException.Ids.Invalid,
            ChaosErrorCategory.InvalidData, source, "$", "expected a JSON object at the top level (an experiment)"));
    }

    /// <summary>Reads a .json file (a missing file or bad JSON is an ExperimentException).</summary>
    public static JsonObject ReadJsonFile(string path)
    {
        if (!File.Exists(path))
            throw new ExperimentException(new ExperimentIssue(ExperimentException.Ids.NotFound, ChaosErrorCategory.ObjectNotFound, path, "$", "the file does not exist"));
        return ParseJson(File.ReadAllText(path), path);
    }

    /// <summary>
    /// Substitutes configuration, resolves activity refs and checks the whole experiment. Throws an
    /// <see cref="ExperimentException"/> listing every issue; nothing has run yet.
    /// </summary>
    public static LoadedExperiment Prepare(JsonObject raw, string source, string format, IReadOnlyDictionary<string, IActivityProvider> providers,
        IReadOnlyDictionary<string, object?>? overrides = null, Func<string, string?>? environment = null)
    {
        var v = new ExperimentValidation(source, format);
        var doc = (JsonObject)raw.DeepClone();
        var env = environment ?? Environment.GetEnvironmentVariable;
        var config = ResolveConfiguration(doc, overrides, env, v);
        var secrets = ResolveSecrets(doc, env, v);
        // Chaos Toolkit looks a ${name} up in the configuration first, then in the secrets (every scope, in order).
        var values = new Dictionary<string, JsonNode?>(config, StringComparer.Ordinal);
        foreach (var (name, value) in secrets) values.TryAdd(name, value);
        SubstituteAll(doc, "$", values, v);
        // A field holding an unsubstituted ${name} would only be reported again as malformed.
        v.ThrowIfAny();
        ResolveRefs(doc, v);
        Check(doc, providers, v);
        v.ThrowIfAny();
        return new LoadedExperiment
        {
            Source = source, Format = format, Document = doc, Configuration = config,
            Redactor = new SecretRedactor(secrets.Values.Select(SecretText).OfType<string>()),
        };
    }

    private static string? SecretText(JsonNode? n) => n switch
    {
        null => null,
        JsonValue jv when jv.GetValueKind() == JsonValueKind.String => jv.GetValue<string>(),
        _ => n.ToJsonString(),
    };

    // ---------------------------------------------------------------- secrets

    /// <summary>
    /// Chaos Toolkit's secrets: {scope: {name: literal | {"type": "env", "key": VAR}}}. Their values are substituted as
    /// ${name} like configuration (which wins on a clash) and masked in everything recorded. Other secret types (vault,
    /// ...) are refused: running without the secret would be a lie.
    /// </summary>
    private static Dictionary<string, JsonNode?> ResolveSecrets(JsonObject doc, Func<string, string?> env, ExperimentValidation v)
    {
        var result = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        if (doc["secrets"] is null) return result;
        if (doc["secrets"] is not JsonObject scopes)
        {
            v.Add(ExperimentException.Ids.InvalidSecret, "$.secrets", "expected an object of scope: {name: value or {\"type\": \"env\", \"key\": VAR}}");
            return result;
        }
        foreach (var (scope, entries) in scopes)
        {
            string sp = $"$.secrets.{scope}";
            if (entries is not JsonObject eo) { v.Add(ExperimentException.Ids.InvalidSecret, sp, "expected an object of name: value or {\"type\": \"env\", \"key\": VAR}"); continue; }
            foreach (var (name, value) in eo)
            {
                string path = $"{sp}.{name}";
                switch (value)
                {
                    case null:
                        v.Add(ExperimentException.Ids.InvalidSecret, path, "a secret needs a value: a literal, or {\"type\": \"env\", \"key\": VAR}");
                        break;
                    case JsonObject o when o["type"] is JsonValue tv && tv.GetValueKind() == JsonValueKind.String && tv.GetValue<string>() == "env":
                        if (o["key"] is not JsonValue kv || kv.GetValueKind() != JsonValueKind.String || kv.GetValue<string>().Length == 0)
                        {
                            v.Add(ExperimentException.Ids.InvalidSecret, path + ".key", "an env secret needs 'key': the environment variable's name");
                            break;
                        }
                        string key = kv.GetValue<string>();
                        if (env(key) is { } got) result.TryAdd(name, TypedEnv(got, o["env_var_type"]?.ToString()));
                        else if (o.ContainsKey("default")) result.TryAdd(name, o["default"]?.DeepClone());
                        else v.Add(ExperimentException.Ids.SecretNotSet, path, $"the secret '{name}' reads the environment variable {key}, which is not set", ChaosErrorCategory.ObjectNotFound);
                        break;
                    case JsonObject o when o.ContainsKey("type"):
                        v.Add(ExperimentException.Ids.UnsupportedSecret, path + ".type",
                            $"secret type '{o["type"]}' is not supported by ChaosPS: use an inline value or {{\"type\": \"env\", \"key\": VAR}} (fetch a vault secret into an environment variable before the run)",
                            ChaosErrorCategory.NotImplemented);
                        break;
                    case JsonObject:
                        v.Add(ExperimentException.Ids.InvalidSecret, path, "expected a literal value or {\"type\": \"env\", \"key\": VAR}");
                        break;
                    default:
                        result.TryAdd(name, value.DeepClone());
                        break;
                }
            }
        }
        return result;
    }

    // ---------------------------------------------------------------- configuration

    private static Dictionary<string, JsonNode?> ResolveConfiguration(JsonObject doc, IReadOnlyDictionary<string, object?>? overrides,
        Func<string, string?> env, ExperimentValidation v)
    {
        var result = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        if (doc["configuration"] is JsonObject cfg)
        {
            foreach (var (name, value) in cfg)
            {
                string path = $"$.configuration.{name}";
                if (value is JsonObject o && o["type"] is JsonValue tv && tv.ToString() == "env")
                {
                    string? key = o["key"]?.ToString();
                    if (string.IsNullOrEmpty(key)) { v.Add(ExperimentException.Ids.MissingField, path + ".key", "an env configuration needs 'key' (the environment variable's name)"); continue; }
                    string? got = env(key);
                    if (got is not null) result[name] = TypedEnv(got, o["env_var_type"]?.ToString());
                    else if (o.ContainsKey("default")) result[name] = o["default"]?.DeepClone();
                    // Neither set nor defaulted: only an error where it is used (a ${name} with no value).
                }
                else if (value is JsonObject o2 && o2.ContainsKey("type"))
                {
                    v.Add(ExperimentException.Ids.Invalid, path + ".type", $"configuration type '{o2["type"]}' is not supported; expected a literal value or {{\"type\": \"env\", \"key\": ..., \"default\": ...}}");
                }
                else result[name] = value?.DeepClone();
            }
        }
        else if (doc["configuration"] is not null)
            v.Add(ExperimentException.Ids.Invalid, "$.configuration", "expected an object of name: value");

        if (overrides is not null)
            foreach (var (k, val) in overrides) result[k] = JsonConvertible.ToNode(val);
        return result;
    }

    private static JsonNode? TypedEnv(string text, string? type) => type switch
    {
        "int" or "integer" when long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) => JsonValue.Create(l),
        "float" or "number" when double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => JsonValue.Create(d),
        "bool" or "boolean" when bool.TryParse(text, out var b) => JsonValue.Create(b),
        "json" => ParseEnvJson(text),
        _ => JsonValue.Create(text),
    };

    /// <summary>An env value read as JSON; text that is not JSON is kept as a string rather than thrown raw.</summary>
    private static JsonNode? ParseEnvJson(string text)
    {
        try { return JsonNode.Parse(text); }
        catch (JsonException) { return JsonValue.Create(text); }
    }

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")]
    private static partial Regex VarPattern();

    /// <summary>Substitutes ${name} in every string except the configuration block itself.</summary>
    private static void SubstituteAll(JsonObject doc, string path, Dictionary<string, JsonNode?> config, ExperimentValidation v)
    {
        foreach (var key in doc.Select(kv => kv.Key).ToList())
        {
            if (key is "configuration" or "secrets" && path == "$") continue;
            var old = doc[key];
            var now = Substitute(old, $"{path}.{key}", config, v);
            if (!ReferenceEquals(old, now)) doc[key] = now;
        }
    }

    private static JsonNode? Substitute(JsonNode? node, string path, Dictionary<string, JsonNode?> config, ExperimentValidation v)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var key in o.Select(kv => kv.Key).ToList())
                {
                    var old = o[key];
                    var now = Substitute(old, $"{path}.{key}", config, v);
                    if (!ReferenceEquals(old, now)) o[key] = now;
                }
                return o;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                {
                    var old = a[i];
                    var now = Substitute(old, $"{path}[{i}]", config, v);
                    if (!ReferenceEquals(old, now)) a[i] = now;
                }
                return a;
            case JsonValue val when val.GetValueKind() == JsonValueKind.String:
                string s = val.GetValue<string>();
                if (!s.Contains("${", StringComparison.Ordinal)) return node;
                var whole = VarPattern().Match(s);
                if (whole.Success && whole.Length == s.Length)
                {
                    // The whole string is one variable: keep the value's type (a number stays a number).
                    if (config.TryGetValue(whole.Groups[1].Value, out var value) && value is not null) return value.DeepClone();
                    Undefined(whole.Groups[1].Value);
                    return node;
                }
                return JsonValue.Create(VarPattern().Replace(s, m =>
                {
                    if (config.TryGetValue(m.Groups[1].Value, out var value) && value is not null)
                        return value is JsonValue jv && jv.GetValueKind() == JsonValueKind.String ? jv.GetValue<string>() : value.ToJsonString();
                    Undefined(m.Groups[1].Value);
                    return m.Value;
                }));
            default:
                return node;
        }

        void Undefined(string name) => v.Add(ExperimentException.Ids.UndefinedVariable, path,
            $"${{{name}}} has no value: define '{name}' in the experiment's configuration (a literal, or an env entry with a default), set its environment variable, or pass -Configuration @{{ {name} = ... }}");
    }

    // ---------------------------------------------------------------- refs

    private static void ResolveRefs(JsonObject doc, ExperimentValidation v)
    {
        var named = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        foreach (var (_, a) in AllActivities(doc))
            if (a is JsonObject o && o["name"]?.ToString() is { Length: > 0 } n && !o.ContainsKey("ref")) named.TryAdd(n, o);
        foreach (var (path, a) in AllActivities(doc).ToList())
        {
            if (a is not JsonObject o || o["ref"]?.ToString() is not { } r) continue;
            if (!named.TryGetValue(r, out var target)) { v.Add(ExperimentException.Ids.UnknownReference, path + ".ref", $"no activity is named '{r}'"); continue; }
            var parent = o.Parent as JsonArray;
            int idx = parent!.IndexOf(o);
            parent[idx] = target.DeepClone();
        }
    }

    private static IEnumerable<(string Path, JsonNode? Node)> AllActivities(JsonObject doc)
    {
        if (doc["steady-state-hypothesis"] is JsonObject h && h["probes"] is JsonArray probes)
            for (int i = 0; i < probes.Count; i++) yield return ($"$.steady-state-hypothesis.probes[{i}]", probes[i]);
        if (doc["method"] is JsonArray m)
            for (int i = 0; i < m.Count; i++) yield return ($"$.method[{i}]", m[i]);
        if (doc["rollbacks"] is JsonArray r)
            for (int i = 0; i < r.Count; i++) yield return ($"$.rollbacks[{i}]", r[i]);
    }

    // ---------------------------------------------------------------- checks

    private static void Check(JsonObject doc, IReadOnlyDictionary<string, IActivityProvider> providers, ExperimentValidation v)
    {
        RequireString(doc, "$", "title", v);
        if (doc["description"] is null)
            v.Add(ExperimentException.Ids.MissingField, "$.description", "expected a description (a string saying what the experiment shows)");
        if (doc["tags"] is { } tags && (tags is not JsonArray ta || ta.Any(t => t is not JsonValue tv || tv.GetValueKind() != JsonValueKind.String || tv.GetValue<string>().Length == 0)))
            v.Add(ExperimentException.Ids.Invalid, "$.tags", "expected a list of non-empty strings");
        if (doc["method"] is not JsonArray)
            v.Add(ExperimentException.Ids.MissingField, "$.method", "expected 'method': a list of actions and probes (it may be empty)");

        if (doc["steady-state-hypothesis"] is { } hn)
        {
            if (hn is not JsonObject h) v.Add(ExperimentException.Ids.Invalid, "$.steady-state-hypothesis", "expected an object {title, probes}");
            else
            {
                RequireString(h, "$.steady-state-hypothesis", "title", v);
                if (h["probes"] is { } p && p is not JsonArray)
                    v.Add(ExperimentException.Ids.Invalid, "$.steady-state-hypothesis.probes", "expected a list of probes");
            }
        }
        // Chaos Toolkit controls are Python modules: refusing them is honest, ignoring them would not be.
        if (doc["controls"] is not null)
            v.Add(ExperimentException.Ids.UnsupportedControls, "$.controls", "Chaos Toolkit controls (Python modules) are not supported by ChaosPS: remove them", ChaosErrorCategory.NotImplemented);
        if (doc["steady-state-hypothesis"]?["controls"] is not null)
            v.Add(ExperimentException.Ids.UnsupportedControls, "$.steady-state-hypothesis.controls", "Chaos Toolkit controls (Python modules) are not supported by ChaosPS: remove them", ChaosErrorCategory.NotImplemented);
        if (doc["rollbacks"] is { } rb && rb is not JsonArray)
            v.Add(ExperimentException.Ids.Invalid, "$.rollbacks", "expected a list of actions");

        foreach (var (path, node) in AllActivities(doc))
        {
            bool hypothesis = path.StartsWith("$.steady-state-hypothesis", StringComparison.Ordinal);
            CheckActivity(node, path, hypothesis, providers, v);
            // An activity (or its provider) may name the secret scopes it uses: each must be declared.
            var scopes = doc["secrets"] as JsonObject;
            foreach (var (where, list) in new[] { (path + ".secrets", node?["secrets"]), (path + ".provider.secrets", node?["provider"]?["secrets"]) })
            {
                if (list is null) continue;
                if (list is not JsonArray la || la.Any(x => x is not JsonValue xv || xv.GetValueKind() != JsonValueKind.String))
                    v.Add(ExperimentException.Ids.InvalidSecret, where, "expected a list of secret scope names (keys of the experiment's 'secrets')");
                else foreach (var x in la)
                        if (scopes is null || !scopes.ContainsKey(x!.ToString()))
                            v.Add(ExperimentException.Ids.UnknownSecretScope, where, $"the secret scope '{x}' is not declared in the experiment's 'secrets'", ChaosErrorCategory.ObjectNotFound);
            }
        }

        if (doc["runtime"] is JsonObject rt)
        {
            if (rt["hypothesis"]?["strategy"] is { } hs && !HypothesisStrategies.Contains(hs.ToString()))
                v.Add(ExperimentException.Ids.InvalidStrategy, "$.runtime.hypothesis.strategy", $"expected one of {string.Join(", ", HypothesisStrategies)}");
            if (rt["hypothesis"]?["frequency"] is { } f && (Json.Num(f) is not { } fv || fv <= 0))
                v.Add(ExperimentException.Ids.InvalidStrategy, "$.runtime.hypothesis.frequency", "expected a number of seconds greater than 0");
            if (rt["rollbacks"]?["strategy"] is { } rs && !RollbackStrategies.Contains(rs.ToString()))
                v.Add(ExperimentException.Ids.InvalidStrategy, "$.runtime.rollbacks.strategy", $"expected one of {string.Join(", ", RollbackStrategies)}");
        }
    }

    private static void CheckActivity(JsonNode? node, string path, bool hypothesis, IReadOnlyDictionary<string, IActivityProvider> providers, ExperimentValidation v)
    {
        if (node is not JsonObject a) { v.Add(ExperimentException.Ids.Invalid, path, "expected an activity object {type, name, provider}"); return; }
        if (a.ContainsKey("ref")) return; // unresolved: already reported
        string? type = a["type"]?.ToString();
        if (type is not ("action" or "probe"))
            v.Add(ExperimentException.Ids.Invalid, path + ".type", $"expected \"action\" or \"probe\"{(type is null ? "" : $", got \"{type}\"")}");
        RequireString(a, path, "name", v);
        if (hypothesis && type == "action")
            v.Add(ExperimentException.Ids.Invalid, path + ".type", "a steady-state hypothesis holds probes only");
        if (hypothesis && !a.ContainsKey("tolerance"))
            v.Add(ExperimentException.Ids.MissingTolerance, path + ".tolerance", "every probe of the steady-state hypothesis needs a tolerance (what its output must be for the steady state to hold)");
        if (a.ContainsKey("tolerance")) Tolerance.Validate(a["tolerance"], path + ".tolerance", providers, v);
        if (a["pauses"] is { } pauses)
        {
            if (pauses is not JsonObject po) v.Add(ExperimentException.Ids.Invalid, path + ".pauses", "expected {\"before\": seconds, \"after\": seconds}");
            else foreach (var (k, pv) in po)
                {
                    if (k is not ("before" or "after")) v.Add(ExperimentException.Ids.Invalid, $"{path}.pauses.{k}", "expected 'before' or 'after'");
                    else if (Json.Num(pv) is not { } pn || pn < 0)
                        v.Add(ExperimentException.Ids.Invalid, $"{path}.pauses.{k}", "expected a number of seconds (0 or more)");
                }
        }
        if (a["controls"] is not null)
            v.Add(ExperimentException.Ids.UnsupportedControls, path + ".controls", "Chaos Toolkit controls (Python modules) are not supported by ChaosPS: remove them", ChaosErrorCategory.NotImplemented);
        if (a["timeout"] is { } to && (Json.Num(to) is not { } ts || ts <= 0))
            v.Add(ExperimentException.Ids.Invalid, path + ".timeout", "expected seconds greater than 0");
        if (a["background"] is { } bg && bg.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
            v.Add(ExperimentException.Ids.Invalid, path + ".background", "expected true or false");
        CheckProvider(a["provider"], path + ".provider", providers, v);
    }

    internal static void CheckProvider(JsonNode? node, string path, IReadOnlyDictionary<string, IActivityProvider> providers, ExperimentValidation v)
    {
        if (node is not JsonObject p) { v.Add(ExperimentException.Ids.MissingField, path, "expected a provider object {type, ...}"); return; }
        string? type = p["type"]?.ToString();
        if (type is null) { v.Add(ExperimentException.Ids.MissingField, path + ".type", $"expected the provider type: one of {string.Join(", ", providers.Keys)}"); return; }
        if (type == "python")
        {
            v.Add(ExperimentException.Ids.UnsupportedProvider, path + ".type",
                $"the python provider ({p["module"]}.{p["func"]}) is not supported by ChaosPS: use http, process, chaosps or powershell", ChaosErrorCategory.NotImplemented);
            return;
        }
        if (!providers.TryGetValue(type, out var provider))
        {
            v.Add(ExperimentException.Ids.UnknownProvider, path + ".type", $"unknown provider type '{type}': expected one of {string.Join(", ", providers.Keys)}");
            return;
        }
        provider.Validate(p, path, v);
    }

    private static void RequireString(JsonObject o, string path, string key, ExperimentValidation v)
    {
        if (o[key] is not JsonValue s || s.GetValueKind() != JsonValueKind.String || s.GetValue<string>().Length == 0)
            v.Add(ExperimentException.Ids.MissingField, $"{path}.{key}", $"expected '{key}': a non-empty string");
    }
}
