using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace ChaosPS.Experiments;

/// <summary>The outcome of one tolerance: met, not met, or null when there was no evidence to judge (never a pass).</summary>
public sealed record ToleranceResult(bool? Met, string Detail)
{
    public static ToleranceResult Yes(string d) => new(true, d);
    public static ToleranceResult No(string d) => new(false, d);
    public static ToleranceResult NoEvidence(string d) => new(null, d);
}

/// <summary>
/// Chaos Toolkit's tolerances (bool, string, number against "status", list/range, regex, jsonpath, range, probe) and
/// ChaosPS's own over its measured results: "thresholds" (a load test's k6-style thresholds), "recovered" (a
/// Wait-ChaosRecovery result within a time), "verdict" (e.g. Test-GracefulDegradation's Graceful) and "all" (a list of
/// tolerances on the same output, every one of which must hold).
/// </summary>
public static class Tolerance
{
    public static readonly string[] ObjectTypes = ["regex", "jsonpath", "range", "probe", "thresholds", "recovered", "verdict", "all"];

    /// <summary>
    /// Combines the results of an "all" tolerance: met when every one is met; not met when any is not met (with
    /// evidence); otherwise no evidence (one unjudged part is never a pass). The detail lists each part.
    /// </summary>
    public static ToleranceResult All(IReadOnlyList<ToleranceResult> parts)
    {
        string detail = string.Join("; ", parts.Select((r, i) => $"[{i + 1}] {(r.Met is { } m ? m ? "met" : "NOT met" : "no evidence")}: {r.Detail}"));
        if (parts.Any(r => r.Met == false)) return ToleranceResult.No(detail);
        if (parts.Any(r => r.Met is null)) return ToleranceResult.NoEvidence(detail);
        return ToleranceResult.Yes(detail);
    }

    public static void Validate(JsonNode? tol, string path, IReadOnlyDictionary<string, IActivityProvider> providers, ExperimentValidation v)
    {
        switch (tol)
        {
            case null: v.Add(ExperimentException.Ids.InvalidTolerance, path, "expected a tolerance, got null"); return;
            case JsonArray a:
                if (a.Count == 0) v.Add(ExperimentException.Ids.InvalidTolerance, path, "expected a non-empty list (allowed values, or [min, max])");
                return;
            case JsonValue: return;
            case JsonObject o:
                string? type = o["type"]?.ToString();
                if (type is null || !ObjectTypes.Contains(type))
                {
                    v.Add(ExperimentException.Ids.InvalidTolerance, path + ".type", $"expected one of {string.Join(", ", ObjectTypes)}{(type is null ? "" : $", got '{type}'")}");
                    return;
                }
                switch (type)
                {
                    case "all":
                        // Several tolerances on one output, every one must hold: {"type": "all", "of": [tolerance, ...]}.
                        if (o["of"] is not JsonArray all || all.Count == 0)
                            v.Add(ExperimentException.Ids.InvalidTolerance, path + ".of", "expected a non-empty list of tolerances, every one of which must hold");
                        else for (int i = 0; i < all.Count; i++) Validate(all[i], $"{path}.of[{i}]", providers, v);
                        break;
                    case "regex":
                        if (o["pattern"]?.ToString() is not { } pat) v.Add(ExperimentException.Ids.InvalidTolerance, path + ".pattern", "expected a regular expression");
                        else { try { _ = new Regex(pat); } catch (ArgumentException e) { v.Add(ExperimentException.Ids.InvalidTolerance, path + ".pattern", $"not a valid regular expression: {e.Message}"); } }
                        break;
                    case "jsonpath":
                        if (o["path"]?.ToString() is not { } jp) v.Add(ExperimentException.Ids.InvalidTolerance, path + ".path", "expected a JSONPath such as $.data[0].status");
                        else if (!JsonPathLite.TryParse(jp, out _, out var err)) v.Add(ExperimentException.Ids.InvalidTolerance, path + ".path", err!);
                        break;
                    case "range":
                        if (o["range"] is not JsonArray r || r.Count != 2 || Json.Num(r[0]) is null || Json.Num(r[1]) is null)
                            v.Add(ExperimentException.Ids.InvalidTolerance, path + ".range", "expected [min, max] (two numbers)");
                        break;
                    case "probe":
                        ExperimentLoader.CheckProvider(o["provider"], path + ".provider", providers, v);
                        break;
                    case "recovered":
                        if (o["within"] is { } w && Json.Seconds(w) is null)
                            v.Add(ExperimentException.Ids.InvalidTolerance, path + ".within", "expected seconds (a number) or a duration such as \"30s\"");
                        break;
                    case "verdict":
                        if (o["expect"] is null) v.Add(ExperimentException.Ids.InvalidTolerance, path + ".expect", "expected the verdict to expect, e.g. \"Graceful\" or \"Passed\"");
                        break;
                }
                return;
        }
    }

