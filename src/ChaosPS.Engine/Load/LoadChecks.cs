namespace ChaosPS.Load;

/// <summary>
/// The -Check rules run on every finished response (Status, Contains, Regex, JsonPath == expected), counted per check
/// and in total. Safe to call from the engines' threads at once.
/// </summary>
internal sealed class LoadChecks
{
    private readonly IReadOnlyList<LoadCheck> _checks;
    private readonly bool[] _ok;
    private readonly long[,] _counts;
    internal long Passed, Failed;

    /// <param name="checks">The checks, in order.</param>
    /// <param name="okStatuses">Which status codes (0..599) are a success, for the Status check.</param>
    public LoadChecks(IReadOnlyList<LoadCheck> checks, bool[] okStatuses)
    {
        _checks = checks;
        _ok = okStatuses;
        _counts = new long[checks.Count, 2];
    }

    public int Count => _checks.Count;

    /// <summary>Some check reads the body, so the engines must keep it (otherwise the parser only counts it).</summary>
    public bool NeedsBody => _checks.Any(c => c.NeedsBody);

    public void Run(int status, Http1ResponseParser body)
    {
        string? text = null;
        for (int i = 0; i < _checks.Count; i++)
        {
            var c = _checks[i];
            bool pass;
            switch (c.Kind)
            {
                case "Status": pass = _ok[status]; break;
                case "Contains": pass = body.Body.AsSpan(0, body.BodyLength).IndexOf(c.Needle) >= 0; break;
                case "Regex": pass = c.Regex!.IsMatch(text ??= body.BodyText()); break;
                case "JsonPath":
                    try
                    {
                        var tok = Newtonsoft.Json.Linq.JToken.Parse(text ??= body.BodyText()).SelectToken(c.JsonPath!);
                        var actual = tok is null ? null : tok.Type == Newtonsoft.Json.Linq.JTokenType.String ? (string?)tok : tok.ToString(Newtonsoft.Json.Formatting.None);
                        pass = string.Equals(actual, c.Expected, StringComparison.Ordinal)
                               || (tok is Newtonsoft.Json.Linq.JValue { Type: Newtonsoft.Json.Linq.JTokenType.Boolean } && string.Equals(actual, c.Expected, StringComparison.OrdinalIgnoreCase));
                    }
                    catch (Newtonsoft.Json.JsonException) { pass = false; }
                    break;
                default: pass = false; break;
            }
            Interlocked.Increment(ref _counts[i, pass ? 0 : 1]);
            Interlocked.Increment(ref pass ? ref Passed : ref Failed);
        }
    }

    /// <summary>Passes and fails, in total and per check name, into <paramref name="s"/>.</summary>
    public void CopyCountersTo(LoadStats s)
    {
        s.ChecksPassed = Passed; s.ChecksFailed = Failed;
        for (int i = 0; i < _checks.Count; i++) s.CheckCounts[_checks[i].Name] = [_counts[i, 0], _counts[i, 1]];
    }
}
