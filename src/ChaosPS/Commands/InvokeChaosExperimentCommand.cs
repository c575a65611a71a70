using System.Collections;
using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Runtime.InteropServices;
using ChaosPS.Experiments;
using ChaosPS.Faults;

namespace ChaosPS.Commands;

/// <summary>
/// Runs chaos experiments (Chaos Toolkit's format, from .json or .psd1 files or hashtables) against a system and
/// writes one journal per experiment with an honest verdict. Rollbacks always play (also on failure and Ctrl+C/SIGTERM),
/// and faults left in the ledger by the run are restored. A run that is not Passed also writes an error record
/// (ChaosPS.ExperimentFailed, ChaosPS.ExperimentDeviated, ChaosPS.ExperimentInconclusive, ChaosPS.ExperimentAborted)
/// whose TargetObject is the journal, so $? and -ErrorAction Stop see it.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "ChaosExperiment", DefaultParameterSetName = "Path", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(ExperimentJournal))]
public sealed class InvokeChaosExperimentCommand : ChaosCmdlet
{
    /// <summary>Experiment files (.json in Chaos Toolkit's format, or .psd1 with the same keys); several run in order as a suite.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Path", ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "PSPath")]
    public string[] Path { get; set; } = [];

    /// <summary>Experiments as hashtables (the same keys as the JSON; 'steady-state-hypothesis' quoted).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Experiment", ValueFromPipeline = true)]
    public Hashtable[] Experiment { get; set; } = [];

    /// <summary>Configuration values that replace the experiments' own (and their environment variables).</summary>
    [Parameter]
    public Hashtable? Configuration { get; set; }

    /// <summary>
    /// The embedded testbed (from Start-ChaosTestbed) to aim at: sets the configuration values target_url (its
    /// router, no trailing slash), target_address (its router as host:port), workers (a Get-ChaosTarget selector of its
    /// worker processes), worker_url (its first worker, no trailing slash) and data_path (that worker's data folder)
    /// unless -Configuration gives them.
    /// </summary>
    [Parameter]
    public ChaosPS.Testbed.ChaosTestbed? Target { get; set; }

    /// <summary>
    /// Multiplies pauses, the durations of chaosps activities (Duration, Interval, HoldFor, RampUp, RampDown, ThinkTime,
    /// Baseline, each Start-LoadTest -Stage), recovery windows (a "recovered" tolerance's within with Wait-ChaosRecovery
    /// -Timeout) and the timeouts of activities whose work is scaled; request timeouts and thresholds stay (ExperimentScale).
    /// </summary>
    [Parameter]
    [ValidateRange(0.001, 1000.0)]
    public double Scale { get; set; } = 1.0;

    /// <summary>
    /// Named hosts: a hashtable of name = open PSSession (New-PSSession -HostName ...). An activity of the chaosps or
    /// powershell provider that says host = 'name' runs on that host through its session (ChaosPS of this version must be
    /// there; its faults stay in that host's ledger); a chaosps Start-LoadTest activity with sessions = @('a', 'b') splits
    /// its load over those hosts. An activity naming a host not given here is refused before anything runs
    /// (ChaosPS.UnknownExperimentHost).
    /// </summary>
    [Parameter]
    public System.Collections.Hashtable? Session { get; set; }

    /// <summary>The journal file (one experiment) or folder (one file per experiment). Default: ./chaosps-journals/&lt;title&gt;-&lt;UTC time&gt;.json.</summary>
    [Parameter]
    public string? JournalPath { get; set; }

    /// <summary>Overrides the experiments' runtime.hypothesis.strategy.</summary>
    [Parameter]
    [ValidateSet("default", "before-method-only", "after-method-only", "during-method-only", "continuously")]
    public string? HypothesisStrategy { get; set; }

    /// <summary>Overrides runtime.rollbacks.strategy. ChaosPS's default is always (Chaos Toolkit's own default skips rollbacks of failed and interrupted runs).</summary>
    [Parameter]
    [ValidateSet("always", "deviated", "never")]
    public string? RollbackStrategy { get; set; }

    private readonly List<(JsonSource Source, System.Text.Json.Nodes.JsonObject Doc, string Format)> _inputs = [];
    private readonly record struct JsonSource(string Name);

    protected override void ProcessRecord()
    {
        if (ParameterSetName == "Experiment")
        {
            foreach (var h in Experiment)
            {
                if (ExperimentInput.ToNode(h) is System.Text.Json.Nodes.JsonObject o) _inputs.Add((new JsonSource("(hashtable)"), o, "hashtable"));
            }
            return;
        }
        foreach (var p in Path)
        {
            Collection<string> resolved;
            try { resolved = GetResolvedProviderPathFromPSPath(p, out _); }
            catch (Exception e) when (e is not PipelineStoppedException)
            {
                WriteError(ChaosCmdlet.ToErrorRecord(new ChaosException(ExperimentException.Ids.NotFound, ChaosErrorCategory.ObjectNotFound,
                    $"{p}: $: the file does not exist", p, "Check the path (Get-ChaosExperiment lists the experiments shipped with ChaosPS).")));
                _failedInput = true;
                continue;
            }
            foreach (var file in resolved)
            {
                try
                {
                    var (doc, format) = ExperimentInput.ReadFile(this, file);
                    _inputs.Add((new JsonSource(file), doc, format));
                }
                catch (ExperimentException e) { foreach (var i in e.Issues) WriteError(ExperimentInput.ToErrorRecord(e, i)); _failedInput = true; }
            }
        }
    }

