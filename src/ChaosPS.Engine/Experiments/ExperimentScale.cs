using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ChaosPS.Load;

namespace ChaosPS.Experiments;

/// <summary>
/// What -Scale multiplies, in one place, so a small CI run stays consistent with itself: the fault and the load get
/// shorter, and so do the windows that wait on them, while what the system is judged by does not change.
/// Scaled: pauses; the Duration, Interval, HoldFor, RampUp, RampDown, ThinkTime and Baseline arguments of chaosps
/// activities; the duration of each Start-LoadTest -Stage ('30s:100' at 0.2 is '6s:100'); a recovery window (the
/// "recovered" tolerance's within, and Wait-ChaosRecovery's -Timeout, scaled together so the wait always covers the
/// window); the activity-level timeout of an activity whose own work is scaled (chaosps, and powershell scripts that
/// take $Scale); $Scale itself for such scripts. Not scaled: request and probe timeouts (http and process provider
/// timeouts, Start-LoadTest -Timeout, hang bounds), thresholds, rates, counts, the continuous hypothesis frequency.
/// </summary>
public static class ExperimentScale
{
    /// <summary>TimeSpan arguments of any chaosps cmdlet that are durations of the fault or load.</summary>
    public static readonly IReadOnlySet<string> DurationArguments =
        new HashSet<string>(StringComparer.OrdinalIgnoreCase) { "Duration", "Interval", "HoldFor", "RampUp", "RampDown", "ThinkTime", "Baseline" };

    /// <summary>Arguments that are recovery windows of a given cmdlet (scaled like the "recovered" tolerance's within).</summary>
    public static readonly IReadOnlyDictionary<string, string[]> WindowArguments =
        new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase) { ["Wait-ChaosRecovery"] = ["Timeout"] };

    public static TimeSpan Span(TimeSpan t, double scale) => scale == 1.0 ? t : TimeSpan.FromTicks((long)Math.Round(t.Ticks * scale));

    /// <summary>Whether the argument <paramref name="parameter"/> of <paramref name="cmdlet"/> is scaled.</summary>
    public static bool IsScaledArgument(string cmdlet, string parameter, Type parameterType)
    {
        var t = Nullable.GetUnderlyingType(parameterType) ?? parameterType;
        if (t == typeof(TimeSpan))
            return DurationArguments.Contains(parameter)
                || WindowArguments.TryGetValue(cmdlet, out var w) && w.Contains(parameter, StringComparer.OrdinalIgnoreCase);
        return parameter.Equals("Stage", StringComparison.OrdinalIgnoreCase) && cmdlet.Equals("Start-LoadTest", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// The value a chaosps argument takes at <paramref name="scale"/>: a duration (TimeSpan, "30s", or seconds as a
    /// number) multiplied, each -Stage's duration multiplied; anything else, or a value that does not parse (the cmdlet
    /// then reports it with its own error id), unchanged.
    /// </summary>
    public static object? Argument(string cmdlet, string parameter, Type parameterType, object? value, double scale)
    {
        if (scale == 1.0 || value is null || !IsScaledArgument(cmdlet, parameter, parameterType)) return value;
        if (parameter.Equals("Stage", StringComparison.OrdinalIgnoreCase) && (Nullable.GetUnderlyingType(parameterType) ?? parameterType) != typeof(TimeSpan))
        {
            return value switch
            {
                string s => Stage(s, scale),
                System.Collections.IEnumerable e => e.Cast<object?>().Select(x => x is string xs ? Stage(xs, scale) : x).ToArray(),
                _ => value,
            };
        }
        TimeSpan? span = value switch
        {
            TimeSpan ts => ts,
            string s when DurationParser.TryParse(s, out var ts) => ts,
            long or int or double or decimal => TimeSpan.FromSeconds(Convert.ToDouble(value, CultureInfo.InvariantCulture)),
            _ => null,
        };
        return span is { } x ? Span(x, scale) : value;
    }

    /// <summary>'30s:100' at 0.2 is '6000ms:100' (never below 1 ms: a stage needs a duration). Text that is not a stage is returned as is.</summary>
    public static string Stage(string stage, double scale)
    {
        if (scale == 1.0) return stage;
        LoadStage parsed;
        try { parsed = LoadStage.Parse(stage); }
        catch (ChaosException) { return stage; }
        double ms = Math.Max(1, Math.Round(parsed.Duration.TotalMilliseconds * scale));
        return $"{ms.ToString("0", CultureInfo.InvariantCulture)}ms:{parsed.Target.ToString(CultureInfo.InvariantCulture)}";
    }

    /// <summary>A tolerance as judged at <paramref name="scale"/>: a "recovered" tolerance's within is multiplied.</summary>
    public static JsonNode? Tolerance(JsonNode? tol, double scale)
    {
        if (scale == 1.0 || tol is not JsonObject o || o["type"]?.ToString() != "recovered" || Json.Seconds(o["within"]) is not { } within) return tol;
        var copy = (JsonObject)o.DeepClone();
        copy["within"] = Math.Round(within * scale, 6);
        return copy;
    }

    /// <summary>
    /// An activity's own timeout (seconds) at <paramref name="scale"/>: multiplied when the activity's work is scaled
    /// (chaosps; powershell whose script takes $Scale), else as written. Null when it has none.
    /// </summary>
    public static double? ActivityTimeout(JsonObject activity, double scale, bool workIsScaled)
    {
        if (Json.Num(activity["timeout"]) is not { } t || t <= 0) return null;
        return workIsScaled ? t * scale : t;
    }
}
