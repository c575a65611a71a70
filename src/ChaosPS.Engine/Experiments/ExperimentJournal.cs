using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using ChaosPS.Load;

namespace ChaosPS.Experiments;

/// <summary>One activity as it ran: Chaos Toolkit's journal "run" entry (plus tolerance_met for probes with a tolerance).</summary>
public sealed class ActivityRun
{
    public required JsonObject Activity { get; init; }
    public string Name => Activity["name"]?.ToString() ?? "";
    public string Type => Activity["type"]?.ToString() ?? "";
    public JsonNode? Output { get; set; }
    public DateTimeOffset Start { get; set; }
    public DateTimeOffset? End { get; set; }
    public double Duration => End is { } e ? Math.Round((e - Start).TotalSeconds, 6) : 0;
    /// <summary>succeeded or failed.</summary>
    public string Status { get; set; } = "succeeded";
    public List<string>? Exception { get; set; }
    /// <summary>Set when the activity has a tolerance: true met, false not met (including "no evidence").</summary>
    public bool? ToleranceMet { get; set; }
    /// <summary>The tolerance could not be judged for lack of evidence (never a pass).</summary>
    public bool Inconclusive { get; set; }
    public string? ToleranceDetail { get; set; }
    /// <summary>The raw output object (e.g. a LoadTestResult), not serialized.</summary>
    internal object? RawOutput { get; set; }

    public JsonObject ToJson()
    {
        var o = new JsonObject
        {
            ["activity"] = Activity.DeepClone(),
            ["output"] = Output?.DeepClone(),
            ["start"] = JsonConvertible.Iso(Start),
            ["end"] = End is { } e ? JsonConvertible.Iso(e) : null,
            ["duration"] = Duration,
            ["status"] = Status,
        };
        if (Exception is { Count: > 0 }) o["exception"] = new JsonArray(Exception.Select(l => (JsonNode?)JsonValue.Create(l)).ToArray());
        if (ToleranceMet is not null || Activity.ContainsKey("tolerance"))
        {
            o["tolerance_met"] = ToleranceMet ?? false;
            if (ToleranceDetail is not null) o["tolerance_detail"] = ToleranceDetail;
            if (Inconclusive) o["inconclusive"] = true;
        }
        return o;
    }

    public override string ToString() => $"{Type} {Name}: {Status}{(ToleranceMet is { } m ? m ? " (tolerance met)" : Inconclusive ? " (no evidence)" : " (tolerance NOT met)" : "")}";
}

/// <summary>One pass over the steady-state hypothesis.</summary>
public sealed class SteadyStateRun
{
    /// <summary>true held, false did not hold, null no evidence either way.</summary>
    public bool? SteadyStateMet { get; set; }
    public List<ActivityRun> Probes { get; } = [];

    public JsonObject ToJson() => new()
    {
        ["steady_state_met"] = SteadyStateMet,
        ["probes"] = new JsonArray(Probes.Select(p => (JsonNode?)p.ToJson()).ToArray()),
    };
}

/// <summary>A fault an activity put in place, from the fault ledger (or a crash, which leaves nothing to undo).</summary>
public sealed class ExperimentFault
{
    public string Id { get; set; } = "";
    public string Kind { get; set; } = "";
    public string Target { get; set; } = "";
    public string Activity { get; set; } = "";
    public DateTimeOffset Start { get; set; }
    public DateTimeOffset? End { get; set; }
    /// <summary>Undone (or nothing to undo, for a crash). False only when the fault was still in place at the end and restoring it failed.</summary>
    public bool Restored { get; set; }

    public JsonObject ToJson() => new()
    {
        ["id"] = Id, ["kind"] = Kind, ["target"] = Target, ["activity"] = Activity,
        ["start"] = JsonConvertible.Iso(Start), ["end"] = End is { } e ? JsonConvertible.Iso(e) : null, ["restored"] = Restored,
    };
}

