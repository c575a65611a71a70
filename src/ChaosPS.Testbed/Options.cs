namespace ChaosPS.Testbed;

/// <summary>Command-line options: `--name value` pairs and `--flag` switches.</summary>
public sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.OrdinalIgnoreCase);

    public Options(IEnumerable<string> args)
    {
        string? key = null;
        foreach (var a in args)
        {
            if (a.StartsWith("--", StringComparison.Ordinal))
            {
                if (key is not null) _values[key] = "true";
                key = a[2..];
            }
            else if (key is not null) { _values[key] = a; key = null; }
            else throw new ArgumentException($"unexpected argument '{a}'");
        }
        if (key is not null) _values[key] = "true";
    }

    public string? Get(string name) => _values.TryGetValue(name, out var v) ? v : null;
    public string Require(string name) => Get(name) ?? throw new ArgumentException($"--{name} is required");
    public int Int(string name, int fallback) => Get(name) is { } v ? int.Parse(v) : fallback;
    public bool Flag(string name) => Get(name) is "true" or "1";
}
