using System.Management.Automation;
using ChaosPS.Experiments;

namespace ChaosPS.Commands;

/// <summary>Lists the experiments shipped with ChaosPS (the module's experiments folder): name, tags, what each shows, path.</summary>
[Cmdlet(VerbsCommon.Get, "ChaosExperiment")]
[OutputType(typeof(ExperimentInfo))]
public sealed class GetChaosExperimentCommand : ChaosCmdlet
{
    [Parameter(Position = 0)]
    [SupportsWildcards, ValidateNotBlank]
    public string[]? Name { get; set; }

    [Parameter]
    [SupportsWildcards, ValidateNotBlank]
    public string[]? Tag { get; set; }

    protected override void EndProcessing()
    {
        string dir = System.IO.Path.Combine(MyInvocation.MyCommand.Module?.ModuleBase ?? "", "experiments");
        var names = Patterns(Name, "Name");
        var tags = Patterns(Tag, "Tag");
        foreach (var info in ExperimentInfo.List(dir, f => ExperimentInput.ReadFile(this, f).Doc))
        {
            if (names.Count > 0 && !names.Any(w => w.IsMatch(info.Name))) continue;
            if (tags.Count > 0 && !info.Tags.Any(t => tags.Any(w => w.IsMatch(t)))) continue;
            WriteObject(info);
        }
    }

    private List<WildcardPattern> Patterns(string[]? values, string parameter)
    {
        var patterns = new List<WildcardPattern>();
        foreach (var n in values ?? [])
        {
            if (!WildcardPattern.ContainsWildcardCharacters(n)) { patterns.Add(new WildcardPattern(WildcardPattern.Escape(n), WildcardOptions.IgnoreCase)); continue; }
            try { var w = new WildcardPattern(n, WildcardOptions.IgnoreCase); w.IsMatch(""); patterns.Add(w); }
            catch (WildcardPatternException e) { ThrowChaosError(ChaosException.InvalidArgument("InvalidWildcard", $"-{parameter} '{n}' is not a valid wildcard pattern: {e.Message}", n)); }
        }
        return patterns;
    }
}
