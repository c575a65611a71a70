using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using ChaosPS.Docker;
using ChaosPS.Faults;
using Docker.DotNet.Models;

namespace ChaosPS.Testbed;

/// <summary>One worker of an embedded testbed, as Start-ChaosTestbed returns it.</summary>
public sealed class TestbedWorker
{
    public string Id { get; set; } = "";
    public string TestbedId { get; set; } = "";
    public string Runtime { get; set; } = "";
    /// <summary>The worker's host process id (for containers, the container's main process as the host sees it); 0 while it restarts.</summary>
    public int ProcessId { get; set; }
    public string? ContainerId { get; set; }
    public string? ContainerName { get; set; }
    public Uri Uri { get; set; } = new("http://127.0.0.1/");
    public int Port { get; set; }
    public string DataPath { get; set; } = "";
    public int Restarts { get; set; }
    public string State { get; set; } = "";
    public int? LastExitCode { get; set; }
    public string Name => $"{TestbedId}/{Id}";
}

/// <summary>A running embedded testbed (router, supervisor, workers), as Start-ChaosTestbed returns it.</summary>
public sealed class ChaosTestbed
{
    public string Id { get; set; } = "";
    public string Runtime { get; set; } = "Process";
    public Uri RouterUri { get; set; } = new("http://127.0.0.1/");
    public int RouterPort { get; set; }
    public int RouterProcessId { get; set; }
    public int SupervisorProcessId { get; set; }
    public TestbedWorker[] Workers { get; set; } = [];
    public TimeSpan TokenDelay { get; set; }
    public int MaxConcurrency { get; set; }
    public string? Image { get; set; }
    public string RunDirectory { get; set; } = "";
    public string LogDirectory => Path.Combine(RunDirectory, "logs");
    public DateTimeOffset StartedAt { get; set; }
    public TimeSpan StartupTime { get; set; }
    public string Status { get; set; } = "";
    /// <summary>Deliberate defects the system was started with (Start-ChaosTestbed -Defect); empty when it is healthy.</summary>
    public string[] Defects { get; set; } = [];
    /// <summary>With the ErrorEveryNth defect: each worker answers 500 to every Nth request; 0 otherwise.</summary>
    public int ErrorEvery { get; set; }
    /// <summary>Alias so `$target | Stop-ChaosTestbed` and by-property binding use the same name everywhere.</summary>
    public string TestbedId => Id;

    /// <summary>Re-reads the supervisor's state (new worker pids after restarts, restart counts) and returns this object.</summary>
    public ChaosTestbed Refresh()
    {
        var state = TestbedFiles.Read<TestbedState>(Path.Combine(RunDirectory, "state.json"));
        if (state is null) { Status = "stopped"; return this; }
        Status = state.Status;
        RouterProcessId = state.RouterPid;
        if (state.RouterPort > 0 && state.RouterPort != RouterPort)
        {
            RouterPort = state.RouterPort;
            RouterUri = new Uri($"http://127.0.0.1:{RouterPort}/");
        }
        SupervisorProcessId = state.SupervisorPid;
        foreach (var w in Workers)
        {
            var s = state.Workers.FirstOrDefault(x => x.Id == w.Id);
            if (s is null) continue;
            w.ProcessId = s.ProcessId; w.ContainerId = s.ContainerId; w.ContainerName = s.ContainerName;
            w.Restarts = s.Restarts; w.State = s.State; w.LastExitCode = s.LastExitCode;
            if (s.Port > 0 && s.Port != w.Port) { w.Port = s.Port; w.Uri = new Uri($"http://127.0.0.1:{s.Port}/"); }
        }
        return this;
    }
}

/// <summary>Everything Start-ChaosTestbed can ask for.</summary>
public sealed class TestbedOptions
{
    public int Workers { get; set; } = 3;
    public string Runtime { get; set; } = "Process";
    public TimeSpan TokenDelay { get; set; } = TimeSpan.FromMilliseconds(20);
    public int MaxConcurrency { get; set; } = 64;
    /// <summary>Parent folder for the workers' data folders (one subfolder per worker); the run folder when null.</summary>
    public string? DataPath { get; set; }
    public TimeSpan StartupDelay { get; set; }
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);
    public bool IgnoreTerm { get; set; }
    public string? DockerEndpoint { get; set; }
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(90);
    /// <summary>Deliberate defects (<see cref="TestbedDefects"/> names, any case); normalised by Validate.</summary>
    public string[] Defects { get; set; } = [];
    /// <summary>With ErrorEveryNth: every how many requests a worker fails; null = 20. Only valid with that defect.</summary>
    public int? ErrorEvery { get; set; }
}

