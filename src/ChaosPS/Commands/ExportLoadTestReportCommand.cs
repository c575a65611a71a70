using System.Management.Automation;
using System.Text;
using ChaosPS.Load;
using ChaosPS.Load.Reports;

namespace ChaosPS.Commands;

/// <summary>Writes a load test result as JSON (close to k6's summary export), JUnit or NUnit XML (one test case per threshold), an HdrHistogram percentile spectrum (.hgrm) or a self-contained HTML report.</summary>
[Cmdlet(VerbsData.Export, "LoadTestReport", SupportsShouldProcess = true)]
[OutputType(typeof(FileInfo))]
public sealed class ExportLoadTestReportCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, ValueFromPipeline = true)]
    [ValidateNotNull]
    public PSObject? InputObject { get; set; }

    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotBlank, ValidatePathText]
    public string Path { get; set; } = "";

    [Parameter, ValidateSet("Json", "JUnit", "NUnit", "Hgrm", "Html")]
    public string? Format { get; set; }

    [Parameter, ValidateSet(LoadHistograms.Latency, LoadHistograms.Service, LoadHistograms.Ttfb, LoadHistograms.Connect, LoadHistograms.Tls,
        LoadHistograms.Receive, LoadHistograms.FirstEvent, LoadHistograms.InterEvent)]
    public string Histogram { get; set; } = LoadHistograms.Latency;

    [Parameter] public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var format = Format ?? System.IO.Path.GetExtension(Path).ToLowerInvariant() switch
        {
            ".json" => "Json", ".hgrm" => "Hgrm", ".html" or ".htm" => "Html", ".xml" => "JUnit",
            _ => null,
        };
        if (format is null)
            ThrowChaosError(ChaosException.InvalidArgument("InvalidFormat", $"Cannot tell the report format from '{Path}'; give -Format Json|JUnit|NUnit|Hgrm|Html.", Path));
        LoadTestResult result;
        string text;
        try
        {
            result = LoadResultInput.From(InputObject!);
            text = LoadTestReport.Render(result, format!, Histogram);
        }
        catch (ChaosException e) { WriteChaosError(e); return; }
        var full = SessionState.Path.GetUnresolvedProviderPathFromPSPath(Path);
        if (!ShouldProcess(full, $"Write {format} load test report")) return;
        var dir = System.IO.Path.GetDirectoryName(full);
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        File.WriteAllText(full, text, new UTF8Encoding(false));
        if (PassThru) WriteObject(new FileInfo(full));
    }
}
