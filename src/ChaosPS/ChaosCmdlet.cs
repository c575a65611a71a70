using System.Collections.Concurrent;
using System.Management.Automation;

namespace ChaosPS.Commands;

/// <summary>
/// Base of every ChaosPS cmdlet. It wires Ctrl+C (StopProcessing) to a CancellationToken, runs engine work on a
/// worker thread while the pipeline thread writes what the engine reports (objects, throttled progress, warnings,
/// errors), and turns ChaosException into ErrorRecords with stable ids. Only the pipeline thread calls Write*.
/// </summary>
public abstract class ChaosCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stop = new();

    /// <summary>Cancelled when the user presses Ctrl+C or the pipeline is stopped.</summary>
    protected CancellationToken Stopping => _stop.Token;

    protected override void StopProcessing() => _stop.Cancel();

    public void Dispose()
    {
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Runs engine work and pumps its reports on the pipeline thread until it ends; returns its result.</summary>
    protected T RunEngine<T>(Func<IChaosReporter, CancellationToken, Task<T>> work)
    {
        using var reporter = new PipelineReporter();
        var task = Task.Run(async () =>
        {
            try { return await work(reporter, _stop.Token).ConfigureAwait(false); }
            finally { reporter.Complete(); }
        });
        reporter.Pump(this);
        try
        {
            return task.GetAwaiter().GetResult();
        }
        catch (ChaosException e)
        {
            ThrowTerminatingError(ToErrorRecord(e));
            throw; // unreachable
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            throw new PipelineStoppedException();
        }
    }

    /// <summary>Runs engine work that returns nothing.</summary>
    protected void RunEngine(Func<IChaosReporter, CancellationToken, Task> work)
        => RunEngine<object?>(async (r, ct) => { await work(r, ct).ConfigureAwait(false); return null; });

    /// <summary>
    /// Starts engine work as a PowerShell job (the -AsJob convention) and writes the job object. The work's reports
    /// go to the job's streams; its result (if not null) to the job's output. Stop-Job cancels it.
    /// </summary>
    protected void StartEngineJob(string name, Func<IChaosReporter, CancellationToken, Task<object?>> work)
    {
        var job = new ChaosJob(name, MyInvocation.Line, work);
        JobRepository.Add(job);
        job.Start();
        WriteObject(job);
    }

    /// <summary>Writes a non-terminating error: one bad target, the others go on.</summary>
    protected void WriteChaosError(ChaosException e) => WriteError(ToErrorRecord(e));

    /// <summary>
    /// A measured verdict that did not pass (failed thresholds, not graceful, inconclusive, not recovered). Call it
    /// after writing the result: the result stays on the pipeline, and this non-terminating error (TargetObject = the
    /// result) makes <c>$?</c> false and honours -ErrorAction (Stop throws, SilentlyContinue stays quiet).
    /// </summary>
    protected void WriteVerdictError(string errorId, string message, object result)
        => WriteError(ToErrorRecord(new ChaosException(errorId, ChaosErrorCategory.InvalidResult, message, result, VerdictAction)));

    /// <summary>The recommended action of a verdict error.</summary>
    protected const string VerdictAction =
        "The result is in the pipeline output and in the error's TargetObject. In a scheduled task: pwsh -c '$r = ...; exit [int](-not $?)', or -ErrorAction Stop.";

    /// <summary>
    /// True when a piped or given target is a real one (has a ProcessId or ContainerId); otherwise writes an InvalidTarget
    /// error for it and returns false, so the other targets go on.
    /// </summary>
    protected bool IsValidTarget(ChaosPS.Chaos.ChaosTarget? target)
    {
        try { InputRules.Target(target); return true; }
        catch (ChaosException e) { WriteChaosError(e); return false; }
    }

    /// <summary>Stops the cmdlet with a terminating error (a bad argument, caught before anything changed).</summary>
    protected void ThrowChaosError(ChaosException e) => ThrowTerminatingError(ToErrorRecord(e));

    /// <summary>Turns an engine error into an ErrorRecord: stable id, category, target and recommended action.</summary>
    public static ErrorRecord ToErrorRecord(ChaosException e)
    {
        var category = Enum.TryParse<ErrorCategory>(e.Category.ToString(), out var c) ? c : ErrorCategory.NotSpecified;
        var record = new ErrorRecord(e, e.ErrorId, category, e.Target);
        if (e.RecommendedAction is not null)
            record.ErrorDetails = new ErrorDetails(e.Message) { RecommendedAction = e.RecommendedAction };
        return record;
    }

    /// <summary>Collects reports from any thread and writes them on the pipeline thread; throttles progress.</summary>
    internal sealed class PipelineReporter : IChaosReporter, IDisposable
    {
        private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(250);
        private readonly BlockingCollection<Action<Cmdlet>> _queue = new();
        private readonly ConcurrentDictionary<int, (long At, ProgressInfo Info)> _lastProgress = new();

        public void Progress(ProgressInfo p)
        {
            long now = Environment.TickCount64;
            if (!p.Completed && _lastProgress.TryGetValue(p.ActivityId, out var last) && now - last.At < ProgressInterval.TotalMilliseconds)
                return;
            if (p.Completed) _lastProgress.TryRemove(p.ActivityId, out _);
            else _lastProgress[p.ActivityId] = (now, p);
            Enqueue(c => c.WriteProgress(ToRecord(p)));
        }

        public void Warning(string message) => Enqueue(c => c.WriteWarning(message));
        public void Verbose(string message) => Enqueue(c => c.WriteVerbose(message));
        public void Error(ChaosException error) => Enqueue(c => c.WriteError(ToErrorRecord(error)));
        public void Output(object value) => Enqueue(c => c.WriteObject(value));

        private void Enqueue(Action<Cmdlet> a)
        {
            // A late report (from engine work that outlives the call, e.g. after Ctrl+C) is dropped, never thrown.
            try { _queue.Add(a); } catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException) { }
        }

        public void Complete()
        {
            foreach (var (id, last) in _lastProgress)
                Enqueue(c => c.WriteProgress(ToRecord(last.Info with { Completed = true })));
            _lastProgress.Clear();
            _queue.CompleteAdding();
        }

        public void Pump(Cmdlet cmdlet)
        {
            foreach (var action in _queue.GetConsumingEnumerable())
                action(cmdlet);
        }

        public void Dispose() => _queue.Dispose();

        internal static ProgressRecord ToRecord(ProgressInfo p) => new(p.ActivityId, p.Activity, string.IsNullOrEmpty(p.Status) ? " " : p.Status)
        {
            PercentComplete = Math.Clamp(p.PercentComplete, -1, 100),
            CurrentOperation = p.CurrentOperation,
            SecondsRemaining = p.SecondsRemaining,
            RecordType = p.Completed ? ProgressRecordType.Completed : ProgressRecordType.Processing,
        };
    }
}
