using System.Management.Automation;

namespace ChaosPS.Commands;

/// <summary>
/// What the stressor cmdlets share: -Duration, -AsJob, -Force, and one flow — validate (a bad argument stops the
/// cmdlet before anything is allocated), ShouldProcess (ConfirmImpact High; -WhatIf is a dry run), then run the engine
/// in the foreground with progress or as a job.
/// </summary>
public abstract class StressCmdlet : ChaosCmdlet
{
    /// <summary>How long to hold the load (500ms, 30s, 5m or a TimeSpan).</summary>
    [Parameter(Mandatory = true)]
    [DurationTransform]
    public TimeSpan Duration { get; set; }

    /// <summary>Run as a background job; Receive-Job returns the result, Stop-Job releases the load.</summary>
    [Parameter]
    public SwitchParameter AsJob { get; set; }

    /// <summary>Skip the extra confirmation for dangerous levels and allow what is otherwise refused (the root filesystem, an Add past available memory).</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Runs the stressor: <paramref name="validate"/> first (errors are terminating, nothing is allocated), then ShouldProcess, then the work.</summary>
    /// <param name="validate">Throws ChaosException on a bad argument; returns a warning text when the level is dangerous enough to ask again (skipped by -Force).</param>
    protected void RunStressor(string jobName, string target, string action, Func<string?> validate, Func<IChaosReporter, CancellationToken, Task<object?>> work)
    {
        string? dangerous;
        try { InputRules.Duration(Duration, nameof(Duration)); dangerous = validate(); }
        catch (ChaosException e) { ThrowChaosError(e); return; }
        if (!ShouldProcess(target, action)) return;
        if (dangerous is not null && !Force && !ShouldContinue(dangerous + " Continue?", $"{jobName} on {target}")) return;
        if (AsJob) { StartEngineJob(jobName, work); return; }
        var result = RunEngine(work);
        if (result is not null) WriteObject(result);
    }

    /// <summary>A ChaosException for a parameter combination PowerShell's binder cannot express.</summary>
    protected static ChaosException Bad(string id, string message, object? target = null) => ChaosException.InvalidArgument(id, message, target);
}
