using System.Management.Automation;

namespace ChaosPS.Commands;

/// <summary>
/// Lets a TimeSpan parameter take "500ms", "30s", "5m", "1h", "1m30s", a TimeSpan, or a bare number of seconds — the
/// duration syntax of every ChaosPS cmdlet, for your own scripts and Pester files too:
/// <code>function Wait-Thing { param([ChaosPS.Commands.DurationTransform()][timespan] $Timeout) ... }</code>
/// (after Import-Module ChaosPS). With <see cref="RequireUnit"/> a bare number is refused: for parameters measured in
/// milliseconds (a latency, a jitter, a delay), where "100" means 100 ms to a toxiproxy or tc user but would be 100 s.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field | AttributeTargets.Parameter)]
public sealed class DurationTransformAttribute : ArgumentTransformationAttribute
{
    /// <summary>Refuse a number without a unit (a millisecond-scale parameter); a string with a unit or a TimeSpan still binds.</summary>
    public bool RequireUnit { get; set; }

    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject pso ? pso.BaseObject : inputData;
        switch (value)
        {
            case null: return null!;
            case TimeSpan t: return t;
            // PowerShell reads an unquoted 30s as the Int16 literal 30 (seconds, as written), and an unquoted 100us as
            // the UInt16 literal 100 (microseconds, as written): both carry their unit.
            case ushort us:
                return TimeSpan.FromTicks(us * 10L);
            case short sec:
                return TimeSpan.FromSeconds(sec);
            case byte or sbyte or int or uint or long or ulong or double or float or decimal or System.Numerics.BigInteger:
                // Zero needs no unit.
                if (RequireUnit && Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture) != 0)
                    throw new ArgumentTransformationMetadataException(
                        $"'{value}' has no unit. This duration is usually milliseconds, and a bare number would be read as seconds; write the unit: '{value}ms' (or '{value}s').");
                // A bare number is seconds.
                return TimeSpan.FromSeconds(Convert.ToDouble(value, System.Globalization.CultureInfo.InvariantCulture));
            case string s:
                if (DurationParserBridge.TryParse(s, out var parsed, out var error)) return parsed;
                throw new ArgumentTransformationMetadataException(error);
            case object[] arr:
                return arr.Select(x => Transform(engineIntrinsics, x)).ToArray();
            default:
                throw new ArgumentTransformationMetadataException($"'{value}' is not a duration. Use a TimeSpan or a string such as '500ms', '30s' or '5m'.");
        }
    }
}

/// <summary>Lets a size parameter take 4GB (a number of bytes), "512MB", or "90%" (when the cmdlet allows percentages).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class SizeTransformAttribute(bool allowPercent = true) : ArgumentTransformationAttribute
{
    public bool AllowPercent { get; } = allowPercent;

    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject pso ? pso.BaseObject : inputData;
        if (value is null) return null!;
        if (value is byte or sbyte or short or ushort or int or uint or long or ulong or double or float or decimal)
            return SizeBridge.FromBytes(Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture));
        if (SizeBridge.IsSizeSpec(value)) return value;
        if (SizeBridge.TryParse(value.ToString() ?? "", AllowPercent, out var spec, out var error)) return spec!;
        throw new ArgumentTransformationMetadataException(error);
    }
}

// The bridges keep engine types out of the attribute classes' signatures (they are public types PowerShell
// inspects while the module loads, before the engine's load context is hooked up).
internal static class DurationParserBridge
{
    public static bool TryParse(string s, out TimeSpan value, out string error)
    {
        try { value = ChaosPS.DurationParser.Parse(s); error = ""; return true; }
        catch (ChaosException e) { value = default; error = e.Message; return false; }
    }
}

internal static class SizeBridge
{
    public static object FromBytes(long bytes) => ChaosPS.SizeSpec.FromBytes(bytes);
    public static bool IsSizeSpec(object value) => value is ChaosPS.SizeSpec;
    public static bool TryParse(string s, bool allowPercent, out object? value, out string error)
    {
        try { value = ChaosPS.SizeParser.Parse(s, allowPercent); error = ""; return true; }
        catch (ChaosException e) { value = null; error = e.Message; return false; }
    }
}
