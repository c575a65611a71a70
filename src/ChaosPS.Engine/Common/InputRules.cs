using System.Globalization;
using System.Net;

namespace ChaosPS;

/// <summary>
/// The rules every cmdlet applies to its input before anything changes: durations in a range the timers can hold,
/// counts and rates that make sense, http(s) URIs that are absolute (and loopback where the cmdlet only talks to this
/// machine), HTTP method tokens, status codes, wildcard patterns, names and host:port endpoints. Each rule throws a
/// ChaosException with a specific id and category InvalidArgument, naming the parameter and the value.
/// </summary>
public static class InputRules
{
    /// <summary>The longest duration any ChaosPS wait takes: the longest a .NET timer can wait (about 24.8 days).</summary>
    public static readonly TimeSpan MaxDuration = TimeSpan.FromMilliseconds(int.MaxValue - 1);

    /// <summary>Throws InvalidDuration unless 0 &lt; value &lt;= max (or 0 &lt;= value with allowZero).</summary>
    public static TimeSpan Duration(TimeSpan value, string? parameter, bool allowZero = false, TimeSpan? max = null)
    {
        var limit = max ?? MaxDuration;
        if (value < TimeSpan.Zero || (!allowZero && value == TimeSpan.Zero) || value > limit)
            throw ChaosException.InvalidArgument("InvalidDuration",
                $"{(parameter is null ? "The duration" : "-" + parameter)} must be {(allowZero ? "zero or more" : "more than zero")} and at most {DurationParser.Format(limit)}; got {Show(value)}.",
                value, $"Give a duration such as '500ms', '30s' or '5m'.");
        return value;
    }

    /// <summary>Nullable form: null passes (the parameter was not given).</summary>
    public static TimeSpan? Duration(TimeSpan? value, string? parameter, bool allowZero = false, TimeSpan? max = null)
        => value is { } v ? Duration(v, parameter, allowZero, max) : null;

    private static string Show(TimeSpan t) => t == TimeSpan.MaxValue ? "TimeSpan.MaxValue" : t == TimeSpan.MinValue ? "TimeSpan.MinValue" : t.ToString("c", CultureInfo.InvariantCulture);

    /// <summary>Throws ValueOutOfRange unless min &lt;= value &lt;= max.</summary>
    public static long Range(long value, string parameter, long min, long max)
    {
        if (value < min || value > max)
            throw ChaosException.InvalidArgument("ValueOutOfRange", $"-{parameter} must be from {min} to {max}; got {value}.", value);
        return value;
    }

    /// <summary>Throws ValueOutOfRange unless the number is finite and min &lt;= value &lt;= max.</summary>
    public static double Range(double value, string parameter, double min, double max)
    {
        if (!double.IsFinite(value) || value < min || value > max)
            throw ChaosException.InvalidArgument("ValueOutOfRange",
                $"-{parameter} must be a number from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}; got {value.ToString(CultureInfo.InvariantCulture)}.", value);
        return value;
    }

