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

/// <summary>On import, make sure faults left by an earlier session are watched (the watchdog undoes orphans).</summary>
internal static class FaultSweep
{
    public static void OnImport()
    {
        try
        {
            var ledger = ChaosPS.Faults.FaultLedger.Default;
            if (ledger.HasActiveFaults) ledger.EnsureWatchdog();
        }
        catch (Exception)
        {
            // Import must not fail because the state folder is unreadable; Get-ChaosFault reports such problems.
        }
    }
}