    /// <summary>Judges <paramref name="output"/> (the activity's output as JSON) against a tolerance that needs no provider.</summary>
    public static ToleranceResult Evaluate(JsonNode? tol, JsonNode? output)
    {
        switch (tol)
        {
            case JsonValue tv when tv.GetValueKind() is JsonValueKind.True or JsonValueKind.False:
                {
                    bool want = tv.GetValue<bool>();
                    if (output is JsonValue ov && ov.GetValueKind() is JsonValueKind.True or JsonValueKind.False)
                        return ov.GetValue<bool>() == want ? ToleranceResult.Yes($"output is {want}") : ToleranceResult.No($"output is {!want}, expected {want}");
                    return ToleranceResult.No($"output {Show(output)} is not the boolean {want}");
                }
            case JsonValue tv when tv.GetValueKind() == JsonValueKind.String:
                {
                    string want = tv.GetValue<string>();
                    string? got = output is JsonValue gv && gv.GetValueKind() == JsonValueKind.String ? gv.GetValue<string>() : null;
                    return got == want ? ToleranceResult.Yes($"output is \"{want}\"") : ToleranceResult.No($"output {Show(output)} is not \"{want}\"");
                }
            case JsonValue tv when tv.GetValueKind() == JsonValueKind.Number:
                {
                    double want = Json.Num(tv)!.Value;
                    var (got, what) = StatusOrValue(output);
                    if (got is null) return ToleranceResult.No($"output {Show(output)} has no number to compare with {Fmt(want)}");
                    return got == want ? ToleranceResult.Yes($"{what} is {Fmt(want)}") : ToleranceResult.No($"{what} is {Fmt(got.Value)}, expected {Fmt(want)}");
                }
            case JsonArray list:
                {
                    var (got, what) = StatusOrValue(output);
                    if (list.Count == 2 && Json.Num(list[0]) is { } lo && Json.Num(list[1]) is { } hi && got is not null && got >= lo && got <= hi)
                        return ToleranceResult.Yes($"{what} {Fmt(got.Value)} is within [{Fmt(lo)}, {Fmt(hi)}]");
                    foreach (var item in list)
                    {
                        if (item is JsonValue iv && iv.GetValueKind() == JsonValueKind.Number && got is not null && Json.Num(iv) == got) return ToleranceResult.Yes($"{what} {Fmt(got.Value)} is allowed");
                        if (item is not null && output is not null && JsonNode.DeepEquals(item, output)) return ToleranceResult.Yes($"output {Show(output)} is allowed");
                    }
                    return ToleranceResult.No($"{what} {Show(got is null ? output : JsonValue.Create(got.Value))} is not in {list.ToJsonString()}");
                }
            case JsonObject o:
                return EvaluateObject(o, output);
            default:
                return ToleranceResult.No($"unsupported tolerance {tol?.ToJsonString() ?? "null"}");
        }
    }

