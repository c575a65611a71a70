using System.Text.RegularExpressions;

namespace ChaosPS;

/// <summary>
/// Keeps credentials written into a URI (http://admin:secret@host/) out of results, reports, records and messages:
/// the password becomes *** (http://admin:***@host/), and a user part with no password (often a token) becomes ***.
/// The request itself still uses the URI as given.
/// </summary>
public static partial class UriRedaction
{
    public const string Mask = "***";

    // scheme://userinfo@ — userinfo runs up to the first '@' before any '/', '?', '#' or space.
    [GeneratedRegex(@"(?<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?<user>[^/?#@\s:]*)(?::(?<password>[^/?#@\s]*))?@", RegexOptions.CultureInvariant)]
    private static partial Regex UserInfo();

    /// <summary>Text with the userinfo of every URI in it masked; null stays null.</summary>
    public static string? Redact(string? text)
    {
        if (string.IsNullOrEmpty(text) || !text.Contains('@')) return text;
        return UserInfo().Replace(text, m => m.Groups["password"].Success
            ? $"{m.Groups["scheme"].Value}{m.Groups["user"].Value}:{Mask}@"
            : $"{m.Groups["scheme"].Value}{Mask}@");
    }

    /// <summary>The URI with its userinfo masked (the same object when it has none).</summary>
    public static Uri Redact(Uri uri)
    {
        if (!uri.IsAbsoluteUri || string.IsNullOrEmpty(uri.UserInfo)) return uri;
        return new Uri(Redact(uri.OriginalString)!, UriKind.Absolute);
    }

    /// <summary>True when the text holds a URI with userinfo (used by checks and tests).</summary>
    public static bool HasUserInfo(string? text) => !string.IsNullOrEmpty(text) && UserInfo().IsMatch(text);
}
