namespace ChaosPS;

/// <summary>A progress update from long-running engine work; the cmdlet layer turns it into Write-Progress.</summary>
public sealed record ProgressInfo(string Activity, string Status, int PercentComplete = -1, string? CurrentOperation = null,
    int SecondsRemaining = -1, bool Completed = false, int ActivityId = 1);

/// <summary>
/// How engine work reports back while it runs. Implementations must be thread-safe: engine workers call it
/// from any thread; the cmdlet implementation queues everything for the pipeline thread.
/// </summary>
public interface IChaosReporter
{
    void Progress(ProgressInfo progress);
    void Warning(string message);
    void Verbose(string message);
    /// <summary>A non-terminating error for one target; the work goes on with the others.</summary>
    void Error(ChaosException error);
    /// <summary>An object for the pipeline.</summary>
    void Output(object value);
}

/// <summary>A reporter that drops everything; for engine callers that do not care (tests, the agent).</summary>
public sealed class NullReporter : IChaosReporter
{
    public static readonly NullReporter Instance = new();
    public void Progress(ProgressInfo progress) { }
    public void Warning(string message) { }
    public void Verbose(string message) { }
    public void Error(ChaosException error) { }
    public void Output(object value) { }
}