    private static ToleranceResult EvaluateObject(JsonObject o, JsonNode? output)
    {
        string type = o["type"]?.ToString() ?? "";
        switch (type)
        {
            case "all":
                return All(((JsonArray)o["of"]!).Select(t => Evaluate(t, output)).ToList());
            case "regex":
                {
                    var target = Target(o, output);
                    if (target is null) return ToleranceResult.No($"no {TargetName(o)} to match /{o["pattern"]}/ against");
                    string text = target is JsonValue tv && tv.GetValueKind() == JsonValueKind.String ? tv.GetValue<string>() : target.ToJsonString();
                    return Regex.IsMatch(text, o["pattern"]!.ToString())
                        ? ToleranceResult.Yes($"{TargetName(o)} matches /{o["pattern"]}/") : ToleranceResult.No($"{TargetName(o)} {Shorten(text)} does not match /{o["pattern"]}/");
                }
            case "jsonpath":
                {
                    var target = Target(o, output);
                    if (target is JsonValue sv && sv.GetValueKind() == JsonValueKind.String)
                    {
                        try { target = JsonNode.Parse(sv.GetValue<string>()); }
                        catch (JsonException) { return ToleranceResult.No($"{TargetName(o)} is not JSON"); }
                    }
                    JsonPathLite.TryParse(o["path"]!.ToString(), out var jp, out _);
                    var values = jp!.Select(target);
                    if (o["count"] is { } cn)
                    {
                        double want = Json.Num(cn) ?? -1;
                        if (values.Count != want) return ToleranceResult.No($"{o["path"]} matched {values.Count} value(s), expected {Fmt(want)}");
                    }
                    if (o["expect"] is { } expect)
                    {
                        if (values.Count == 0) return ToleranceResult.No($"{o["path"]} matched nothing (expected {expect.ToJsonString()})");
                        var wanted = expect is JsonArray ea ? ea.ToList() : [expect];
                        foreach (var val in values)
                            if (!wanted.Any(w => JsonNode.DeepEquals(w, val) || (Json.Num(w) is { } wn && Json.Num(val) == wn)))
                                return ToleranceResult.No($"{o["path"]} is {Show(val)}, expected {expect.ToJsonString()}");
                        return ToleranceResult.Yes($"{o["path"]} is {expect.ToJsonString()}");
                    }
                    if (o["count"] is not null) return ToleranceResult.Yes($"{o["path"]} matched {values.Count} value(s)");
                    return values.Count > 0 ? ToleranceResult.Yes($"{o["path"]} matched {values.Count} value(s)") : ToleranceResult.No($"{o["path"]} matched nothing");
                }
            case "range":
                {
                    var target = Target(o, output);
                    var (got, what) = o["target"] is null ? StatusOrValue(output) : (Json.Num(target), TargetName(o));
                    double lo = Json.Num(o["range"]![0])!.Value, hi = Json.Num(o["range"]![1])!.Value;
                    if (got is null) return ToleranceResult.No($"{what} {Show(target)} is not a number");
                    return got >= lo && got <= hi ? ToleranceResult.Yes($"{what} {Fmt(got.Value)} is within [{Fmt(lo)}, {Fmt(hi)}]")
                        : ToleranceResult.No($"{what} {Fmt(got.Value)} is outside [{Fmt(lo)}, {Fmt(hi)}]");
                }
            case "thresholds":
                {
                    var result = Last(output, n => n is JsonObject jo && jo.ContainsKey("Thresholds"));
                    if (result is null) return ToleranceResult.NoEvidence("no load-test result in the output (the probe must be Start-LoadTest with -Threshold)");
                    var th = result["Thresholds"] as JsonArray;
                    if (th is null || th.Count == 0) return ToleranceResult.NoEvidence("the load test had no thresholds to judge");
                    if (Json.Num(result["Requests"]) is 0) return ToleranceResult.NoEvidence("the load test sent no requests");
                    var failed = th.Where(t => t?["Passed"]?.GetValueKind() != JsonValueKind.True).ToList();
                    var noData = failed.Where(t => t?["Actual"] is null).ToList();
                    if (failed.Count == 0) return ToleranceResult.Yes($"{th.Count} threshold(s) passed: {string.Join("; ", th.Select(ThresholdText))}");
                    if (noData.Count == failed.Count) return ToleranceResult.NoEvidence($"no data for {string.Join("; ", noData.Select(ThresholdText))}");
                    return ToleranceResult.No($"threshold(s) failed: {string.Join("; ", failed.Select(ThresholdText))}");
                }
            case "recovered":
                {
                    var result = Last(output, n => n is JsonObject jo && jo.ContainsKey("Recovered"));
                    if (result is null) return ToleranceResult.NoEvidence("no recovery result in the output (the probe must be Wait-ChaosRecovery)");
                    if (result["Recovered"]?.GetValueKind() != JsonValueKind.True) return ToleranceResult.No($"did not recover (last probe: {result["LastProbe"]})");
                    if (Json.Num(result["FaultCount"]) is > 0 and var faults && result["FaultsWithoutEffect"] is JsonArray none && none.Count == faults)
                        return ToleranceResult.NoEvidence($"no fault took effect, so there was nothing to recover from: {string.Join("; ", none.Take(3).Select(n => n?.ToString()))}{(none.Count > 3 ? $" (and {none.Count - 3} more)" : "")}");
                    double? ttr = Json.Num(result["TimeToRecover"]);
                    if (o["within"] is { } w)
                    {
                        double limit = Json.Seconds(w)!.Value;
                        if (ttr is null) return ToleranceResult.NoEvidence("recovered, but no time to recover was measured");
                        return ttr <= limit ? ToleranceResult.Yes($"recovered in {Fmt(ttr.Value)} s (within {Fmt(limit)} s)") : ToleranceResult.No($"recovered in {Fmt(ttr.Value)} s, later than {Fmt(limit)} s");
                    }
                    return ToleranceResult.Yes(ttr is null ? "recovered" : $"recovered in {Fmt(ttr.Value)} s");
                }
            case "verdict":
                {
                    var result = Last(output, n => n is JsonObject jo && jo.ContainsKey("Verdict"));
                    string? verdict = result?["Verdict"]?.ToString();
                    if (verdict is null) return ToleranceResult.NoEvidence("no verdict in the output");
                    var want = o["expect"] is JsonArray ea ? ea.Select(x => x?.ToString()).ToList() : [o["expect"]!.ToString()];
                    if (want.Contains(verdict, StringComparer.OrdinalIgnoreCase)) return ToleranceResult.Yes($"verdict {verdict}");
                    if (verdict.Equals("Inconclusive", StringComparison.OrdinalIgnoreCase)) return ToleranceResult.NoEvidence("the verdict was Inconclusive");
                    return ToleranceResult.No($"verdict {verdict}, expected {string.Join(" or ", want)}");
                }
            default:
                return ToleranceResult.No($"tolerance type '{type}' cannot be judged here");
        }
    }

