using System.Management.Automation;
using ChaosPS.Experiments;

namespace ChaosPS.Commands;

/// <summary>Lists the experiments shipped with ChaosPS (the module's experiments folder): name, tags, what each shows, path.</summary>
[Cmdlet(VerbsCommon.Get, "ChaosExperiment")]
[OutputType(typeof(ExperimentInfo))]
public sealed class GetChaosExperimentCommand : ChaosCmdlet
{
    /// <summary>Experiment names (file names without extension; wildcards allowed).</summary>
    [Parameter(Position = 0)]
    [SupportsWildcards]
    public string[]? Name { get; set; }

    /// <summary>Only experiments with one of these tags.</summary>
    [Parameter]
    public string[]? Tag { get; set; }

    protected override void EndProcessing()
    {
        string dir = System.IO.Path.Combine(MyInvocation.MyCommand.Module?.ModuleBase ?? "", "experiments");
        foreach (var info in ExperimentInfo.List(dir, f => ExperimentInput.ReadFile(this, f).Doc))
        {
            if (Name is { Length: > 0 } && !Name.Any(n => WildcardPattern.Get(n, WildcardOptions.IgnoreCase).IsMatch(info.Name))) continue;
            if (Tag is { Length: > 0 } && !info.Tags.Any(t => Tag.Contains(t, StringComparer.OrdinalIgnoreCase))) continue;
            WriteObject(info);
        }
    }
}
