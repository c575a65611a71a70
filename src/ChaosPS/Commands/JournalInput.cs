using System.Collections;
using System.Management.Automation;
using ChaosPS.Experiments.Reports;

namespace ChaosPS.Commands;

/// <summary>
/// Turns what a user pipes into an experiment journal: a path to a journal file (string or FileInfo), the journal's
/// JSON text, or any object with a ToJson() method (the live journal Invoke-ChaosExperiment returns) or a JournalPath
/// property (the same object after Export-Clixml, a job or remoting).
/// </summary>
internal static class JournalInput
{
    /// <summary>An array given to -InputObject (not piped) is its items; anything else is itself.</summary>
    public static IEnumerable<object?> Items(PSObject? input)
    {
        if (input?.BaseObject is IEnumerable e and not string and not IDictionary)
        {
            foreach (var x in e) yield return x;
        }
        else yield return input;
    }

    public static JournalDocument From(object? input, PSCmdlet cmdlet)
    {
        var pso = input as PSObject;
        var value = pso?.BaseObject ?? input;
        switch (value)
        {
            case null:
                throw NotAJournal(input, "nothing");
            case string s when s.TrimStart().StartsWith('{'):
                return JournalDocument.Parse(s);
            case string s when !string.IsNullOrWhiteSpace(s):
                return JournalDocument.Load(Resolve(s, cmdlet));
            case FileInfo f:
                return JournalDocument.Load(f.FullName);
            case JournalDocument j:
                return j;
            case IDictionary:
                throw NotAJournal(input, "a hashtable");
        }
        pso ??= PSObject.AsPSObject(value);
        var toJson = pso.Methods["ToJson"];
        if (toJson is not null)
        {
            object? text;
            try { text = toJson.Invoke(); }
            catch (MethodInvocationException e) when (e.InnerException is ChaosException ce) { throw ce; }
            catch (MethodException e)
            {
                throw new ChaosException("InvalidJournal", ChaosErrorCategory.InvalidData, $"The journal object's ToJson() failed: {e.Message}", input, null, e);
            }
            if (text is PSObject tp) text = tp.BaseObject;
            if (text is string json && !string.IsNullOrWhiteSpace(json)) return JournalDocument.Parse(json, PathOf(pso));
        }
        if (PathOf(pso) is { } path) return JournalDocument.Load(Resolve(path, cmdlet));
        throw NotAJournal(input, $"a {value.GetType().Name} without a ToJson() method or a JournalPath property");
    }

    private static string? PathOf(PSObject pso)
    {
        var v = pso.Properties["JournalPath"]?.Value;
        if (v is PSObject p) v = p.BaseObject;
        return v is string s && s.Length > 0 ? s : v?.ToString() is { Length: > 0 } t ? t : null;
    }

    private static string Resolve(string path, PSCmdlet cmdlet)
    {
        try { return cmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath(path); }
        catch (Exception e) when (e is ItemNotFoundException or System.Management.Automation.DriveNotFoundException or ProviderNotFoundException or NotSupportedException or PSArgumentException)
        {
            throw new ChaosException("JournalNotReadable", ChaosErrorCategory.ObjectNotFound, $"Cannot find the experiment journal '{path}': {e.Message}", path);
        }
    }

    private static ChaosException NotAJournal(object? input, string what) => new("NotAJournal", ChaosErrorCategory.InvalidArgument,
        $"The input is not an experiment journal (it is {what}).", input,
        "Pipe the journal Invoke-ChaosExperiment returned, give the path of its journal file, or its JSON text.");
}
