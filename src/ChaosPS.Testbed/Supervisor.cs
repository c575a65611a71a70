using System.Diagnostics;
using ChaosPS.Docker;
using ChaosPS.Testbed;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace ChaosPS.Testbed;

/// <summary>
/// The supervisor: `supervisor --run DIR` reads DIR/config.json, starts the router and the workers (host processes,
/// or containers for the Docker runtime), restarts any that die with exponential back-off (from BackoffInitialMs,
/// doubling to BackoffMaxMs, reset after 10 s of healthy running), writes DIR/state.json on every change, and on
/// SIGTERM — or when the PowerShell process that owns the system dies — stops everything it started.
/// With the deliberate defect NoRestart it leaves a worker that died dead (state "exited"); the router is still
/// restarted. Every process of the system gets the list of defects (`--defects`).
/// </summary>
public sealed class Supervisor
{
    private readonly TestbedConfig _cfg;
    private readonly TestbedState _state = new();
    private readonly object _gate = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly string _logDir;
    private readonly Dictionary<string, Process> _procs = new();
    private DockerClient? _docker;
    private readonly bool _noRestart;

    private Supervisor(TestbedConfig cfg)
    {
        _cfg = cfg;
        _logDir = Path.Combine(cfg.RunDirectory, "logs");
        Directory.CreateDirectory(_logDir);
        _state.SupervisorPid = Environment.ProcessId;
        _state.SupervisorStartStamp = ProcessIdentity.StartStamp(Environment.ProcessId);
        foreach (var w in cfg.Workers) _state.Workers.Add(new WorkerState { Id = w.Id, Port = w.Port });
        _state.RouterPort = cfg.RouterPort;
        _noRestart = cfg.Defects.Contains(TestbedDefects.NoRestart, StringComparer.OrdinalIgnoreCase);
    }

