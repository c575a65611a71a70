using System.Management.Automation;
using ChaosPS.Experiments.Reports;

namespace ChaosPS.Commands;

/// <summary>Writes a CI annotation. Its help is module/help/Write-ChaosAnnotation.md.</summary>
[Cmdlet(VerbsCommunications.Write, "ChaosAnnotation", DefaultParameterSetName = "Message")]
[OutputType(typeof(string))]
public sealed class WriteChaosAnnotationCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ParameterSetName = "Message")]
    [ValidateNotBlank]
    public string Message { get; set; } = "";

    [Parameter(Mandatory = true, ParameterSetName = "Journal")]
    public PSObject? Journal { get; set; }

    [Parameter, ValidateSet("Error", "Warning")]
    public string Type { get; set; } = "Error";

    [Parameter(ParameterSetName = "Message"), ValidateNotBlank] public string? Title { get; set; }

    [Parameter(ParameterSetName = "Message"), ValidateNotBlank] public string? File { get; set; }

    [Parameter, ValidateSet("Auto", "AzureDevOps", "GitHubActions")]
    public string Provider { get; set; } = "Auto";

    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        // The journal is read first, so a bad one is an error on any machine, not only under CI.
        JournalDocument? journal = null;
        if (ParameterSetName == "Journal")
        {
            try { journal = JournalInput.From(Journal, this); }
            catch (ChaosException e) { WriteChaosError(e); return; }
        }
        var provider = Provider == "Auto" ? CiAnnotation.Detect() : Provider;
        if (provider is null)
        {
            WriteVerbose("Not under Azure DevOps (TF_BUILD) or GitHub Actions (GITHUB_ACTIONS): no annotation written.");
            return;
        }
        IEnumerable<string> lines = journal is not null
            ? CiAnnotation.ForJournal(journal, provider).ToList()
            : [CiAnnotation.Format(provider, Type, Message, Title, File)];
        foreach (var line in lines)
        {
            ExportChaosExperimentReportCommand.WriteAnnotation(this, line);
            if (PassThru) WriteObject(line);
        }
    }
}