/// <summary>Starts and stops embedded testbeds. Each lives in &lt;state&gt;/targets/&lt;id&gt; while it runs.</summary>
public static class TestbedLauncher
{
    public static string TestbedsDirectory => Path.Combine(FaultLedger.Default.StateDirectory, "targets");

    /// <summary>Checks options before anything starts; throws ChaosException(InvalidArgument) naming the bad one.</summary>
    public static void Validate(TestbedOptions o)
    {
        if (o.Workers is < 1 or > 64)
            throw ChaosException.InvalidArgument("InvalidWorkerCount", $"-Workers must be from 1 to 64 (got {o.Workers}).", o.Workers);
        if (o.Runtime is not ("Process" or "Docker"))
            throw ChaosException.InvalidArgument("UnknownRuntime", $"Unknown runtime '{o.Runtime}'. Use Process or Docker.", o.Runtime);
        if (o.TokenDelay < TimeSpan.Zero)
            throw ChaosException.InvalidArgument("InvalidTokenDelay", $"-TokenDelay cannot be negative (got {o.TokenDelay}).", o.TokenDelay);
        if (o.TokenDelay > TimeSpan.FromSeconds(10))
            throw ChaosException.InvalidArgument("InvalidTokenDelay", $"-TokenDelay must be at most 10s (got {DurationParser.Format(o.TokenDelay)}).", o.TokenDelay);
        if (o.MaxConcurrency is < 1 or > 100_000)
            throw ChaosException.InvalidArgument("InvalidMaxConcurrency", $"-MaxConcurrency must be from 1 to 100000 (got {o.MaxConcurrency}).", o.MaxConcurrency);
        if (o.StartupDelay < TimeSpan.Zero || o.StartupDelay > TimeSpan.FromMinutes(10))
            throw ChaosException.InvalidArgument("InvalidStartupDelay", $"-StartupDelay must be from 0 to 10m (got {o.StartupDelay:c}).", o.StartupDelay);
        if (o.AttemptTimeout <= TimeSpan.Zero || o.AttemptTimeout > TimeSpan.FromHours(1))
            throw ChaosException.InvalidArgument("InvalidAttemptTimeout", $"-AttemptTimeout must be more than 0 and at most 1h (got {o.AttemptTimeout:c}).", o.AttemptTimeout);
        if (o.DataPath is not null && !Directory.Exists(o.DataPath))
            throw new ChaosException("DataPathNotFound", ChaosErrorCategory.ObjectNotFound, $"-DataPath '{o.DataPath}' does not exist or is not a folder.", o.DataPath,
                "Create the folder first (for disk-full tests, a small tmpfs or loop-mounted filesystem).");
        var defects = new List<string>();
        foreach (var d in o.Defects ?? [])
        {
            var canonical = TestbedDefects.Canonical(d ?? "")
                ?? throw ChaosException.InvalidArgument("UnknownDefect", $"Unknown defect '{d}'. Use one of: {string.Join(", ", TestbedDefects.All)}.", d);
            if (!defects.Contains(canonical)) defects.Add(canonical);
        }
        o.Defects = defects.ToArray();
        if (o.ErrorEvery is { } every)
        {
            if (!defects.Contains(TestbedDefects.ErrorEveryNth))
                throw ChaosException.InvalidArgument("ErrorEveryWithoutDefect", "-ErrorEvery only applies with -Defect ErrorEveryNth.", every);
            if (every is < 2 or > 1_000_000)
                throw ChaosException.InvalidArgument("InvalidErrorEvery", $"-ErrorEvery must be from 2 to 1000000 (got {every}).", every);
        }
        if (o.Runtime == "Docker" && !OperatingSystem.IsLinux())
            throw new ChaosException("DockerRuntimeNotSupported", ChaosErrorCategory.NotImplemented, "-Runtime Docker needs a Linux host (containers use host networking).", o.Runtime);
    }

