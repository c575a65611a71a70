using System.Management.Automation;
using ChaosPS.Experiments;

namespace ChaosPS.Commands;

/// <summary>
/// Checks experiment files without running anything: JSON/psd1 syntax, required fields, providers and their fields,
/// ChaosPS cmdlet names and parameters, tolerances, strategies and ${variables}. Writes $true or $false per file, and
/// one error per problem naming the file, the JSON path of the bad field and what is expected.
/// </summary>
[Cmdlet(VerbsDiagnostic.Test, "ChaosExperiment")]
[OutputType(typeof(bool))]
public sealed class TestChaosExperimentCommand : ChaosCmdlet
{
    /// <summary>Experiment files (.json or .psd1).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    public string[] Path { get; set; } = [];

    /// <summary>Configuration values, as Invoke-ChaosExperiment would get them.</summary>
    [Parameter]
    public System.Collections.Hashtable? Configuration { get; set; }

    /// <summary>
    /// Named hosts: a hashtable of name = open PSSession (New-PSSession -HostName ...). An activity of the chaosps or
    /// powershell provider that says host = 'name' runs on that host through its session (ChaosPS of this version must be
    /// there; its faults stay in that host's ledger); a chaosps Start-LoadTest activity with sessions = @('a', 'b') splits
    /// its load over those hosts. An activity naming a host not given here is refused before anything runs
    /// (ChaosPS.UnknownExperimentHost).
    /// </summary>
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
