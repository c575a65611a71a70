using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChaosPS.Testbed;

/// <summary>
/// Deliberate defects of the embedded testbed (Start-ChaosTestbed -Defect): each is the absence of one good behaviour,
/// so an experiment can be proven to catch the bug it exists for. Every process of the system gets the whole list
/// (`--defects A,B`) and acts on the ones that concern it.
/// </summary>
public static class TestbedDefects
{
    /// <summary>The router answers the first attempt's failure (502) instead of retrying on another worker.</summary>
    public const string NoRetry = "NoRetry";
    /// <summary>The supervisor leaves a dead worker dead (state "exited").</summary>
    public const string NoRestart = "NoRestart";
    /// <summary>Workers queue past their concurrency bound instead of answering 429.</summary>
    public const string NoShedding = "NoShedding";
    /// <summary>Workers answer 200 when they cannot write their data folder instead of 507.</summary>
    public const string IgnoreDiskFull = "IgnoreDiskFull";
    /// <summary>The router waits on a worker without a per-attempt timeout.</summary>
    public const string NoAttemptTimeout = "NoAttemptTimeout";
    /// <summary>A restarted worker passes its health check but fails every inference request (500).</summary>
    public const string UnhealthyAfterRestart = "UnhealthyAfterRestart";
    /// <summary>The router answers 200 with an empty body.</summary>
    public const string EmptyBody = "EmptyBody";
    /// <summary>Each worker answers 500 to every Nth inference request (N = ErrorEvery, default 20).</summary>
    public const string ErrorEveryNth = "ErrorEveryNth";

    public static readonly string[] All = [NoRetry, NoRestart, NoShedding, IgnoreDiskFull, NoAttemptTimeout, UnhealthyAfterRestart, EmptyBody, ErrorEveryNth];

    public const int DefaultErrorEvery = 20;

    /// <summary>The canonical spelling of a defect name (case-insensitive), or null for an unknown one.</summary>
    public static string? Canonical(string name) => All.FirstOrDefault(d => string.Equals(d, name?.Trim(), StringComparison.OrdinalIgnoreCase));

    /// <summary>Parses a `--defects A,B` option into a case-insensitive set (unknown names are ignored).</summary>
    public static HashSet<string> Parse(string? csv) =>
        new((csv ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Canonical).OfType<string>(), StringComparer.OrdinalIgnoreCase);
}

/// <summary>How Start-ChaosTestbed asks the supervisor to lay out the system (RunDirectory/config.json).</summary>
public sealed class TestbedConfig
{
    public string Id { get; set; } = "";
    public string Runtime { get; set; } = "Process";
    public string RunDirectory { get; set; } = "";
    public int RouterPort { get; set; }
    public List<WorkerConfig> Workers { get; set; } = [];
    public int TokenDelayMs { get; set; } = 20;
    public int MaxConcurrency { get; set; } = 64;
    public int StartupMs { get; set; }
    public int AttemptTimeoutMs { get; set; } = 30000;
    public int BackoffInitialMs { get; set; } = 100;
    public int BackoffMaxMs { get; set; } = 5000;
    public int OwnerPid { get; set; }
    public string? OwnerStartStamp { get; set; }
    public string? Image { get; set; }
    public string? DockerEndpoint { get; set; }
    public string? DockerApiVersion { get; set; }
    public string TargetDll { get; set; } = "";
    public string DotnetHost { get; set; } = "";
    /// <summary>Deliberate defects (TestbedDefects names); empty for the healthy system.</summary>
    public List<string> Defects { get; set; } = [];
    /// <summary>With ErrorEveryNth: each worker answers 500 to every Nth inference request.</summary>
    public int ErrorEvery { get; set; } = TestbedDefects.DefaultErrorEvery;
}

public sealed class WorkerConfig
{
    public string Id { get; set; } = "";
    public int Port { get; set; }
    public string DataPath { get; set; } = "";
    public bool IgnoreTerm { get; set; }
}

/// <summary>What the supervisor reports (RunDirectory/state.json), rewritten on every change.</summary>
public sealed class TestbedState
{
    public int SupervisorPid { get; set; }
    public string? SupervisorStartStamp { get; set; }
    public string Status { get; set; } = "starting";
    public int RouterPid { get; set; }
    public int RouterPort { get; set; }
    public int RouterRestarts { get; set; }
    public List<WorkerState> Workers { get; set; } = [];
    public DateTimeOffset UpdatedAt { get; set; }
    public string? Error { get; set; }
}

public sealed class WorkerState
{
    public string Id { get; set; } = "";
    public int Port { get; set; }
    public int ProcessId { get; set; }
    public string? ContainerId { get; set; }
    public string? ContainerName { get; set; }
    public string State { get; set; } = "starting";
    public int Restarts { get; set; }
    public int? LastExitCode { get; set; }
    public bool LastOomKilled { get; set; }
    public DateTimeOffset? LastExitAt { get; set; }
    public DateTimeOffset? LastStartAt { get; set; }
}

public static class TestbedFiles
{
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        IgnoreReadOnlyProperties = true,
    };

    public static void WriteAtomic<T>(string path, T value)
    {
        var tmp = path + $".{Environment.ProcessId}.tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(value, Json));
        File.Move(tmp, path, overwrite: true);
    }

    public static T? Read<T>(string path) where T : class
    {
        for (int i = 0; i < 5; i++)
        {
            try { return JsonSerializer.Deserialize<T>(File.ReadAllText(path), Json); }
            catch (FileNotFoundException) { return null; }
            catch (DirectoryNotFoundException) { return null; }
            catch (Exception e) when (e is IOException or JsonException) { Thread.Sleep(20); }
        }
        return null;
    }
}
