using System.Management.Automation;

namespace ChaosPS.Commands;

/// <summary>
/// What the stressor cmdlets share: -Duration, -AsJob, -Force, and one flow — validate (a bad argument stops the
/// cmdlet before anything is allocated), ShouldProcess (ConfirmImpact High; -WhatIf is a dry run), then run the engine
/// in the foreground with progress or as a job.
/// </summary>
public abstract class StressCmdlet : ChaosCmdlet
{
    [Parameter(Mandatory = true)]
    [DurationTransform]
    public TimeSpan Duration { get; set; }

    [Parameter]
    public SwitchParameter AsJob { get; set; }

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