    private bool _failedInput;

    protected override void BeginProcessing()
    {
        if (JournalPath is null) return;
        string? why = null;
        try
        {
            _ = SessionState.Path.GetUnresolvedProviderPathFromPSPath(JournalPath, out var provider, out _);
            if (provider.Name != "FileSystem") why = $"it is on the {provider.Name} provider";
        }
        catch (Exception e) when (e is not PipelineStoppedException) { why = e.Message; }
        if (why is not null)
            ThrowChaosError(ChaosException.InvalidArgument("ChaosPS.InvalidJournalPath", $"-JournalPath '{JournalPath}' is not a file-system path: {why}", JournalPath,
                "Give a .json file (one experiment) or a folder.")); 
    }

    protected override void EndProcessing()
    {
        if (_inputs.Count == 0) return;
        var module = MyInvocation.MyCommand.Module;
        string modulePath = module is null ? typeof(InvokeChaosExperimentCommand).Assembly.Location : System.IO.Path.Combine(module.ModuleBase, "ChaosPS.psd1");
        using var host = new PowerShellHost(modulePath, SessionState.Path.CurrentFileSystemLocation.ProviderPath, Sessions());
        var providers = ExperimentInput.Providers(this, host);
        var runner = new ExperimentRunner(providers);
        var overrides = ExperimentInput.Overrides(Configuration) ?? [];
        if (Target is not null)
        {
            overrides.TryAdd("target_url", System.Text.Json.Nodes.JsonValue.Create(Target.RouterUri.ToString().TrimEnd('/')));
            overrides.TryAdd("target_address", System.Text.Json.Nodes.JsonValue.Create($"{Target.RouterUri.Host}:{Target.RouterPort}"));
            // Workers keep their ports (processes) and labels (containers) across restarts, so the selector still holds after a crash.
            overrides.TryAdd("workers", Target.Runtime == "Docker"
                ? new System.Text.Json.Nodes.JsonObject { ["label"] = new System.Text.Json.Nodes.JsonArray($"chaosps.testbed={Target.Id}", "chaosps.worker") }
                : new System.Text.Json.Nodes.JsonObject { ["port"] = new System.Text.Json.Nodes.JsonArray(Target.Workers.Select(w => (System.Text.Json.Nodes.JsonNode?)System.Text.Json.Nodes.JsonValue.Create(w.Port)).ToArray()) });
            // One worker probed directly, and its data folder (the disk-full experiment fills the filesystem under it).
            if (Target.Workers.FirstOrDefault() is { } first)
            {
                overrides.TryAdd("worker_url", System.Text.Json.Nodes.JsonValue.Create(first.Uri.ToString().TrimEnd('/')));
                if (!string.IsNullOrEmpty(first.DataPath)) overrides.TryAdd("data_path", System.Text.Json.Nodes.JsonValue.Create(first.DataPath));
            }
        }

        // Everything is checked before anything runs: one bad experiment in a suite stops the whole suite.
        var loaded = new List<LoadedExperiment>();
        foreach (var (src, doc, format) in _inputs)
        {
            try { loaded.Add(ExperimentLoader.Prepare(doc, src.Name, format, providers, overrides)); }
            catch (ExperimentException e) { foreach (var i in e.Issues) WriteError(ExperimentInput.ToErrorRecord(e, i)); _failedInput = true; }
        }
        if (_failedInput) return;

        host.Open();
        var plans = new List<List<PlanStep>>();
        foreach (var exp in loaded)
        {
            try { plans.Add(RunEngine((_, ct) => runner.PlanAsync(exp, Scale, ct))); }
            catch (RuntimeException e) when (e.InnerException is ExperimentException) { throw; }
        }

        string cwd = SessionState.Path.CurrentFileSystemLocation.ProviderPath;
        for (int i = 0; i < loaded.Count; i++)
        {
            var exp = loaded[i];
            string plan = $"Experiment '{exp.Title}' ({exp.Source}), scale {Scale}:{Environment.NewLine}" + string.Join(Environment.NewLine, plans[i].Select(s => "  " + s));
            if (!ShouldProcess(plan, $"Run the experiment '{exp.Title}'?", "Invoke-ChaosExperiment")) continue;
            string journalPath = JournalFor(exp, cwd, loaded.Count);
            var journal = RunWithSignals(runner, exp, new ExperimentRunOptions
            {
                Scale = Scale, JournalPath = journalPath, HypothesisStrategy = HypothesisStrategy, RollbackStrategy = RollbackStrategy, Ledger = FaultLedger.Default,
                RestoreElsewhere = host.Sessions.Count > 0 ? host.RestoreRemoteAsync : null,
            });
            if (Stopping.IsCancellationRequested) throw new PipelineStoppedException();
            WriteObject(journal);
            if (!journal.Passed)
            {
                WriteError(VerdictError(journal));
                WriteCiAnnotations(journal);
            }
            if (journal.Status == "interrupted") break;
        }
    }

