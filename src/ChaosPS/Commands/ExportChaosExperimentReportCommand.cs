using System.Management.Automation;
using System.Text;
using ChaosPS.Experiments.Reports;

namespace ChaosPS.Commands;

/// <summary>Writes experiment journals as JSON, JUnit or NUnit XML, or HTML. Its help is module/help/Export-ChaosExperimentReport.md.</summary>
[Cmdlet(VerbsData.Export, "ChaosExperimentReport", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class ExportChaosExperimentReportCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    public PSObject? InputObject { get; set; }

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    [Parameter, ValidateSet("Json", "JUnit", "NUnit", "Html")]
    public string? Format { get; set; }

    [Parameter] public SwitchParameter PassThru { get; set; }

    [Parameter] public SwitchParameter NoAnnotation { get; set; }

    private readonly List<JournalDocument> _journals = [];
    private string _format = "";

    protected override void BeginProcessing()
    {
        var format = Format ?? JournalReport.FormatFromPath(Path);
        if (format is null)
            ThrowChaosError(ChaosException.InvalidArgument("InvalidFormat", $"Cannot tell the report format from '{Path}'; give -Format Json|JUnit|NUnit|Html.", Path,
                "Use -Format, or a path ending in .json, .xml (JUnit) or .html."));
        _format = format!;
    }

    protected override void ProcessRecord()
    {
        foreach (var item in JournalInput.Items(InputObject))
        {
            try { _journals.Add(JournalInput.From(item, this)); }
            catch (ChaosException e) { WriteChaosError(e); }
        }
    }

    protected override void EndProcessing()
    {
        if (_journals.Count == 0) return;
        if (_journals.Count > 1 && _format is "Json" or "Html")
            ThrowChaosError(ChaosException.InvalidArgument("OneJournalPerFile",
                $"{_journals.Count} journals were given, but a {_format} report holds one; JUnit and NUnit reports hold several.", Path,
                "Export each journal to its own file (ForEach-Object), or use -Format JUnit or NUnit."));
        string text = _format switch
        {
            "JUnit" => JournalReport.ToJUnit(_journals),
            "NUnit" => JournalReport.ToNUnit(_journals),
            _ => JournalReport.Render(_journals[0], _format),
        };
        var full = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess(full, $"Write {_format} experiment report ({_journals.Count} journal{(_journals.Count == 1 ? "" : "s")})")) return;
        var dir = System.IO.Path.GetDirectoryName(full);
        try
        {
            if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
            File.WriteAllText(full, text, new UTF8Encoding(false));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            ThrowChaosError(new ChaosException("ReportNotWritable", ChaosErrorCategory.WriteError, $"Cannot write the report '{full}': {e.Message}", full));
        }
        if (!NoAnnotation && CiAnnotation.Detect() is { } provider)
            foreach (var j in _journals)
                foreach (var line in CiAnnotation.ForJournal(j, provider))
                    WriteAnnotation(this, line);
        if (PassThru) WriteObject(new FileInfo(full));
    }

    /// <summary>An annotation line goes where Write-Host goes: the console, and stdout in a CI job.</summary>
    internal static void WriteAnnotation(Cmdlet cmdlet, string line) =>
        cmdlet.WriteInformation(new InformationRecord(new HostInformationMessage { Message = line, NoNewLine = false }, "ChaosPS") { Tags = { "PSHOST" } });
}
