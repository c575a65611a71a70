using System.Management.Automation;
using ChaosPS.Experiments;

namespace ChaosPS.Commands;

/// <summary>Checks experiment files without running anything. Its help is module/help/Test-ChaosExperiment.md.</summary>
[Cmdlet(VerbsDiagnostic.Test, "ChaosExperiment")]
[OutputType(typeof(bool))]
public sealed class TestChaosExperimentCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    public string[] Path { get; set; } = [];

    [Parameter]
    public System.Collections.Hashtable? Configuration { get; set; }

    [Parameter]
    public System.Collections.Hashtable? Session { get; set; }

    protected override void ProcessRecord()
    {
        var module = MyInvocation.MyCommand.Module;
        string modulePath = module is null ? "" : System.IO.Path.Combine(module.ModuleBase, "ChaosPS.psd1");
        using var host = new PowerShellHost(modulePath, SessionState.Path.CurrentFileSystemLocation.ProviderPath, Sessions());
        var providers = ExperimentInput.Providers(this, host);
        foreach (var p in Path)
        {
            string file;
            try { file = GetUnresolvedProviderPathFromPSPath(p); }
            catch (Exception e) when (e is not PipelineStoppedException) { file = p ?? ""; }
            try
            {
                var (doc, format) = ExperimentInput.ReadFile(this, file);
                ExperimentLoader.Prepare(doc, file, format, providers, ExperimentInput.Overrides(Configuration));
                WriteObject(true);
            }
            catch (ExperimentException e)
            {
                foreach (var i in e.Issues) WriteError(ExperimentInput.ToErrorRecord(e, i));
                WriteObject(false);
            }
        }
    }

    private Dictionary<string, System.Management.Automation.Runspaces.PSSession> Sessions()
    {
        try { return ExperimentInput.Sessions(Session); }
        catch (ChaosException e) { ThrowChaosError(e); throw; }
    }
}
