using System.Globalization;
using System.Text.RegularExpressions;

namespace ChaosPS;

/// <summary>Parses the duration forms every cmdlet accepts: TimeSpan, "250us", "500ms", "30s", "5m", "1h", "1h30m", "1.5s".</summary>
public static partial class DurationParser
{
    [GeneratedRegex(@"\G\s*(?<n>\d+(?:\.\d+)?)\s*(?<u>us|µs|ms|s|m|h|d)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Part();

    /// <summary>Parses <paramref name="text"/>; throws ChaosException(InvalidDuration) naming the bad token.</summary>
    public static TimeSpan Parse(string text, string parameterName = "Duration")
    {
        if (TryParse(text, out var value, out var bad)) return value;
        throw ChaosException.InvalidArgument("InvalidDuration",
            $"'{text}' is not a valid duration for -{parameterName}: '{bad}' is not understood. Use a TimeSpan or a number with a unit: 250us, 500ms, 30s, 5m, 1h, 1h30m.",
            text, "Give the duration with a unit, for example '30s'.");
    }

    public static bool TryParse(string? text, out TimeSpan value) => TryParse(text, out value, out _);

    public static bool TryParse(string? text, out TimeSpan value, out string badToken)
    {
        value = TimeSpan.Zero;
        badToken = text ?? "";
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim();
        if (s.StartsWith('-')) { badToken = s; return false; }
        // A TimeSpan literal such as 00:00:30 is accepted as well.
        if (s.Contains(':') && TimeSpan.TryParse(s, CultureInfo.InvariantCulture, out value)) return value >= TimeSpan.Zero;
        int pos = 0;
        double ticks = 0;
        var m = Part().Match(s, 0);
        if (!m.Success) { badToken = s; return false; }
        while (m.Success && m.Index == pos)
        {
            double n = double.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
            ticks += m.Groups["u"].Value.ToLowerInvariant() switch
            {
                "us" or "µs" => n * 10,
                "ms" => n * TimeSpan.TicksPerMillisecond,
                "s" => n * TimeSpan.TicksPerSecond,
                "m" => n * TimeSpan.TicksPerMinute,
                "h" => n * TimeSpan.TicksPerHour,
                _ => n * TimeSpan.TicksPerDay,
            };
            pos = m.Index + m.Length;
            m = m.NextMatch();
        }
        if (pos != s.Length) { badToken = s[pos..].Trim(); return false; }
        if (ticks > TimeSpan.MaxValue.Ticks) { badToken = s; return false; }
        value = TimeSpan.FromTicks((long)Math.Round(ticks));
        return true;
    }

    /// <summary>Formats a duration the way ChaosPS prints them: 850ms, 12.5s, 3m20s.</summary>
    public static string Format(TimeSpan t)
    {
        if (t == TimeSpan.Zero) return "0s";
        if (t < TimeSpan.FromMilliseconds(1)) return $"{t.Ticks / 10.0:0.#}us";
        if (t < TimeSpan.FromSeconds(1)) return $"{t.TotalMilliseconds:0.#}ms";
        if (t < TimeSpan.FromMinutes(1)) return $"{t.TotalSeconds:0.##}s";
        if (t < TimeSpan.FromHours(1)) return $"{(int)t.TotalMinutes}m{t.Seconds}s";
        return $"{(int)t.TotalHours}h{t.Minutes}m";
    }
}

/// <summary>What a percentage in a size is relative to; each cmdlet says which one it uses.</summary>
public enum SizeBasis { Total, Free, Limit }

/// <summary>A size given either in bytes ("4GB", 4294967296) or as a percentage ("90%").</summary>
public sealed record SizeSpec(long Bytes, double? Percent)
{
    public bool IsPercent => Percent.HasValue;

    /// <summary>Resolves against a base (total, free or limit bytes) when the size is a percentage.</summary>
    public long Resolve(long basisBytes) => IsPercent ? (long)(basisBytes * Percent!.Value / 100.0) : Bytes;

    public override string ToString() => IsPercent ? $"{Percent!.Value.ToString(CultureInfo.InvariantCulture)}%" : SizeParser.Format(Bytes);

    public static SizeSpec FromBytes(long bytes) => new(bytes, null);
    public static SizeSpec FromPercent(double percent) => new(0, percent);
}

/// <summary>Parses sizes: 4GB, 512MB, 100KB, 1.5GiB, 1024 (bytes), 90%.</summary>
public static partial class SizeParser
{
    [GeneratedRegex(@"^\s*(?<n>\d+(?:\.\d+)?)\s*(?<u>b|kb|kib|k|mb|mib|m|gb|gib|g|tb|tib|t|%)?\s*$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    public static SizeSpec Parse(string text, bool allowPercent = true, string parameterName = "Size")
    {
        var m = Pattern().Match(text ?? "");
        if (!m.Success)
            throw ChaosException.InvalidArgument("InvalidSize",
                $"'{text}' is not a valid size for -{parameterName}. Use bytes or a unit (100MB, 4GB){(allowPercent ? " or a percentage (90%)" : "")}.",
                text, "Give the size with a unit, for example '512MB'.");
        double n = double.Parse(m.Groups["n"].Value, CultureInfo.InvariantCulture);
        string u = m.Groups["u"].Value.ToLowerInvariant();
        if (u == "%")
        {
            if (!allowPercent)
                throw ChaosException.InvalidArgument("InvalidSize", $"-{parameterName} does not take a percentage ('{text}'); give a size such as 512MB.", text);
            if (n < 0 || n > 100)
                throw ChaosException.InvalidArgument("PercentOutOfRange", $"'{text}' for -{parameterName} is outside 0..100%.", text);
            return SizeSpec.FromPercent(n);
        }
        double mult = u switch
        {
            "" or "b" => 1,
            "k" or "kb" or "kib" => 1024d,
            "m" or "mb" or "mib" => 1024d * 1024,
            "g" or "gb" or "gib" => 1024d * 1024 * 1024,
            _ => 1024d * 1024 * 1024 * 1024,
        };
        double bytes = n * mult;
        if (bytes > long.MaxValue)
            throw ChaosException.InvalidArgument("InvalidSize", $"'{text}' for -{parameterName} is too large.", text);
        return SizeSpec.FromBytes((long)bytes);
    }

    /// <summary>Formats bytes with binary units, as PowerShell's 1KB/1MB/1GB literals mean them.</summary>
    public static string Format(long bytes)
    {
        string[] units = ["B", "KB", "MB", "GB", "TB"];
        double v = bytes;
        int i = 0;
        while (Math.Abs(v) >= 1024 && i < units.Length - 1) { v /= 1024; i++; }
        return i == 0 ? $"{bytes}B" : $"{v.ToString(v >= 100 ? "0" : "0.##", CultureInfo.InvariantCulture)}{units[i]}";
    }
}