    /// <summary>
    /// Parses an absolute http or https URI. With loopbackOnly the host must be 127.0.0.0/8, ::1 or localhost:
    /// ChaosPS sends load and faults only where it is told it may.
    /// </summary>
    public static Uri HttpUri(string? text, string parameter, bool loopbackOnly = false)
    {
        if (string.IsNullOrWhiteSpace(text) || !Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri))
            throw ChaosException.InvalidArgument("InvalidUri", $"-{parameter} '{UriRedaction.Redact(text ?? "")}' is not an absolute URI. Give one such as 'http://127.0.0.1:8080/'.", UriRedaction.Redact(text ?? ""));
        return HttpUri(uri, parameter, loopbackOnly);
    }

    /// <inheritdoc cref="HttpUri(string?, string, bool)"/>
    public static Uri HttpUri(Uri? uri, string parameter, bool loopbackOnly = false)
    {
        // Messages and targets never carry credentials from the URI's user-info.
        var shown = uri is null ? "" : UriRedaction.Redact(uri.ToString());
        if (uri is null || !uri.IsAbsoluteUri || uri.IsFile)
            throw ChaosException.InvalidArgument("InvalidUri", $"-{parameter} '{shown}' is not an absolute URI. Give one such as 'http://127.0.0.1:8080/'.", shown);
        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            throw ChaosException.InvalidArgument("UnsupportedUriScheme", $"-{parameter} '{shown}' uses '{uri.Scheme}'; only http and https are supported.", shown);
        if (string.IsNullOrEmpty(uri.Host))
            throw ChaosException.InvalidArgument("InvalidUri", $"-{parameter} '{shown}' has no host. Give one such as 'http://127.0.0.1:8080/'.", shown);
        if (loopbackOnly && !IsLoopbackHost(uri.Host))
            throw new ChaosException("NonLoopbackTarget", ChaosErrorCategory.SecurityError,
                $"-{parameter} '{shown}' is not on this machine; by default this cmdlet only sends to 127.0.0.0/8, ::1 or localhost. Pass -AllowNonLoopback to aim it at another host.", shown);
        return uri;
    }

    /// <summary>True for localhost, 127.0.0.0/8, ::1 and IPv4-mapped loopback (<see cref="Loopback.IsHost"/>).</summary>
    public static bool IsLoopbackHost(string host) => Loopback.IsHost(host);

    /// <summary>Throws InvalidHttpMethod unless the method is an RFC 9110 token (letters, digits, !#$%&amp;'*+-.^_`|~).</summary>
    public static string HttpMethod(string? method, string parameter = "Method")
    {
        if (string.IsNullOrEmpty(method) || method.Length > 32 || !method.All(IsTokenChar))
            throw ChaosException.InvalidArgument("InvalidHttpMethod",
                $"-{parameter} '{method}' is not an HTTP method; use a token such as GET, POST, PUT, DELETE.", method);
        return method;
    }

    private static bool IsTokenChar(char c) => c < 128 && (char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c));

    /// <summary>Throws InvalidStatusCode unless 100 &lt;= code &lt;= 599.</summary>
    public static int StatusCode(int code, string parameter)
    {
        if (code is < 100 or > 599)
            throw ChaosException.InvalidArgument("InvalidStatusCode", $"-{parameter} {code} is not an HTTP status code (100 to 599).", code);
        return code;
    }

    /// <summary>Throws InvalidWildcard when a PowerShell wildcard pattern cannot be compiled (e.g. '[z-a]').</summary>
    public static void Wildcard(string pattern, string parameter, Func<string, bool> isValid)
    {
        if (!isValid(pattern))
            throw ChaosException.InvalidArgument("InvalidWildcard", $"-{parameter} '{pattern}' is not a valid wildcard pattern.", pattern,
                "Escape [ and ] with a backtick, or use a pattern such as 'web*'.");
    }

    /// <summary>
    /// A name ChaosPS stores and shows (proxies, faults): 1 to 200 characters, no control characters, no '/', '\' or
    /// surrounding blanks, and not only blanks.
    /// </summary>
    public static string Name(string? name, string parameter = "Name", bool allowWildcard = false)
    {
        if (string.IsNullOrWhiteSpace(name) || name.Length > 200 || name != name.Trim()
            || name.Any(c => char.IsControl(c) || c is '/' or '\\' || (!allowWildcard && c is '*' or '?' or '[' or ']')))
            throw ChaosException.InvalidArgument("InvalidName",
                $"-{parameter} '{Clip(name)}' is not a valid name: use 1 to 200 characters without '/', '\\', wildcard characters (*?[] unless looking up), control characters or surrounding blanks.", name);
        return name;
    }

    /// <summary>Parses host:port (IPv6 in brackets) with a port from 1 to 65535 (0 with allowPortZero).</summary>
    public static (string Host, int Port) Endpoint(string? text, string parameter, bool allowPortZero = false)
    {
        var s = text?.Trim() ?? "";
        string host; string portText;
        if (s.StartsWith('['))
        {
            int close = s.IndexOf(']');
            if (close < 0 || close + 1 >= s.Length || s[close + 1] != ':') throw BadEndpoint(text, parameter);
            host = s[1..close]; portText = s[(close + 2)..];
            if (!IPAddress.TryParse(host, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) throw BadEndpoint(text, parameter);
        }
        else
        {
            int colon = s.LastIndexOf(':');
            if (colon <= 0 || s.IndexOf(':') != colon) throw BadEndpoint(text, parameter);
            host = s[..colon]; portText = s[(colon + 1)..];
            if (Uri.CheckHostName(host) is UriHostNameType.Unknown or UriHostNameType.IPv6) throw BadEndpoint(text, parameter);
        }
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535 || (port == 0 && !allowPortZero))
            throw BadEndpoint(text, parameter);
        return (host, port);
    }

    /// <summary>
    /// A TCP endpoint to probe: host:port as <see cref="Endpoint"/> parses it, on this machine unless
    /// <paramref name="allowNonLoopback"/> (NonLoopbackTarget otherwise).
    /// </summary>
    public static (string Host, int Port) ProbeEndpoint(string? text, string parameter, bool allowNonLoopback)
    {
        var endpoint = Endpoint(text, parameter);
        if (!allowNonLoopback && !Loopback.IsHost(endpoint.Host))
            throw new ChaosException("NonLoopbackTarget", ChaosErrorCategory.SecurityError, $"-{parameter} '{text}' is not on this machine; add -AllowNonLoopback to probe it.", text);
        return endpoint;
    }

    private static ChaosException BadEndpoint(string? text, string parameter) => ChaosException.InvalidArgument("InvalidEndpoint",
        $"-{parameter} '{Clip(text)}' is not host:port (a host name or address, IPv6 in brackets, and a port from 1 to 65535).", text,
        "Give an endpoint such as '127.0.0.1:8080' or '[::1]:8080'.");

    private static string Clip(string? s) => s is null ? "" : s.Length > 60 ? s[..60] + "..." : s;

    /// <summary>Throws InvalidContentType unless the text is a media type such as 'application/json; charset=utf-8'.</summary>
    public static string ContentType(string? text, string parameter = "ContentType")
    {
        if (string.IsNullOrWhiteSpace(text) || !System.Net.Http.Headers.MediaTypeHeaderValue.TryParse(text, out var mt) || mt.MediaType is null || !mt.MediaType.Contains('/'))
            throw ChaosException.InvalidArgument("InvalidContentType", $"-{parameter} '{Clip(text)}' is not a media type such as 'application/json'.", text);
        return text;
    }

    /// <summary>
    /// Throws InvalidTarget unless the object names a real target: a process with a ProcessId or a container with a
    /// ContainerId (an object piped in that only looks like a target, e.g. @{Name='x'}, has neither).
    /// </summary>
    public static ChaosPS.Chaos.ChaosTarget Target(ChaosPS.Chaos.ChaosTarget? target, string parameter = "Target")
    {
        bool ok = target is not null && (target.IsContainer ? !string.IsNullOrWhiteSpace(target.ContainerId) : target.ProcessId is > 0);
        if (!ok)
            throw ChaosException.InvalidArgument("InvalidTarget",
                $"-{parameter} '{target?.Name}' is not a target: it has no {(target?.IsContainer == true ? "ContainerId" : "ProcessId")}. Pass the objects Get-ChaosTarget returns.",
                target, "Select targets with Get-ChaosTarget and pipe them in.");
        return target!;
    }

    /// <summary>
    /// A Docker engine endpoint on this machine: unix:///path, npipe://./pipe/name, or tcp/http(s)://host:port with a
    /// loopback host (ChaosPS drives containers on this host; they use host networking).
    /// Throws InvalidDockerEndpoint otherwise.
    /// </summary>
    public static string DockerEndpoint(string? text, string parameter = "DockerEndpoint")
    {
        bool ok = !string.IsNullOrWhiteSpace(text) && text.Length <= 4096 && Uri.TryCreate(text, UriKind.Absolute, out var u) && u.Scheme switch
        {
            "unix" => u.AbsolutePath.Length > 1,
            "npipe" => u.AbsolutePath.Length > 1,
            "tcp" or "http" or "https" => !string.IsNullOrEmpty(u.Host) && u.Port > 0 && IsLoopbackHost(u.Host),
            _ => false,
        };
        if (!ok)
            throw ChaosException.InvalidArgument("InvalidDockerEndpoint",
                $"-{parameter} '{Clip(text)}' is not a Docker endpoint on this machine such as 'unix:///var/run/docker.sock' or 'tcp://127.0.0.1:2375'.", text);
        return text!;
    }

    /// <summary>A container name or id as Docker accepts them ([a-zA-Z0-9][a-zA-Z0-9_.-]*, up to 255, an optional leading '/').</summary>
    public static string Container(string? text, string parameter = "Container")
    {
        var s = text is { Length: > 1 } && text[0] == '/' ? text[1..] : text;
        bool ok = !string.IsNullOrEmpty(s) && s.Length <= 255 && char.IsAsciiLetterOrDigit(s[0]) && s.All(c => char.IsAsciiLetterOrDigit(c) || c is '_' or '.' or '-');
        if (!ok)
            throw ChaosException.InvalidArgument("InvalidContainer", $"-{parameter} '{Clip(text)}' is not a container name or id.", text,
                "Give a name or id as 'docker ps' shows it.");
        return text!;
    }

    /// <summary>A file system path: not blank, at most 4096 characters, no control characters (NUL, line breaks).</summary>
    public static string Path(string? text, string parameter = "Path")
    {
        if (string.IsNullOrWhiteSpace(text) || text.Length > 4096 || text.Any(char.IsControl))
            throw ChaosException.InvalidArgument("InvalidPath", $"-{parameter} '{Clip(text)}' is not a usable path (empty, blank, longer than 4096 characters or with a control character such as a line break).", text);
        return text;
    }
}