    public static async Task<ChaosTestbed> StartAsync(TestbedOptions o, IChaosReporter reporter, CancellationToken ct)
    {
        Validate(o);
        var sw = Stopwatch.StartNew();
        var id = "t" + Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
        var targetDll = HelperPrograms.Locate(HelperPrograms.Target);
        var host = HelperPrograms.DotnetHost;
        const string activity = "Start-ChaosTestbed";

        string? image = null, apiVersion = null;
        if (o.Runtime == "Docker")
        {
            reporter.Progress(new ProgressInfo(activity, $"Connecting to Docker at {o.DockerEndpoint ?? DockerEngine.DefaultEndpoint}"));
            var info = await DockerEngine.ProbeAsync(o.DockerEndpoint, ct).ConfigureAwait(false);
            if (!info.Reachable) throw DockerEngine.Unreachable(info.Endpoint, info.Error);
            apiVersion = info.ApiVersion;
            using var docker = DockerEngine.CreateClient(info.Endpoint, apiVersion: apiVersion);
            image = await TestbedImage.EnsureAsync(docker, targetDll, reporter, ct).ConfigureAwait(false);
        }

        var runDir = Path.Combine(TestbedsDirectory, id);
        // The state folder is the fault ledger's too: create it private (0700) whatever the umask, or the ledger refuses it.
        if (!OperatingSystem.IsWindows()) Directory.CreateDirectory(FaultLedger.Default.StateDirectory, LedgerTrust.FolderMode);
        Directory.CreateDirectory(runDir);
        var system = new ChaosTestbed
        {
            Id = id, Runtime = o.Runtime, RunDirectory = runDir, TokenDelay = o.TokenDelay, MaxConcurrency = o.MaxConcurrency, Image = image, StartedAt = DateTimeOffset.UtcNow,
            Defects = [.. o.Defects], ErrorEvery = o.Defects.Contains(TestbedDefects.ErrorEveryNth) ? o.ErrorEvery ?? TestbedDefects.DefaultErrorEvery : 0,
        };
        try
        {
            var ports = FreePorts(o.Workers + 1);
            var cfg = new TestbedConfig
            {
                Id = id, Runtime = o.Runtime, RunDirectory = runDir, RouterPort = ports[0],
                TokenDelayMs = (int)o.TokenDelay.TotalMilliseconds, MaxConcurrency = o.MaxConcurrency,
                StartupMs = (int)o.StartupDelay.TotalMilliseconds, AttemptTimeoutMs = (int)o.AttemptTimeout.TotalMilliseconds,
                OwnerPid = Environment.ProcessId, OwnerStartStamp = ProcessIdentity.StartStamp(Environment.ProcessId),
                Image = image, DockerEndpoint = o.DockerEndpoint ?? DockerEngine.DefaultEndpoint, DockerApiVersion = apiVersion,
                TargetDll = targetDll, DotnetHost = host,
                Defects = [.. o.Defects], ErrorEvery = o.ErrorEvery ?? TestbedDefects.DefaultErrorEvery,
            };
            for (int i = 0; i < o.Workers; i++)
            {
                var wid = $"w{i + 1}";
                var data = Path.Combine(o.DataPath ?? Path.Combine(runDir, "data"), $"{id}-{wid}");
                Directory.CreateDirectory(data);
                cfg.Workers.Add(new WorkerConfig { Id = wid, Port = ports[i + 1], DataPath = data, IgnoreTerm = o.IgnoreTerm });
            }
            TestbedFiles.WriteAtomic(Path.Combine(runDir, "config.json"), cfg);
            system.RouterPort = cfg.RouterPort;
            system.RouterUri = new Uri($"http://127.0.0.1:{cfg.RouterPort}/");
            system.Workers = cfg.Workers.Select(w => new TestbedWorker
            {
                Id = w.Id, TestbedId = id, Runtime = o.Runtime, Port = w.Port, DataPath = w.DataPath, Uri = new Uri($"http://127.0.0.1:{w.Port}/"),
            }).ToArray();

            reporter.Progress(new ProgressInfo(activity, $"Starting supervisor for {id}"));
            LaunchDetached(host, targetDll, runDir);
            await WaitHealthyAsync(system, o.StartTimeout, reporter, ct).ConfigureAwait(false);
            system.StartupTime = sw.Elapsed;
            system.Refresh();
            return system;
        }
        catch (Exception)
        {
            await StopAsync(system, NullReporter.Instance).ConfigureAwait(false);
            throw;
        }
        finally
        {
            reporter.Progress(new ProgressInfo(activity, "done", Completed: true));
        }
    }