    /// <summary>Judges a "probe" tolerance's second probe's output: true means met (Chaos Toolkit's rule).</summary>
    public static ToleranceResult FromProbeOutput(JsonNode? probeOutput)
    {
        if (probeOutput is JsonValue v && v.GetValueKind() is JsonValueKind.True) return ToleranceResult.Yes("the tolerance probe returned true");
        return ToleranceResult.No($"the tolerance probe returned {Show(probeOutput)}");
    }

    private static string ThresholdText(JsonNode? t) => $"{t?["Metric"]}: {t?["Expression"]} (actual {(t?["Actual"] is { } a ? Fmt(Json.Num(a) ?? double.NaN) : "no data")})";

    private static JsonNode? Last(JsonNode? output, Func<JsonNode?, bool> pick)
        => output is JsonArray a ? a.LastOrDefault(pick) : pick(output) ? output : null;

    private static (double? Value, string What) StatusOrValue(JsonNode? output)
        => output is JsonObject o && o.ContainsKey("status") ? (Json.Num(o["status"]), "status") : (Json.Num(output), "output");

    private static JsonNode? Target(JsonObject tol, JsonNode? output)
    {
        string? t = tol["target"]?.ToString();
        if (t is null) return output;
        return output is JsonObject o ? o[t] : null;
    }

    private static string TargetName(JsonObject tol) => tol["target"]?.ToString() ?? "output";
    private static string Show(JsonNode? n) => n is null ? "null" : Shorten(n.ToJsonString());
    private static string Shorten(string s) => s.Length > 120 ? s[..117] + "..." : s;
    private static string Fmt(double d) => d.ToString("0.###", CultureInfo.InvariantCulture);
}

/// <summary>Small helpers over JSON values.</summary>
public static class Json
{
    public static double? Num(JsonNode? n)
    {
        if (n is not JsonValue v) return null;
        if (v.GetValueKind() != JsonValueKind.Number) return null;
        if (v.TryGetValue<double>(out var d)) return d;
        if (v.TryGetValue<long>(out var l)) return l;
        if (v.TryGetValue<int>(out var i)) return i;
        if (v.TryGetValue<decimal>(out var m)) return (double)m;
        if (v.TryGetValue<float>(out var f)) return f;
        return double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var p) ? p : null;
    }

    /// <summary>Seconds from a number or a duration string such as "30s" / "500ms".</summary>
    public static double? Seconds(JsonNode? n)
    {
        if (Num(n) is { } d) return d;
        if (n is JsonValue v && v.GetValueKind() == JsonValueKind.String && DurationParser.TryParse(v.GetValue<string>(), out var t)) return t.TotalSeconds;
        return null;
    }

    public static bool IsTrue(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.True;
}
