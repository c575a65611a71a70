
namespace ChaosPS.Network;

/// <summary>
/// The HTTP toxics' shared rules: validation of their method and path, and which requests they match. (What each
/// toxic does to a request it hits is in its own file in Toxics/.)
/// </summary>
public static class HttpRules
{
    /// <summary>The string attributes every HTTP toxic has: which requests it matches.</summary>
    public static readonly IReadOnlyList<string> MatchAttributes = ["method", "path"];

    /// <summary>Checks an HTTP toxic's method and path; a bad value is a 400 with a specific id, and nothing changes.
    /// (Each HTTP toxic's own attributes are checked by its definition in Toxics/.)</summary>
    public static void ValidateMatch(IReadOnlyDictionary<string, string>? strings)
    {
        if (strings is null) return;
        if (strings.TryGetValue("method", out var m) && !IsMethodList(m))
            throw ProxyException.BadRequest($"attribute method must be an HTTP method or a comma-separated list of them, got '{m}'", "InvalidHttpMethod",
                $"'{m}' is not an HTTP method (e.g. GET, or GET,HEAD; empty or * matches every method).", m);
        if (strings.TryGetValue("path", out var p) && !IsPathPattern(p))
            throw ProxyException.BadRequest($"attribute path must be empty, *, or start with / (no spaces, ? or #), got '{p}'", "InvalidPathPattern",
                $"'{p}' is not a path pattern: use a prefix such as /api/ or a wildcard such as /api/*/items (* matches any characters, / included); the query string is not matched.", p);
    }

    private static bool IsToken(ReadOnlySpan<char> s)
    {
        if (s.IsEmpty) return false;
        foreach (var c in s)
            if (c <= ' ' || c >= 127 || "()<>@,;:\\\"/[]?={}".Contains(c)) return false;
        return true;
    }

    internal static bool IsMethodList(string m)
    {
        if (m.Length == 0 || m == "*") return true;
        foreach (var part in m.Split(','))
            if (!IsToken(part.AsSpan().Trim())) return false;
        return true;
    }

    internal static bool IsPathPattern(string p)
    {
        if (p.Length == 0 || p == "*") return true;
        if (p[0] != '/') return false;
        foreach (var c in p)
            if (c <= ' ' || c >= 127 || c is '?' or '#') return false;
        return true;
    }

    /// <summary>Whether a method matches a toxic's method list (empty or * = any; case-sensitive, as methods are).</summary>
    public static bool MethodMatches(string pattern, string method)
    {
        if (pattern.Length == 0 || pattern == "*") return true;
        foreach (var part in pattern.Split(','))
            if (part.AsSpan().Trim().SequenceEqual(method)) return true;
        return false;
    }

    /// <summary>
    /// Whether a request path (query excluded) matches a pattern: empty or * matches all; a pattern with * is a
    /// wildcard over the whole path (* matches any run of characters, / included); otherwise it is a prefix.
    /// </summary>
    public static bool PathMatches(string pattern, string path)
    {
        if (pattern.Length == 0 || pattern == "*") return true;
        if (!pattern.Contains('*')) return path.StartsWith(pattern, StringComparison.Ordinal);
        return Glob(pattern, path);
    }

    private static bool Glob(string p, string s)
    {
        // Iterative wildcard match with backtracking to the last star (linear in practice, no recursion).
        int pi = 0, si = 0, star = -1, mark = 0;
        while (si < s.Length)
        {
            if (pi < p.Length && p[pi] == '*') { star = pi++; mark = si; }
            else if (pi < p.Length && p[pi] == s[si]) { pi++; si++; }
            else if (star >= 0) { pi = star + 1; si = ++mark; }
            else return false;
        }
        while (pi < p.Length && p[pi] == '*') pi++;
        return pi == p.Length;
    }
}

/// <summary>
/// Picks the requests an HTTP toxic hits so that the share is exact in aggregate and still well mixed: randomized error
/// diffusion. Each matching request adds the share p to a credit; a credit of 1 or more is always a hit, a credit in
/// (0, 1) is a hit with that probability, and a hit takes 1 off. The credit stays within (-1, 1 + p), so after n
/// requests the hits are p·n within less than 2, at any point and under any concurrency, while which requests are hit
/// stays random (no fixed period a client's own pattern could line up with).
/// </summary>
internal sealed class RequestSelector
{
    private readonly object _lock = new();
    private double _credit;
    private long _matched;

    public long Matched => Interlocked.Read(ref _matched);

    public bool Next(double share)
    {
        lock (_lock)
        {
            _matched++;
            if (share >= 1) return true;
            if (!(share > 0)) return false;
            _credit += share;
            bool hit = _credit >= 1 || (_credit > 0 && Random.Shared.NextDouble() < _credit);
            if (hit) _credit -= 1;
            return hit;
        }
    }
}

/// <summary>An HTTP toxic as the request stages see it: the live spec (counters), a settled copy (settings), its
/// behaviour from the registry, and its method list and path pattern taken apart once.</summary>
internal sealed class HttpRule(ToxicSpec live, ToxicSpec settings)
{
    public ToxicSpec Live { get; } = live;
    public ToxicSpec Settings { get; } = settings;
    public IHttpToxic Behaviour { get; } = ToxicRegistry.Find(settings.Type)?.HttpBehaviour
        ?? throw new InvalidOperationException($"'{settings.Type}' is not an HTTP toxic");
    private readonly string[]? _methods = settings.StringAttr("method") is "" or "*" ? null
        : settings.StringAttr("method").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
    private readonly string _path = settings.StringAttr("path");

    public bool Matches(string method, string path)
        => (_methods is null || Array.IndexOf(_methods, method) >= 0) && HttpRules.PathMatches(_path, path);
}