/// <summary>A load test that ran as part of the experiment (usually a background Start-LoadTest).</summary>
public sealed class ExperimentLoad
{
    public string Activity { get; set; } = "";
    public string Uri { get; set; } = "";
    public long Requests { get; set; }
    public double Rps { get; set; }
    public long Errors { get; set; }
    public double ErrorRate { get; set; }
    public double? P50Ms { get; set; }
    public double? P95Ms { get; set; }
    public double? P99Ms { get; set; }
    public List<ThresholdOutcome> Thresholds { get; set; } = [];
    public JsonArray Series { get; set; } = [];

    public static ExperimentLoad From(string activity, LoadTestResult r, DateTimeOffset experimentStart)
    {
        double offset = (new DateTimeOffset(DateTime.SpecifyKind(r.StartTime, r.StartTime.Kind == DateTimeKind.Unspecified ? DateTimeKind.Utc : r.StartTime.Kind)) - experimentStart).TotalSeconds;
        return new ExperimentLoad
        {
            Activity = activity, Uri = r.Uri, Requests = r.Requests, Rps = r.RequestsPerSecond, Errors = r.Failed, ErrorRate = r.ErrorRate,
            P50Ms = r.Latency?.P50, P95Ms = r.Latency?.P95, P99Ms = r.Latency?.P99, Thresholds = r.Thresholds,
            Series = new JsonArray(r.TimeSeries.Select(p => (JsonNode?)new JsonObject
            {
                ["t"] = Math.Round(offset + p.Second, 3), ["rps"] = p.RequestsPerSecond, ["errors"] = p.Failed,
                ["p50_ms"] = p.P50, ["p95_ms"] = p.P95, ["p99_ms"] = p.P99,
            }).ToArray()),
        };
    }

    public JsonObject ToJson() => new()
    {
        ["activity"] = Activity, ["uri"] = Uri,
        ["summary"] = new JsonObject { ["requests"] = Requests, ["rps"] = Rps, ["errors"] = Errors, ["error_rate"] = ErrorRate, ["p50_ms"] = P50Ms, ["p95_ms"] = P95Ms, ["p99_ms"] = P99Ms },
        ["thresholds"] = new JsonArray(Thresholds.Select(t => (JsonNode?)new JsonObject
        {
            ["expression"] = $"{t.Metric}: {t.Expression}", ["passed"] = t.Passed, ["observed"] = t.Actual,
        }).ToArray()),
        ["series"] = Series.DeepClone(),
    };
}

/// <summary>A point on the experiment's timeline.</summary>
public sealed record ExperimentEvent(double T, string Kind, string Name);

/// <summary>
/// The record of one experiment run: Chaos Toolkit's journal (experiment, start/end, status, deviated, steady_states,
/// run, rollbacks) plus a "chaosps" block (verdict, faults, load, timeline). <see cref="ToJson"/> gives the JSON that
/// is also written to <see cref="JournalPath"/> as the run goes.
/// </summary>
public sealed class ExperimentJournal
{
    public const string Version = "0.1.0";
    private readonly object _gate = new();

    public string Title { get; set; } = "";
    public string Source { get; set; } = "";
    public JsonObject Experiment { get; set; } = [];
    public DateTimeOffset Start { get; set; }
    public DateTimeOffset? End { get; set; }
    public TimeSpan Duration => (End ?? DateTimeOffset.UtcNow) - Start;
    /// <summary>completed, failed, aborted or interrupted (Chaos Toolkit's values). Until the run ends it reads
    /// interrupted (with <see cref="Partial"/> true), which is what a journal left by a killed run must say.</summary>
    public string Status { get; set; } = "interrupted";
    public bool Deviated { get; set; }
    /// <summary>Passed, Failed, Deviated, Inconclusive, Interrupted or Aborted.</summary>
    public string Verdict { get; set; } = "Interrupted";
    public bool Passed => Verdict == "Passed";
    /// <summary>Why the verdict is what it is, in a sentence.</summary>
    public string Reason { get; set; } = PartialReason;

