using System.Collections.Concurrent;

namespace ChaosPS.Engine.Tests;

/// <summary>Keeps everything an engine call reports, for the assertions (thread-safe: engines report from many tasks).</summary>
public sealed class RecordingReporter : IChaosReporter
{
    public ConcurrentQueue<ProgressInfo> Progresses { get; } = new();
    public ConcurrentQueue<string> Warnings { get; } = new();
    public ConcurrentQueue<string> Verboses { get; } = new();
    public ConcurrentQueue<ChaosException> Errors { get; } = new();
    public ConcurrentQueue<object> Outputs { get; } = new();

    public void Progress(ProgressInfo progress) => Progresses.Enqueue(progress);
    public void Warning(string message) => Warnings.Enqueue(message);
    public void Verbose(string message) => Verboses.Enqueue(message);
    public void Error(ChaosException error) => Errors.Enqueue(error);
    public void Output(object value) => Outputs.Enqueue(value);
}
