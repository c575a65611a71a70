using System.Diagnostics;
using ChaosPS.Chaos;

namespace ChaosPS.Engine.Tests;

/// <summary>
/// A real child process for the worker-chaos tests (a `sleep`, or `sh -c ...` that execs one). Start waits until the
/// child has exec'd the expected program, so a signal sent afterwards hits it and not a half-started shell. Dispose
/// SIGCONTs and SIGKILLs it and waits for it to be reaped.
/// </summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process _p;
    public int Pid => _p.Id;

    private ChildProcess(Process p) => _p = p;

    /// <summary>`sleep seconds`; give each test its own odd duration so command-line patterns match only its child.</summary>
    public static ChildProcess Sleep(string seconds) => Start("sleep", [seconds], "sleep");

    /// <summary>A sleep that ignores SIGTERM (the disposition survives the exec).</summary>
    public static ChildProcess TermIgnoringSleep(string seconds) => Start("sh", ["-c", $"trap '' TERM; exec sleep {seconds}"], "sleep");

    public static ChildProcess Start(string file, string[] args, string execName)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var c = new ChildProcess(Process.Start(psi)!);
        var sw = Stopwatch.StartNew();
        while (ProcessTable.Read(c.Pid) is not { Name: var n } || n != execName)
        {
            if (sw.Elapsed > TimeSpan.FromSeconds(30)) { c.Dispose(); throw new TimeoutException($"{file} did not become {execName}"); }
            Thread.Sleep(10);
        }
        return c;
    }

    /// <summary>Its target, as Get-ChaosTarget -Id would select it.</summary>
    public ChaosTarget Target() => TargetSelector.Process(Pid) ?? throw new InvalidOperationException($"process {Pid} is gone");

    public bool HasExited => _p.HasExited;

    /// <summary>Waits (generously) for the child to end and be reaped.</summary>
    public bool WaitForExit(TimeSpan timeout) => _p.WaitForExit(timeout);

    public void Dispose()
    {
        try
        {
            if (!_p.HasExited)
            {
                PosixSignals.Send(Pid, PosixSignals.Parse("CONT"));
                _p.Kill();
                _p.WaitForExit(TimeSpan.FromSeconds(30));
            }
        }
        catch (InvalidOperationException) { /* already gone */ }
        _p.Dispose();
    }
}