    private static void LaunchDetached(string host, string targetDll, string runDir)
    {
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add("-c");
        // Its own session (Ctrl+C in the terminal must not reach it) and no inherited pipes.
        psi.ArgumentList.Add("exec setsid \"$0\" \"$1\" supervisor --run \"$2\" </dev/null >>\"$2/supervisor.log\" 2>&1 &");
        psi.ArgumentList.Add(host); psi.ArgumentList.Add(targetDll); psi.ArgumentList.Add(runDir);
        using var p = Process.Start(psi)!;
        p.WaitForExit(5000);
    }

    private static async Task WaitHealthyAsync(ChaosTestbed system, TimeSpan timeout, IChaosReporter reporter, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var sw = Stopwatch.StartNew();
        string last = "supervisor not started yet";
        while (sw.Elapsed < timeout)
        {
            ct.ThrowIfCancellationRequested();
            var state = TestbedFiles.Read<TestbedState>(Path.Combine(system.RunDirectory, "state.json"));
            if (state is not null)
            {
                system.Refresh();   // ports may have moved if one was taken meanwhile
                if (state.Status is "stopping" or "stopped")
                    throw Failed(system, $"the supervisor stopped during start-up ({state.Error ?? "see its log"})");
                try
                {
                    var workers = await http.GetStringAsync(new Uri(system.RouterUri, "/workers"), ct).ConfigureAwait(false);
                    using var doc = System.Text.Json.JsonDocument.Parse(workers);
                    int healthy = doc.RootElement.EnumerateArray().Count(e => e.GetProperty("healthy").GetBoolean());
                    last = $"{healthy}/{system.Workers.Length} workers healthy";
                    if (healthy == system.Workers.Length) return;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException && !ct.IsCancellationRequested)
                {
                    last = "router not answering yet";
                }
            }
            reporter.Progress(new ProgressInfo("Start-ChaosTestbed", $"{system.Id}: {last}", (int)(100 * sw.Elapsed / timeout)));
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
        throw Failed(system, $"not healthy within {DurationParser.Format(timeout)}: {last}");
    }

    private static ChaosException Failed(ChaosTestbed s, string why)
    {
        string tail = "";
        foreach (var log in new[] { Path.Combine(s.RunDirectory, "supervisor.log") }.Concat(Directory.Exists(s.LogDirectory) ? Directory.GetFiles(s.LogDirectory) : []))
        {
            try { tail += $"\n--- {Path.GetFileName(log)}:\n" + string.Join('\n', File.ReadLines(log).TakeLast(8)); } catch (IOException) { }
        }
        return new ChaosException("TargetStartFailed", ChaosErrorCategory.OpenError, $"Target {s.Id} did not start: {why}.{tail}", s.Id,
            "Read the logs above; everything that was started has been stopped again.");
    }

    /// <summary>Picks free loopback ports by holding them all open at once, then letting go.</summary>
    public static int[] FreePorts(int count)
    {
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
                sockets.Add(s);
            }
            return sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).ToArray();
        }
        finally { foreach (var s in sockets) s.Dispose(); }
    }

    /// <summary>Running systems found in the state folder (those whose supervisor is alive).</summary>
    public static IReadOnlyList<ChaosTestbed> List()
    {
        if (!Directory.Exists(TestbedsDirectory)) return [];
        var list = new List<ChaosTestbed>();
        foreach (var dir in Directory.GetDirectories(TestbedsDirectory))
        {
            var cfg = TestbedFiles.Read<TestbedConfig>(Path.Combine(dir, "config.json"));
            if (cfg is null) continue;
            var s = new ChaosTestbed
            {
                Id = cfg.Id, Runtime = cfg.Runtime, RunDirectory = dir, RouterPort = cfg.RouterPort, Image = cfg.Image,
                RouterUri = new Uri($"http://127.0.0.1:{cfg.RouterPort}/"), TokenDelay = TimeSpan.FromMilliseconds(cfg.TokenDelayMs), MaxConcurrency = cfg.MaxConcurrency,
                StartedAt = new DirectoryInfo(dir).CreationTimeUtc,
                Defects = [.. cfg.Defects], ErrorEvery = cfg.Defects.Contains(TestbedDefects.ErrorEveryNth) ? cfg.ErrorEvery : 0,
                Workers = cfg.Workers.Select(w => new TestbedWorker { Id = w.Id, TestbedId = cfg.Id, Runtime = cfg.Runtime, Port = w.Port, DataPath = w.DataPath, Uri = new Uri($"http://127.0.0.1:{w.Port}/") }).ToArray(),
            };
            list.Add(s.Refresh());
        }
        return list;
    }

    /// <summary>
    /// Stops a system and everything it started: asks the supervisor (SIGTERM), then kills whatever is still alive
    /// (supervisor, router, worker processes) and removes its containers by label, and deletes its run folder.
    /// Runs to the end even when the caller is being cancelled.
    /// </summary>
    public static async Task<ChaosTestbed> StopAsync(ChaosTestbed system, IChaosReporter reporter)
    {
        var statePath = Path.Combine(system.RunDirectory, "state.json");
        var state = TestbedFiles.Read<TestbedState>(statePath);
        reporter.Progress(new ProgressInfo("Stop-ChaosTestbed", $"Stopping {system.Id}"));
        if (state is not null && ProcessIdentity.IsAlive(state.SupervisorPid, state.SupervisorStartStamp))
        {
            PosixSignals.Send(state.SupervisorPid, 15);
            var sw = Stopwatch.StartNew();
            while (ProcessIdentity.IsAlive(state.SupervisorPid, state.SupervisorStartStamp) && sw.Elapsed < TimeSpan.FromSeconds(15))
                await Task.Delay(50).ConfigureAwait(false);
            if (ProcessIdentity.IsAlive(state.SupervisorPid, state.SupervisorStartStamp)) PosixSignals.Send(state.SupervisorPid, 9);
        }
        // Whatever the supervisor could not stop (or when it was killed itself): processes by pid, containers by label.
        state = TestbedFiles.Read<TestbedState>(statePath) ?? state;
        foreach (var pid in KnownPids(system, state))
            if (pid > 0 && IsTargetProcess(pid, system.Id)) PosixSignals.Send(pid, 9);
        if (system.Runtime == "Docker") await RemoveContainersAsync(system.Id).ConfigureAwait(false);
        // The workers' data folders are ChaosPS's own (named <target>-<worker>), also when they live under -DataPath.
        foreach (var w in system.Workers)
        {
            try
            {
                if (Directory.Exists(w.DataPath) && Path.GetFileName(w.DataPath) == $"{system.Id}-{w.Id}") Directory.Delete(w.DataPath, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        try { if (Directory.Exists(system.RunDirectory)) Directory.Delete(system.RunDirectory, recursive: true); }
        catch (IOException) { }
        system.Status = "stopped";
        foreach (var w in system.Workers) { w.State = "stopped"; w.ProcessId = 0; }
        system.RouterProcessId = 0; system.SupervisorProcessId = 0;
        reporter.Progress(new ProgressInfo("Stop-ChaosTestbed", "stopped", Completed: true));
        return system;
    }

    private static IEnumerable<int> KnownPids(ChaosTestbed system, TestbedState? state)
    {
        if (state is not null)
        {
            yield return state.SupervisorPid;
            yield return state.RouterPid;
            foreach (var w in state.Workers) if (w.ContainerId is null) yield return w.ProcessId;
        }
        // Any process whose command line names this target (e.g. a worker started just before the supervisor died).
        if (OperatingSystem.IsLinux())
            foreach (var pid in Procfs.Pids())
                if (IsTargetProcess(pid, system.Id))
                    yield return pid;
    }

    private static bool IsTargetProcess(int pid, string targetId)
    {
        if (!OperatingSystem.IsLinux()) return true;
        var cmd = Procfs.CommandLine(pid);
        return cmd is not null && cmd.Any(a => a.EndsWith("chaosps-testbed.dll", StringComparison.Ordinal)) &&
               (cmd.Contains(targetId) || cmd.Any(a => a.Contains(Path.Combine("targets", targetId), StringComparison.Ordinal)));
    }

    private static async Task RemoveContainersAsync(string targetId)
    {
        var info = await DockerEngine.ProbeAsync().ConfigureAwait(false);
        if (!info.Reachable) return;
        using var docker = DockerEngine.CreateClient(info.Endpoint, apiVersion: info.ApiVersion);
        var list = await docker.Containers.ListContainersAsync(new ContainersListParameters
        {
            All = true,
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["label"] = new Dictionary<string, bool> { [$"chaosps.testbed={targetId}"] = true } },
        }).ConfigureAwait(false);
        foreach (var c in list)
        {
            try { await docker.Containers.RemoveContainerAsync(c.ID, new ContainerRemoveParameters { Force = true }).ConfigureAwait(false); }
            catch (Exception) { /* already gone */ }
        }
    }
}