    /// <summary>Under Azure DevOps or GitHub Actions, one error annotation per case of the journal that did not pass.</summary>
    private void WriteCiAnnotations(ExperimentJournal journal)
    {
        if (ChaosPS.Experiments.Reports.CiAnnotation.Detect() is not { } provider) return;
        var doc = ChaosPS.Experiments.Reports.JournalDocument.Parse(journal.ToJson(), journal.JournalPath);
        foreach (var line in ChaosPS.Experiments.Reports.CiAnnotation.ForJournal(doc, provider))
            ExportChaosExperimentReportCommand.WriteAnnotation(this, line);
    }

    private ExperimentJournal RunWithSignals(ExperimentRunner runner, LoadedExperiment exp, ExperimentRunOptions options)
    {
        // SIGTERM ends the run as interrupted with its rollbacks played, then lets the process exit.
        using var term = CancellationTokenSource.CreateLinkedTokenSource(Stopping);
        using var done = new ManualResetEventSlim();
        PosixSignalRegistration? reg = null;
        if (!OperatingSystem.IsWindows())
        {
            reg = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
            {
                try
                {
                    term.Cancel();
                    done.Wait(TimeSpan.FromMinutes(2));
                }
                catch (ObjectDisposedException) { }
            });
        }
        // Not RunEngine: when Ctrl+C stops the pipeline, writing progress throws; the run must still end (interrupted,
        // rollbacks played, journal written) before this cmdlet gives up the thread.
        using var reporter = new PipelineReporter();
        var task = Task.Run(async () =>
        {
            try
            {
                return await runner.RunAsync(exp, new ExperimentRunOptions
                {
                    Scale = options.Scale, JournalPath = options.JournalPath, HypothesisStrategy = options.HypothesisStrategy,
                    RollbackStrategy = options.RollbackStrategy, Ledger = options.Ledger, Reporter = reporter, RestoreElsewhere = options.RestoreElsewhere,
                }, term.Token).ConfigureAwait(false);
            }
            finally { reporter.Complete(); }
        });
        try
        {
            try { reporter.Pump(this); }
            catch (PipelineStoppedException)
            {
                term.Cancel();
                task.Wait();
                throw;
            }
            return task.GetAwaiter().GetResult();
        }
        finally
        {
            done.Set();
            reg?.Dispose();
        }
    }

    private string JournalFor(LoadedExperiment exp, string cwd, int count)
    {
        string name = $"{ExperimentJournal.Slug(exp.Title)}-{DateTime.UtcNow:yyyyMMdd'T'HHmmss'Z'}.json";
        if (JournalPath is null) return System.IO.Path.Combine(cwd, "chaosps-journals", name);
        string p = GetUnresolvedProviderPathFromPSPath(JournalPath);
        if (count == 1 && p.EndsWith(".json", StringComparison.OrdinalIgnoreCase)) return p;
        return System.IO.Path.Combine(p, name);
    }

    internal static ErrorRecord VerdictError(ExperimentJournal j)
    {
        (string id, ErrorCategory cat) = j.Verdict switch
        {
            "Failed" => ("ChaosPS.ExperimentFailed", ErrorCategory.InvalidResult),
            "Deviated" => ("ChaosPS.ExperimentDeviated", ErrorCategory.InvalidResult),
            "Interrupted" => ("ChaosPS.ExperimentInterrupted", ErrorCategory.OperationStopped),
            "Aborted" => ("ChaosPS.ExperimentAborted", ErrorCategory.InvalidOperation),
            _ => ("ChaosPS.ExperimentInconclusive", ErrorCategory.InvalidResult),
        };
        var record = new ErrorRecord(new InvalidOperationException($"Experiment '{j.Title}': {j.Verdict} ({j.Status}{(j.Deviated ? ", deviated" : "")}): {j.Reason}. Journal: {j.JournalPath}"), id, cat, j);
        record.ErrorDetails = new ErrorDetails(record.Exception.Message) { RecommendedAction = $"Read the journal ({j.JournalPath}) for each probe's output and tolerance." };
        return record;
    }

    private Dictionary<string, System.Management.Automation.Runspaces.PSSession> Sessions()
    {
        try { return ExperimentInput.Sessions(Session); }
        catch (ChaosException e) { ThrowChaosError(e); throw; }
    }
}