    public static async Task<int> RunAsync(Options o, CancellationToken ct)
    {
        var run = o.Require("run");
        var cfg = TestbedFiles.Read<TestbedConfig>(Path.Combine(run, "config.json")) ?? throw new ArgumentException($"no config.json in {run}");
        var s = new Supervisor(cfg);
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; s._stopping.Cancel(); });
        using var reg = ct.Register(() => s._stopping.Cancel());
        return await s.RunAsync();
    }

    private async Task<int> RunAsync()
    {
        Log($"supervisor {Environment.ProcessId} for target {_cfg.Id} ({_cfg.Runtime}, {_cfg.Workers.Count} workers)");
        if (_cfg.Defects.Count > 0) Log($"deliberate defects: {string.Join(",", _cfg.Defects)}");
        var tasks = new List<Task>();
        try
        {
            if (_cfg.Runtime == "Docker")
            {
                _docker = DockerEngine.CreateClient(_cfg.DockerEndpoint, apiVersion: _cfg.DockerApiVersion);
                foreach (var w in _cfg.Workers) tasks.Add(SuperviseContainer(w));
            }
            else
            {
                foreach (var w in _cfg.Workers)
                    tasks.Add(SuperviseProcess(w.Id, () => WorkerArgs(w, "127.0.0.1"), pid => SetWorker(w.Id, ws => { ws.ProcessId = pid; }), () => MoveWorker(w), restart: !_noRestart));
            }
            tasks.Add(SuperviseProcess("router", RouterArgs, pid => { lock (_gate) _state.RouterPid = pid; }, MoveRouter));
            tasks.Add(WatchOwner());
            lock (_gate) _state.Status = "running";
            Save();
            await Task.WhenAny(Task.Delay(Timeout.Infinite, _stopping.Token).ContinueWith(_ => { }), Task.WhenAll(tasks));
        }
        catch (Exception e)
        {
            Log($"supervisor failed: {e}");
            lock (_gate) _state.Error = e.Message;
        }
        await ShutdownAsync();
        await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { })));
        return 0;
    }

    private List<string> WorkerArgs(WorkerConfig w, string bind)
    {
        var a = new List<string> { "worker", "--id", w.Id, "--port", w.Port.ToString(), "--bind", bind,
            "--token-delay-ms", _cfg.TokenDelayMs.ToString(), "--max-concurrency", _cfg.MaxConcurrency.ToString(),
            "--startup-ms", _cfg.StartupMs.ToString(), "--testbed", _cfg.Id };
        if (!string.IsNullOrEmpty(w.DataPath)) { a.Add("--data"); a.Add(_cfg.Runtime == "Docker" ? "/data" : w.DataPath); }
        if (w.IgnoreTerm) a.Add("--ignore-term");
        AddDefects(a);
        return a;
    }

    /// <summary>Every process (and container) gets the same list; each acts on the defects that concern it.</summary>
    private void AddDefects(List<string> a)
    {
        if (_cfg.Defects.Count == 0) return;
        a.Add("--defects"); a.Add(string.Join(",", _cfg.Defects));
        if (_cfg.Defects.Contains(TestbedDefects.ErrorEveryNth, StringComparer.OrdinalIgnoreCase)) { a.Add("--error-every"); a.Add(_cfg.ErrorEvery.ToString()); }
    }

    private List<string> RouterArgs()
    {
        List<string> a = ["router", "--port", _cfg.RouterPort.ToString(), "--attempt-timeout-ms", _cfg.AttemptTimeoutMs.ToString(), "--testbed", _cfg.Id,
         "--state", Path.Combine(_cfg.RunDirectory, "state.json"),
         "--workers", string.Join(",", _cfg.Workers.Select(w => $"{w.Id}=http://127.0.0.1:{w.Port}"))];
        AddDefects(a);
        return a;
    }

    // A port taken by someone else since it was picked: move to a free one (the router follows state.json).
    private void MoveWorker(WorkerConfig w)
    {
        int old = w.Port;
        w.Port = TestbedLauncher.FreePorts(1)[0];
        SetWorker(w.Id, ws => ws.Port = w.Port);
        Log($"{w.Id}: port {old} is taken; moving to {w.Port}");
    }

    private void MoveRouter()
    {
        int old = _cfg.RouterPort;
        _cfg.RouterPort = TestbedLauncher.FreePorts(1)[0];
        lock (_gate) _state.RouterPort = _cfg.RouterPort;
        Log($"router: port {old} is taken; moving to {_cfg.RouterPort}");
    }

    private async Task SuperviseProcess(string id, Func<List<string>> args, Action<int> started, Action addressInUse, bool restart = true)
    {
        int failures = 0;
        while (!_stopping.IsCancellationRequested)
        {
            var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
            psi.ArgumentList.Add("-c");
            psi.ArgumentList.Add("log=\"$1\"; shift; exec \"$@\" >>\"$log\" 2>&1 </dev/null");
            psi.ArgumentList.Add("sh");
            psi.ArgumentList.Add(Path.Combine(_logDir, id + ".log"));
            psi.ArgumentList.Add(_cfg.DotnetHost);
            psi.ArgumentList.Add(_cfg.TargetDll);
            foreach (var a in args()) psi.ArgumentList.Add(a);
            psi.Environment["DOTNET_gcServer"] = "0";
            var startedAt = DateTimeOffset.UtcNow;
            Process p;
            try { p = Process.Start(psi)!; }
            catch (Exception e) { Log($"{id}: start failed: {e.Message}"); await Backoff(id, failures++); continue; }
            lock (_gate) _procs[id] = p;
            started(p.Id);
            SetWorker(id, ws => { ws.State = "running"; ws.LastStartAt = startedAt; });
            Save();
            Log($"{id}: started pid {p.Id}");
            try { await p.WaitForExitAsync(_stopping.Token); }
            catch (OperationCanceledException) { return; }
            int code = p.ExitCode;
            Log($"{id}: pid {p.Id} exited with {Describe(code)}");
            if (DateTimeOffset.UtcNow - startedAt > TimeSpan.FromSeconds(10)) failures = 0;
            if (!restart)
            {
                // Defect NoRestart: the worker stays dead.
                Log($"{id}: not restarted (deliberate defect NoRestart)");
                SetWorker(id, ws => { ws.State = "exited"; ws.LastExitCode = code; ws.LastExitAt = DateTimeOffset.UtcNow; ws.ProcessId = 0; });
                lock (_gate) _procs.Remove(id);
                Save();
                p.Dispose();
                return;
            }
            if (code == ExitCodes.AddressInUse) addressInUse();
            SetWorker(id, ws => { ws.State = "restarting"; ws.LastExitCode = code; ws.LastExitAt = DateTimeOffset.UtcNow; ws.Restarts++; ws.ProcessId = 0; });
            if (id == "router") lock (_gate) _state.RouterRestarts++;
            Save();
            p.Dispose();
            await Backoff(id, failures++);
        }
    }

    private static string Describe(int code) => code > 128 && code < 160 ? $"exit code {code} (signal {PosixSignals.NameOf(code - 128)})" : $"exit code {code}";

    private async Task Backoff(string id, int failures)
    {
        var delay = TimeSpan.FromMilliseconds(Math.Min(_cfg.BackoffMaxMs, _cfg.BackoffInitialMs * Math.Pow(2, Math.Min(failures, 20))));
        Log($"{id}: restarting in {delay.TotalMilliseconds:0} ms");
        try { await Task.Delay(delay, _stopping.Token); } catch (OperationCanceledException) { }
    }

    private async Task SuperviseContainer(WorkerConfig w)
    {
        var name = $"chaosps-{_cfg.Id}-{w.Id}";
        var cmd = new List<string> { "/dotnet/dotnet", "/app/" + Path.GetFileName(_cfg.TargetDll) };
        cmd.AddRange(WorkerArgs(w, "127.0.0.1"));
        int failures = 0;
        string? id = null;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                if (id is null)
                {
                    var created = await _docker!.Containers.CreateContainerAsync(new CreateContainerParameters
                    {
                        Name = name,
                        Image = _cfg.Image,
                        Cmd = cmd,
                        Env = ["DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=1", "DOTNET_gcServer=0", "DOTNET_CLI_TELEMETRY_OPTOUT=1"],
                        Labels = new Dictionary<string, string> { ["chaosps.testbed"] = _cfg.Id, ["chaosps.worker"] = w.Id, ["chaosps.owner-pid"] = _cfg.OwnerPid.ToString() },
                        HostConfig = new HostConfig
                        {
                            NetworkMode = "host",
                            Binds = string.IsNullOrEmpty(w.DataPath) ? null : [$"{w.DataPath}:/data"],
                            Init = false,
                        },
                    }, _stopping.Token);
                    id = created.ID;
                    SetWorker(w.Id, ws => { ws.ContainerId = id; ws.ContainerName = name; });
                }
                var before = await _docker!.Containers.InspectContainerAsync(id, _stopping.Token);
                var startedAt = DateTimeOffset.UtcNow;
                if (before.State.Running != true)
                    await _docker.Containers.StartContainerAsync(id, new ContainerStartParameters(), _stopping.Token);
                var info = await _docker.Containers.InspectContainerAsync(id, _stopping.Token);
                SetWorker(w.Id, ws => { ws.State = "running"; ws.ProcessId = (int)info.State.Pid; ws.LastStartAt = startedAt; });
                Save();
                Log($"{w.Id}: container {name} running (host pid {info.State.Pid})");
                var wait = await _docker.Containers.WaitContainerAsync(id, _stopping.Token);
                var after = await _docker.Containers.InspectContainerAsync(id, _stopping.Token);
                if (after.State.Running == true) continue; // restarted by someone else (docker restart): keep watching
                Log($"{w.Id}: container exited with {Describe((int)wait.StatusCode)}{(after.State.OOMKilled == true ? " (OOM killed)" : "")}");
                if (_noRestart)
                {
                    // Defect NoRestart: the container stays exited (it is removed when the system stops).
                    Log($"{w.Id}: not restarted (deliberate defect NoRestart)");
                    SetWorker(w.Id, ws => { ws.State = "exited"; ws.LastExitCode = (int)wait.StatusCode; ws.LastOomKilled = after.State.OOMKilled == true; ws.LastExitAt = DateTimeOffset.UtcNow; ws.ProcessId = 0; });
                    Save();
                    return;
                }
                if (wait.StatusCode == ExitCodes.AddressInUse)
                {
                    // The port is part of the container's command: recreate it on a free one.
                    MoveWorker(w);
                    cmd.Clear(); cmd.Add("/dotnet/dotnet"); cmd.Add("/app/" + Path.GetFileName(_cfg.TargetDll)); cmd.AddRange(WorkerArgs(w, "127.0.0.1"));
                    await _docker.Containers.RemoveContainerAsync(id, new ContainerRemoveParameters { Force = true }, _stopping.Token);
                    id = null;
                }
                if (DateTimeOffset.UtcNow - startedAt > TimeSpan.FromSeconds(10)) failures = 0;
                SetWorker(w.Id, ws => { ws.State = "restarting"; ws.LastExitCode = (int)wait.StatusCode; ws.LastOomKilled = after.State.OOMKilled == true; ws.LastExitAt = DateTimeOffset.UtcNow; ws.Restarts++; ws.ProcessId = 0; });
                Save();
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested) { return; }
            catch (DockerContainerNotFoundException)
            {
                Log($"{w.Id}: container {name} was removed; recreating");
                id = null;
            }
            catch (Exception e)
            {
                Log($"{w.Id}: {e.GetType().Name}: {e.Message}");
            }
            await Backoff(w.Id, failures++);
        }
    }

    private async Task WatchOwner()
    {
        if (_cfg.OwnerPid <= 0) return;
        while (!_stopping.IsCancellationRequested)
        {
            if (!ProcessIdentity.IsAlive(_cfg.OwnerPid, _cfg.OwnerStartStamp))
            {
                Log($"owner process {_cfg.OwnerPid} is gone: stopping the target");
                _stopping.Cancel();
                return;
            }
            try { await Task.Delay(500, _stopping.Token); } catch (OperationCanceledException) { return; }
        }
    }

    private async Task ShutdownAsync()
    {
        lock (_gate) _state.Status = "stopping";
        Save();
        Log("stopping");
        List<Process> procs;
        lock (_gate) procs = _procs.Values.ToList();
        foreach (var p in procs) { try { if (!p.HasExited) PosixSignals.Send(p.Id, 15); } catch (Exception) { } }
        var deadline = DateTime.UtcNow.AddSeconds(3);
        foreach (var p in procs)
        {
            try
            {
                var left = deadline - DateTime.UtcNow;
                if (left > TimeSpan.Zero) p.WaitForExit(left);
                if (!p.HasExited) { Log($"pid {p.Id} ignored SIGTERM: SIGKILL"); p.Kill(); p.WaitForExit(2000); }
            }
            catch (Exception) { }
        }
        if (_docker is not null)
        {
            foreach (var w in _state.Workers.Where(w => w.ContainerId is not null))
            {
                try { await _docker.Containers.RemoveContainerAsync(w.ContainerId, new ContainerRemoveParameters { Force = true }); }
                catch (Exception e) { Log($"{w.Id}: removing container: {e.Message}"); }
            }
        }
        lock (_gate) { _state.Status = "stopped"; foreach (var w in _state.Workers) { w.State = "stopped"; w.ProcessId = 0; } _state.RouterPid = 0; }
        Save();
        Log("stopped");
    }

    private void SetWorker(string id, Action<WorkerState> change)
    {
        lock (_gate) { var ws = _state.Workers.FirstOrDefault(w => w.Id == id); if (ws is not null) change(ws); }
    }

    private void Save()
    {
        lock (_gate)
        {
            _state.UpdatedAt = DateTimeOffset.UtcNow;
            TestbedFiles.WriteAtomic(Path.Combine(_cfg.RunDirectory, "state.json"), _state);
        }
    }

    private static void Log(string line) => Console.WriteLine($"{DateTimeOffset.UtcNow:yyyy-MM-dd HH:mm:ss.fff} {line}");
}