    /// <summary>The reason a journal gives until its run ends.</summary>
    public const string PartialReason = "the run has not finished: it is still going, or its process was killed";
    /// <summary>True while the run is going (a journal left by a killed run says so).</summary>
    public bool Partial { get; set; } = true;
    public string? JournalPath { get; set; }
    public double Scale { get; set; } = 1.0;
    public SteadyStateRun? SteadyStateBefore { get; set; }
    public SteadyStateRun? SteadyStateAfter { get; set; }
    public List<SteadyStateRun> SteadyStateDuring { get; } = [];
    public List<ActivityRun> Run { get; } = [];
    public List<ActivityRun> Rollbacks { get; } = [];
    public List<ExperimentFault> Faults { get; } = [];
    public List<ExperimentLoad> Load { get; } = [];
    public List<ExperimentEvent> Events { get; } = [];
    public string[] Tags => Experiment["tags"] is JsonArray a ? a.Select(t => t?.ToString() ?? "").ToArray() : [];

    /// <summary>Masks the experiment's secrets in everything the journal writes (a last net under the runner's own masking).</summary>
    internal SecretRedactor Redactor { get; set; } = SecretRedactor.None;

    internal void Lock(Action a) { lock (_gate) a(); }

    public string ToJson(bool indented = true)
    {
        lock (_gate) return ToJsonNode().ToJsonString(new JsonSerializerOptions { WriteIndented = indented, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
    }

    public JsonObject ToJsonNode()
    {
        lock (_gate)
        {
            var doc = new JsonObject
            {
                ["chaosps-version"] = Version,
                ["platform"] = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                ["node"] = Environment.MachineName,
                ["experiment"] = Experiment.DeepClone(),
                ["start"] = JsonConvertible.Iso(Start),
                ["end"] = End is { } e ? JsonConvertible.Iso(e) : null,
                ["duration"] = Math.Round(Duration.TotalSeconds, 6),
                ["status"] = Status,
                ["deviated"] = Deviated,
                ["steady_states"] = new JsonObject
                {
                    ["before"] = SteadyStateBefore?.ToJson(),
                    ["after"] = SteadyStateAfter?.ToJson(),
                    ["during"] = new JsonArray(SteadyStateDuring.Select(s => (JsonNode?)s.ToJson()).ToArray()),
                },
                ["run"] = new JsonArray(Run.Select(r => (JsonNode?)r.ToJson()).ToArray()),
                ["rollbacks"] = new JsonArray(Rollbacks.Select(r => (JsonNode?)r.ToJson()).ToArray()),
                ["chaosps"] = new JsonObject
                {
                    ["verdict"] = Verdict,
                    ["reason"] = Reason,
                    ["partial"] = Partial,
                    ["journal_path"] = JournalPath,
                    ["scale"] = Scale,
                    ["faults"] = new JsonArray(Faults.Select(f => (JsonNode?)f.ToJson()).ToArray()),
                    ["load"] = new JsonArray(Load.Select(l => (JsonNode?)l.ToJson()).ToArray()),
                    ["events"] = new JsonArray(Events.Select(ev => (JsonNode?)new JsonObject { ["t"] = Math.Round(ev.T, 3), ["kind"] = ev.Kind, ["name"] = ev.Name }).ToArray()),
                },
            };
            Redactor.RedactInPlace(doc);
            return doc;
        }
    }

    /// <summary>Writes the journal to <see cref="JournalPath"/> atomically (a temporary file renamed over it).</summary>
    public void Save()
    {
        if (JournalPath is null) return;
        string json = ToJson();
        string dir = Path.GetDirectoryName(Path.GetFullPath(JournalPath))!;
        Directory.CreateDirectory(dir);
        string tmp = Path.Combine(dir, $".{Path.GetFileName(JournalPath)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        File.WriteAllText(tmp, json);
        File.Move(tmp, JournalPath, overwrite: true);
    }

    public override string ToString() => $"{Title}: {Verdict} ({Status}{(Deviated ? ", deviated" : "")})";

    public static string Slug(string title)
    {
        var chars = title.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray();
        string s = string.Join('-', new string(chars).Split('-', StringSplitOptions.RemoveEmptyEntries));
        return s.Length == 0 ? "experiment" : s.Length > 60 ? s[..60].TrimEnd('-') : s;
    }

    internal static string Stamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
}
