using System.Text.Json;
using System.Text.Json.Serialization;

namespace ChaosPS.Targets;

/// <summary>How Start-ChaosTarget asks the supervisor to lay out the system (RunDirectory/config.json).</summary>
public sealed class TargetConfig
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
}

public sealed class WorkerConfig
{
    public string Id { get; set; } = "";
    public int Port { get; set; }
    public string DataPath { get; set; } = "";
    public bool IgnoreTerm { get; set; }
}

/// <summary>What the supervisor reports (RunDirectory/state.json), rewritten on every change.</summary>
public sealed class TargetState
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

public static class TargetFiles
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
