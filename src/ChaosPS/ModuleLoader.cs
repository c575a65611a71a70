using System.Management.Automation;
using System.Reflection;
using System.Runtime.Loader;

namespace ChaosPS.Commands;

/// <summary>
/// Loads ChaosPS.Engine and every third-party assembly it uses (Docker.DotNet, HdrHistogram, Newtonsoft.Json,
/// Microsoft.Diagnostics.NETCore.Client) from the module's Dependencies folder into a load context of their own,
/// so the versions ChaosPS ships are used even when the session already loaded other versions of them.
/// Only the name "ChaosPS.Engine" is answered from the default context; everything else resolves inside ours.
/// </summary>
public sealed class ModuleLoader : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private static readonly string DependencyDir =
        Path.Combine(Path.GetDirectoryName(typeof(ModuleLoader).Assembly.Location)!, "Dependencies");

    private static readonly DependencyLoadContext Context = new(DependencyDir);

    // Registered as soon as this assembly runs any code, and again on import: whichever comes first wins.
    static ModuleLoader() => Hook();

    private static int _hooked;

    internal static void Hook()
    {
        if (Interlocked.Exchange(ref _hooked, 1) == 0)
            AssemblyLoadContext.Default.Resolving += ResolveEngine;
    }

    public void OnImport()
    {
        Hook();
        FaultSweep.OnImport();
    }

    public void OnRemove(PSModuleInfo module)
    {
        if (Interlocked.Exchange(ref _hooked, 0) == 1)
            AssemblyLoadContext.Default.Resolving -= ResolveEngine;
    }

    private static Assembly? ResolveEngine(AssemblyLoadContext defaultContext, AssemblyName name)
        => name.Name == "ChaosPS.Engine" ? Context.LoadFromAssemblyName(name) : null;

    /// <summary>The load context that holds the engine and its dependencies.</summary>
    internal sealed class DependencyLoadContext(string directory) : AssemblyLoadContext("ChaosPS.Dependencies", isCollectible: false)
    {
        protected override Assembly? Load(AssemblyName name)
        {
            var path = Path.Combine(directory, name.Name + ".dll");
            return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
        }

        protected override IntPtr LoadUnmanagedDll(string unmanagedDllName)
        {
            var path = Path.Combine(directory, unmanagedDllName);
            return File.Exists(path) ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;
        }
    }
}

/// <summary>
/// On import: remove what killed writers left in the ledger, make sure faults left by an earlier session are watched,
/// and arrange for this process to undo its own faults at once when it is told to stop (SIGTERM from cron, systemd or
/// a CI agent's cancel; SIGINT) or exits, instead of leaving them to a watchdog.
/// </summary>
internal static class FaultSweep
{
    private static int _registered;
    private static readonly List<System.Runtime.InteropServices.PosixSignalRegistration> Registrations = [];

    public static void OnImport()
    {
        RegisterSignals();
        try
        {
            var ledger = ChaosPS.Faults.FaultLedger.Default;
            if (!Directory.Exists(ledger.FaultDirectory)) return;
            ledger.SweepStale();
            if (ledger.HasActiveFaults) ledger.EnsureWatchdog();
        }
        catch (Exception)
        {
            // Import must not fail because the state folder is unreadable or untrusted: nothing in it is carried out,
            // and Get-ChaosFault reports the problem with its error id.
        }
    }

    private static void RegisterSignals()
    {
        if (OperatingSystem.IsWindows() || Interlocked.Exchange(ref _registered, 1) == 1) return;
        try
        {
            Registrations.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, OnSignal));
            Registrations.Add(System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, OnSignal));
        }
        catch (Exception) { /* no signal support here: the watchdogs still undo the faults */ }
        AppDomain.CurrentDomain.ProcessExit += (_, _) => RestoreOwn("exit");
    }

    private static void OnSignal(System.Runtime.InteropServices.PosixSignalContext context)
    {
        // SIGINT in a PowerShell host is Ctrl+C: the host cancels the signal and stops the running pipeline, whose
        // cmdlet undoes what it holds; the process lives on, and so do faults meant to outlast the command. Only when
        // nothing cancels it does SIGINT end the process, as SIGTERM does: then undo now, before the exit.
        if (context.Signal == System.Runtime.InteropServices.PosixSignal.SIGINT && (context.Cancel || HostHandlesCtrlC())) return;
        RestoreOwn(context.Signal.ToString());
        // Not cancelled: the process goes on to exit as it would have (143 for SIGTERM).
    }

    /// <summary>True when a PowerShell console host is running in this process (it turns SIGINT into a pipeline stop).</summary>
    private static bool HostHandlesCtrlC()
    {
        try { return AppDomain.CurrentDomain.GetAssemblies().Any(a => a.GetName().Name == "Microsoft.PowerShell.ConsoleHost"); }
        catch (Exception) { return false; }
    }

    private static int _restoring;
    private static void RestoreOwn(string why)
    {
        if (Interlocked.Exchange(ref _restoring, 1) == 1) return;
        try
        {
            foreach (var r in ChaosPS.Faults.OwnerGuard.RestoreOwn($"process {Environment.ProcessId} on {why}", TimeSpan.FromSeconds(20)))
                if (r.Outcome != "Restored") Console.Error.WriteLine($"ChaosPS: undoing {r.Kind} on {r.Target} ({r.Id}) on {why}: {r.Outcome} {r.Error}");
        }
        catch (Exception) { /* the watchdogs undo whatever is left */ }
        finally { Volatile.Write(ref _restoring, 0); }
    }
}
