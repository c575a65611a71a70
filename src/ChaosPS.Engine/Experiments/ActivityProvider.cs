using System.Text.Json.Nodes;

namespace ChaosPS.Experiments;

/// <summary>
/// Runs one kind of activity provider (the "type" of an activity's "provider" object). The engine ships http and
/// process; the cmdlet layer adds chaosps (any ChaosPS cmdlet) and powershell (a script) and passes them in.
/// Implementations are called from worker threads and must be thread-safe.
/// </summary>
public interface IActivityProvider
{
    /// <summary>The provider type this handles, e.g. "http".</summary>
    string Type { get; }

    /// <summary>Checks the provider object without running anything; adds one issue per bad field.</summary>
    void Validate(JsonObject provider, string path, ExperimentValidation validation);

    /// <summary>Says what the activity would do, resolving its targets (the -WhatIf plan and the pre-flight check).
    /// Throws <see cref="ExperimentException"/> when a target cannot be resolved (e.g. a selector matches nothing).</summary>
    Task<string> PlanAsync(JsonObject provider, string path, CancellationToken ct);

    /// <summary>Runs the activity; returns its output (a JSON node, or any object the engine turns into JSON).
    /// Throws <see cref="ActivityFailedException"/> (or any exception) when the activity failed.</summary>
    Task<object?> RunAsync(ActivityCall call, CancellationToken ct);

    /// <summary>Whether -Scale shortens this activity's own work (then its activity-level timeout is scaled too).</summary>
    bool ScalesWork(JsonObject provider) => false;
}

/// <summary>What a provider gets to run one activity.</summary>
public sealed class ActivityCall
{
    public required string Name { get; init; }
    public required JsonObject Activity { get; init; }
    public required JsonObject Provider { get; init; }
    /// <summary>The experiment's -Scale: providers multiply durations they pass on (chaosps arguments) by it.</summary>
    public double Scale { get; init; } = 1.0;
    /// <summary>Seconds since the experiment started, for time-stamped evidence.</summary>
    public Func<double> Elapsed { get; init; } = () => 0;
    public IChaosReporter Reporter { get; init; } = NullReporter.Instance;
    /// <summary>The raw output of an earlier activity of this run by name (null when none ran or it wrote nothing).</summary>
    public Func<string, (bool Found, object? Output)> OutputOf { get; init; } = _ => (false, null);
}

/// <summary>Collects issues while an experiment is checked.</summary>
public sealed class ExperimentValidation(string source, string format)
{
    public string Source { get; } = source;
    /// <summary>json, psd1 or hashtable.</summary>
    public string Format { get; } = format;
    public List<ExperimentIssue> Issues { get; } = [];

    public void Add(string errorId, string path, string message, ChaosErrorCategory category = ChaosErrorCategory.InvalidData)
        => Issues.Add(new ExperimentIssue(errorId, category, Source, path, message));

    public void ThrowIfAny()
    {
        if (Issues.Count > 0) throw new ExperimentException(Issues);
    }
}
