using System.Diagnostics;
using System.Runtime.InteropServices;

namespace ChaosPS;

/// <summary>
/// Finds and starts ChaosPS's helper programs (the embedded testbed, the agent). They are framework-dependent
/// .NET programs shipped in the module's bin/ folder and run with the same .NET runtime the session uses.
/// </summary>
public static class HelperPrograms
{
    /// <summary>Program names as shipped: bin/&lt;project&gt;/&lt;assembly&gt;.dll beside the module.</summary>
    public const string Target = "ChaosPS.Testbed/chaosps-testbed.dll";
    public const string Agent = "ChaosPS.Agent/chaosps-agent.dll";

    /// <summary>Full path of a helper's entry dll; throws NotInstalled when the module is incomplete.</summary>
    public static string Locate(string program)
    {
        var engineDir = Path.GetDirectoryName(typeof(HelperPrograms).Assembly.Location)!;
        var project = program.Split('/')[0];
        var file = program.Split('/')[1];
        string[] candidates =
        [
            Path.Combine(engineDir, "..", "bin", program),          // installed module: Dependencies/../bin/...
            Path.Combine(engineDir, "bin", program),
            Path.Combine(engineDir, file),                          // same folder (agent, tests)
        ];
        foreach (var c in candidates)
            if (File.Exists(c)) return Path.GetFullPath(c);
        // A source checkout: src/<project>/bin/<config>/net10.0/<file>, found by walking up from the engine.
        for (var dir = new DirectoryInfo(engineDir); dir is not null; dir = dir.Parent)
        {
            var src = Path.Combine(dir.FullName, "src", project, "bin");
            if (!Directory.Exists(src)) continue;
            var found = Directory.EnumerateFiles(src, file, SearchOption.AllDirectories)
                .OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
            if (found is not null) return found;
        }
        throw new ChaosException("HelperProgramMissing", ChaosErrorCategory.NotInstalled,
            $"ChaosPS's helper program {program} was not found beside the module ({engineDir}).", program,
            "Rebuild or reinstall the module (./build.ps1 build).");
    }

    /// <summary>The dotnet host that runs framework-dependent programs with the runtime this process uses.</summary>
    public static string DotnetHost
    {
        get
        {
            var exe = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
            if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hp && File.Exists(hp)) return hp;
            if (Environment.ProcessPath is { } pp && Path.GetFileName(pp) == exe) return pp;
            if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root && File.Exists(Path.Combine(root, exe)))
                return Path.Combine(root, exe);
            // <root>/shared/Microsoft.NETCore.App/<version>/ -> <root>/dotnet
            var rt = RuntimeEnvironment.GetRuntimeDirectory();
            var candidate = Path.GetFullPath(Path.Combine(rt, "..", "..", "..", exe));
            if (File.Exists(candidate)) return candidate;
            foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
                if (dir.Length > 0 && File.Exists(Path.Combine(dir, exe))) return Path.Combine(dir, exe);
            throw new ChaosException("DotnetHostMissing", ChaosErrorCategory.NotInstalled,
                "No 'dotnet' host was found to run ChaosPS's helper programs.", null,
                "Install the .NET 10 runtime, or set DOTNET_ROOT to the folder that holds 'dotnet'.");
        }
    }

    /// <summary>A start description for a helper: dotnet &lt;dll&gt; args..., no shell, output redirected if asked.</summary>
    public static ProcessStartInfo StartInfo(string program, IEnumerable<string> args, bool redirect = true)
    {
        var psi = new ProcessStartInfo(DotnetHost) { UseShellExecute = false, RedirectStandardOutput = redirect, RedirectStandardError = redirect, RedirectStandardInput = false };
        psi.ArgumentList.Add(Locate(program));
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_TieredPGO"] = "1";
        return psi;
    }
}
