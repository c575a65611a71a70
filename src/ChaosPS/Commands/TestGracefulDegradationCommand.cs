using System.Collections.ObjectModel;
using System.Management.Automation;
using ChaosPS.Stress;

namespace ChaosPS.Commands;

/// <summary>Runs stressors while probe traffic measures a target, and judges the degradation. Its help is module/help/Test-GracefulDegradation.md.</summary>
[Cmdlet(VerbsDiagnostic.Test, "GracefulDegradation", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(DegradationVerdict))]
public sealed class TestGracefulDegradationCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("RouterUri", "Url")]
    public Uri? Uri { get; set; }

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateNotNull]
    public ScriptBlock? Stress { get; set; }

    [Parameter]
    [ValidateSet("GET", "POST", "HEAD", "PUT")]
    public string Method { get; set; } = "GET";

    [Parameter]
    [ValidateNotNull]
    public string? Body { get; set; }

    [Parameter]
    public double Rate { get; set; } = 10;

    [Parameter]
    [DurationTransform]
    public TimeSpan Baseline { get; set; } = TimeSpan.FromSeconds(2);

    [Parameter]
    [ValidateNotNullOrEmpty, ValidateRange(100, 599)]
    public int[] AcceptableStatus { get; set; } = [200, 429, 503, 507];

    [Parameter]
    [ValidateNotNullOrEmpty, ValidateRange(100, 599)]
    public int[] HealthyStatus { get; set; } = [200];

    [Parameter]
    [DurationTransform]
    public TimeSpan HangTimeout { get; set; } = TimeSpan.FromSeconds(5);

    [Parameter]
    [ValidateRange(0, int.MaxValue)]
    public int MaxHangs { get; set; }

    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double MaxErrorRate { get; set; } = 0.05;

    [Parameter]
    [DurationTransform]
    public TimeSpan RecoveryTimeout { get; set; } = TimeSpan.FromSeconds(30);

    [Parameter]
    [ValidateRange(1, 1000)]
    public int RecoveryConsecutive { get; set; } = 3;

    protected override void ProcessRecord()
    {
        var criteria = new DegradationCriteria
        {
            AcceptableStatus = AcceptableStatus, HealthyStatus = HealthyStatus, MaxErrorRate = MaxErrorRate, MaxHangs = MaxHangs,
            RecoveryTimeout = RecoveryTimeout, RecoveryConsecutive = Math.Max(1, RecoveryConsecutive),
        };
        DegradationProbe probe;
        try
        {
            InputRules.Duration(Baseline, nameof(Baseline));
            InputRules.Duration(RecoveryTimeout, nameof(RecoveryTimeout));
        }
        catch (ChaosException e) { ThrowChaosError(e); return; }
        try { probe = new DegradationProbe(new ProbeOptions { Uri = Uri!, Method = Method, Body = Body, Rate = Rate, HangTimeout = HangTimeout }); }
        catch (ChaosException e) { ThrowChaosError(e); return; }
        if (!ShouldProcess(Uri!.ToString(), "Probe while running the stress script")) { probe.DisposeAsync().AsTask().GetAwaiter().GetResult(); return; }
        var startedAt = DateTimeOffset.UtcNow;
        var outputs = new List<object>();
        string? stressError = null;
        TimeSpan? ttr = null;
        try
        {
            probe.Start();
            RunEngine((r, ct) => probe.HoldPhaseAsync(Baseline, r, ct));
            probe.SetPhase("Stress");
            WriteVerbose($"Baseline: {probe.Summarise("Baseline", criteria)}");
            try
            {
                Collection<PSObject> results = Stress!.Invoke();
                foreach (var o in results) if (o is not null) outputs.Add(o.BaseObject);
            }
            catch (RuntimeException e) when (e is not PipelineStoppedException)
            {
                stressError = e.Message;
                WriteWarning($"The stress script failed: {e.Message}");
            }
            probe.SetPhase("Recovery");
            WriteVerbose($"Stress: {probe.Summarise("Stress", criteria)}");
            ttr = RunEngine((r, ct) => probe.WaitRecoveredAsync(criteria, r, ct));
        }
        finally
        {
            probe.StopAsync().GetAwaiter().GetResult();
        }
        var verdict = probe.Judge(criteria, ttr, startedAt);
        verdict.StressResults = outputs.ToArray();
        verdict.StressError = stressError;
        DegradationProbe.ApplyStress(verdict, outputs, stressError);
        verdict.EndedAt = DateTimeOffset.UtcNow;
        probe.DisposeAsync().AsTask().GetAwaiter().GetResult();
        WriteObject(verdict);
        if (!verdict.Passed)
            WriteVerdictError(verdict.Verdict == "Inconclusive" ? "ChaosPS.DegradationInconclusive" : "ChaosPS.NotGraceful",
                $"Test-GracefulDegradation on {verdict.Uri}: {verdict.Verdict}: {string.Join("; ", verdict.Reasons)}", verdict);
    }
}
