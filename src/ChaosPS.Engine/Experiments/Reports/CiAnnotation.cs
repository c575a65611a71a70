namespace ChaosPS.Experiments.Reports;

/// <summary>
/// Annotations for CI logs: Azure DevOps logging commands (<c>##vso[task.logissue ...]</c>) when TF_BUILD is set,
/// GitHub Actions workflow commands (<c>::error ...::</c>) when GITHUB_ACTIONS is true. Each is one line on stdout,
/// escaped so that a message with newlines, ']' or ';' cannot end the command early or start another one.
/// </summary>
public static class CiAnnotation
{
    public const string AzureDevOps = "AzureDevOps", GitHubActions = "GitHubActions";

    /// <summary>The CI this process runs under (from its environment), or null; null too when CHAOSPS_ANNOTATIONS is "off".</summary>
    public static string? Detect(Func<string, string?>? env = null)
    {
        env ??= Environment.GetEnvironmentVariable;
        // CHAOSPS_ANNOTATIONS=off silences them (e.g. when Pester's own CI output already reports each failure).
        if (string.Equals(env("CHAOSPS_ANNOTATIONS"), "off", StringComparison.OrdinalIgnoreCase)) return null;
        if (!string.IsNullOrEmpty(env("TF_BUILD"))) return AzureDevOps;
        if (string.Equals(env("GITHUB_ACTIONS"), "true", StringComparison.OrdinalIgnoreCase)) return GitHubActions;
        return null;
    }

    /// <summary>One annotation line. <paramref name="type"/>: error or warning.</summary>
    public static string Format(string provider, string type, string message, string? title = null, string? file = null)
    {
        type = type.ToLowerInvariant() is "warning" ? "warning" : "error";
        message = Redactor.RedactText(message ?? "");
        if (string.Equals(provider, AzureDevOps, StringComparison.OrdinalIgnoreCase))
        {
            var props = $"type={type}";
            if (!string.IsNullOrEmpty(file)) props += $";sourcepath={AdoProperty(file)}";
            var text = string.IsNullOrEmpty(title) ? message : $"{title}: {message}";
            return $"##vso[task.logissue {props}]{AdoData(text)}";
        }
        if (string.Equals(provider, GitHubActions, StringComparison.OrdinalIgnoreCase))
        {
            var props = new List<string>();
            if (!string.IsNullOrEmpty(file)) props.Add($"file={GhProperty(file)}");
            if (!string.IsNullOrEmpty(title)) props.Add($"title={GhProperty(title)}");
            return $"::{type}{(props.Count > 0 ? " " + string.Join(",", props) : "")}::{GhData(message)}";
        }
        throw ChaosException.InvalidArgument("InvalidCiProvider", $"Unknown CI provider '{provider}'. Use AzureDevOps or GitHubActions.", provider);
    }

    /// <summary>One error line per case that is not a pass (Failed, Error, Inconclusive) of a journal.</summary>
    public static IEnumerable<string> ForJournal(JournalDocument journal, string provider)
    {
        foreach (var c in JournalTestCase.From(journal))
            if (c.Result is "Failed" or "Error" or "Inconclusive")
                yield return Format(provider, "error", $"{c.Suite}: {c.Name}: {(c.Result == "Inconclusive" ? "inconclusive: " : "")}{c.Message}",
                    $"ChaosPS experiment '{journal.Title}'");
    }

    // Azure DevOps: the agent unescapes %AZP25, %0D, %0A, and in properties also %5D and %3B.
    private static string AdoData(string s) => s.Replace("%", "%AZP25").Replace("\r", "%0D").Replace("\n", "%0A");
    private static string AdoProperty(string s) => AdoData(s).Replace("]", "%5D").Replace(";", "%3B");

    // GitHub Actions: %25, %0D, %0A in the message; also %3A and %2C in properties.
    private static string GhData(string s) => s.Replace("%", "%25").Replace("\r", "%0D").Replace("\n", "%0A");
    private static string GhProperty(string s) => GhData(s).Replace(":", "%3A").Replace(",", "%2C");
}
