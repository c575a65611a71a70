using System.Management.Automation;

namespace ChaosPS.Commands;

/// <summary>
/// A background job that runs ChaosPS engine work (the -AsJob form of Start-* cmdlets). Receive-Job returns the
/// result object; progress, warnings and errors land in the job's streams; Stop-Job cancels the work, which still
/// undoes every fault it applied.
/// </summary>
public sealed class ChaosJob : Job
{
    private readonly Func<IChaosReporter, CancellationToken, Task<object?>> _work;
    private readonly CancellationTokenSource _cts = new();

    internal ChaosJob(string name, string command, Func<IChaosReporter, CancellationToken, Task<object?>> work)
        : base(command, name)
    {
        _work = work;
        PSJobTypeName = "ChaosPSJob";
    }

    public override bool HasMoreData => Output.Count > 0 || Error.Count > 0 || Warning.Count > 0 || Progress.Count > 0;
    public override string Location => Environment.MachineName;
    public override string StatusMessage => JobStateInfo.State.ToString();

    internal void Start()
    {
        SetJobState(JobState.Running);
        var reporter = new JobReporter(this);
        Task.Run(async () =>
        {
            try
            {
                var result = await _work(reporter, _cts.Token).ConfigureAwait(false);
                if (result is not null) Output.Add(PSObject.AsPSObject(result));
                SetJobState(_cts.IsCancellationRequested ? JobState.Stopped : JobState.Completed);
            }
            catch (OperationCanceledException) when (_cts.IsCancellationRequested)
            {
                SetJobState(JobState.Stopped);
            }
            catch (ChaosException e)
            {
                Error.Add(ChaosCmdlet.ToErrorRecord(e));
                SetJobState(JobState.Failed);
            }
            catch (Exception e)
            {
                Error.Add(new ErrorRecord(e, "ChaosJobFailed", ErrorCategory.NotSpecified, null));
                SetJobState(JobState.Failed);
            }
        });
    }

    public override void StopJob()
    {
        _cts.Cancel();
        // The work observes the token and finishes its undo; the state turns Stopped when it returns.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!IsFinishedState(JobStateInfo.State) && DateTime.UtcNow < deadline) Thread.Sleep(50);
    }

    private static bool IsFinishedState(JobState s) => s is JobState.Completed or JobState.Failed or JobState.Stopped;

    protected override void Dispose(bool disposing)
    {
        if (disposing) _cts.Dispose();
        base.Dispose(disposing);
    }

    private sealed class JobReporter(ChaosJob job) : IChaosReporter
    {
        public void Progress(ProgressInfo p) => Add(() => job.Progress.Add(ChaosCmdlet.PipelineReporter.ToRecord(p)));
        public void Warning(string message) => Add(() => job.Warning.Add(new WarningRecord(message)));
        public void Verbose(string message) => Add(() => job.Verbose.Add(new VerboseRecord(message)));
        public void Error(ChaosException error) => Add(() => job.Error.Add(ChaosCmdlet.ToErrorRecord(error)));
        public void Output(object value) => Add(() => job.Output.Add(PSObject.AsPSObject(value)));

        // Streams close when the job ends (or is removed); a report arriving after that is dropped, never thrown:
        // an exception on an engine thread here would take the whole PowerShell process down.
        private static void Add(Action add)
        {
            try { add(); }
            catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException) { }
        }
    }
}
