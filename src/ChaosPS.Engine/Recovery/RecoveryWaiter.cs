using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using ChaosPS.Chaos;
using ChaosPS.Docker;
using Docker.DotNet;

namespace ChaosPS.Recovery;

/// <summary>One probe's story during Wait-ChaosRecovery.</summary>
public sealed class ProbeResult
{
    /// <summary>Http, Tcp, Container or Process.</summary>
    public string Kind { get; init; } = "";
    public string Name { get; init; } = "";
    public bool Healthy { get; set; }
    /// <summary>The first time this probe saw the fault (unhealthy, or the crashed process/container gone).</summary>
    public DateTimeOffset? DetectedAt { get; set; }
    /// <summary>The first healthy observation after the fault was detected (or, when never detected, after the fault).</summary>
    public DateTimeOffset? RecoveredAt { get; set; }
    public int Attempts { get; set; }
    public int Failures { get; set; }
    public string LastDetail { get; set; } = "";
    public override string ToString() => $"{Kind} {Name}: {(Healthy ? "healthy" : "unhealthy")} ({LastDetail})";
}

/// <summary>What Wait-ChaosRecovery reports.</summary>
public sealed class RecoveryResult
{
    public bool Recovered { get; init; }
    /// <summary>When the fault happened (the earliest piped crash, or when the wait began).</summary>
    public DateTimeOffset FaultAt { get; init; }
    public DateTimeOffset? DetectedAt { get; init; }
    public DateTimeOffset? RecoveredAt { get; init; }
    /// <summary>From the fault to the first probe that saw it.</summary>
    public TimeSpan? TimeToDetect { get; init; }
    /// <summary>From the fault until every probe was healthy (and each crashed worker was back).</summary>
    public TimeSpan? TimeToRecover { get; init; }
    public int Attempts { get; init; }
    public string LastProbe { get; init; } = "";
    public IReadOnlyList<ProbeResult> Probes { get; init; } = [];
    public int CrashCount { get; init; }
    /// <summary>Fault results piped in: crashes and the others (network faults, stress, suspensions).</summary>
    public int FaultCount { get; init; }
    /// <summary>
    /// Piped faults that acted on nothing: a crash whose target still ran afterwards, a network fault with no traffic
    /// through its proxy while it was in force. When every piped fault is here, there was nothing to recover from.
    /// </summary>
    public IReadOnlyList<string> FaultsWithoutEffect { get; init; } = [];
    public TimeSpan Waited { get; init; }
    public override string ToString() => Recovered ? $"Recovered in {DurationParser.Format(TimeToRecover ?? TimeSpan.Zero)}" : $"Not recovered: {LastProbe}";
}

public sealed class RecoveryOptions
{
    public List<string> HttpUris { get; } = [];
    public HashSet<int> ExpectedStatus { get; set; } = [];
    public string? BodyPattern { get; set; }
    public TimeSpan? MaxLatency { get; set; }
    public List<(string Host, int Port)> TcpEndpoints { get; } = [];
    public List<CrashResult> Crashes { get; } = [];
    /// <summary>Piped fault results other than crashes (they only set when the fault ended).</summary>
    public int OtherFaults { get; set; }
    /// <summary>Which of those acted on nothing (<see cref="RecoveryWaiter.WithoutEffect"/>), described for the result.</summary>
    public List<string> OtherFaultsWithoutEffect { get; } = [];
    /// <summary>Containers to watch without a crash result (running, healthy, optionally a restart count at least this).</summary>
    public List<string> Containers { get; } = [];
    public int? MinRestartCount { get; set; }
    /// <summary>Process names that must be running (with a new pid when a crash result names it).</summary>
    public List<string> ProcessNames { get; } = [];
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);
    public TimeSpan Interval { get; set; } = TimeSpan.FromMilliseconds(200);
    public int SuccessThreshold { get; set; } = 1;
    public DateTimeOffset? FaultAt { get; set; }
    public string? DockerEndpoint { get; set; }
}

/// <summary>Probes until the system is healthy again (every probe, the same round) or the timeout passes.</summary>
public static class RecoveryWaiter
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(5), UseProxy = false })
    { Timeout = TimeSpan.FromSeconds(5) };

    public static async Task<RecoveryResult> WaitAsync(RecoveryOptions o, IChaosReporter reporter, CancellationToken ct)
    {
        var probes = new List<(ProbeResult Result, Func<CancellationToken, Task<(bool Healthy, bool Detected, string Detail)>> Check)>();
        foreach (var uri in o.HttpUris)
            probes.Add((new ProbeResult { Kind = "Http", Name = UriRedaction.Redact(uri)! }, c => HttpProbe(uri, o, c)));
        foreach (var (host, port) in o.TcpEndpoints)
            probes.Add((new ProbeResult { Kind = "Tcp", Name = $"{host}:{port}" }, c => TcpProbe(host, port, c)));
        DockerClient? docker = null;
        try
        {
            foreach (var crash in o.Crashes)
            {
                if (crash.Kind == "Container")
                {
                    docker ??= await DockerEngine.ConnectAsync(crash.DockerEndpoint ?? o.DockerEndpoint, ct).ConfigureAwait(false);
                    var d = docker;
                    probes.Add((new ProbeResult { Kind = "Container", Name = crash.Name }, c => WithWorkerHealth(crash.Uri, ContainerProbe(d, crash.ContainerId!, crash.CrashedAt, null, c), c)));
                }
                else
                {
                    probes.Add((new ProbeResult { Kind = "Process", Name = $"{crash.Name}{(crash.WorkerId is null ? "" : " " + crash.WorkerId)} (was pid {crash.ProcessId})" },
                        c => WithWorkerHealth(crash.Uri, Task.FromResult(ProcessProbe(crash)), c)));
                }
            }
            foreach (var id in o.Containers)
            {
                docker ??= await DockerEngine.ConnectAsync(o.DockerEndpoint, ct).ConfigureAwait(false);
                var d = docker;
                probes.Add((new ProbeResult { Kind = "Container", Name = id }, c => ContainerProbe(d, id, null, o.MinRestartCount, c)));
            }
            foreach (var name in o.ProcessNames)
                probes.Add((new ProbeResult { Kind = "Process", Name = name }, c => Task.FromResult(NamedProcessProbe(name))));
            if (probes.Count == 0)
                throw ChaosException.InvalidArgument("NoProbe", "Wait-ChaosRecovery needs something to probe: -Uri, -TcpEndpoint, -ContainerId, -ProcessName, or crash results from the pipeline.", null);

            var faultAt = o.FaultAt ?? (o.Crashes.Count > 0 ? o.Crashes.Min(c => c.CrashedAt) : DateTimeOffset.UtcNow);
            var sw = Stopwatch.StartNew();
            int attempts = 0, streak = 0;
            DateTimeOffset? allHealthySince = null;
            string last = "";
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                attempts++;
                var round = await Task.WhenAll(probes.Select(async p =>
                {
                    (bool Healthy, bool Detected, string Detail) r;
                    try { r = await p.Check(ct).ConfigureAwait(false); }
                    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested) { r = (false, true, e.Message); }
                    return (p.Result, r);
                })).ConfigureAwait(false);
                var now = DateTimeOffset.UtcNow;
                foreach (var (res, r) in round)
                {
                    res.Attempts++;
                    res.LastDetail = r.Detail;
                    if (!r.Healthy) res.Failures++;
                    if ((r.Detected || !r.Healthy) && res.DetectedAt is null) res.DetectedAt = now;
                    if (r.Healthy && !res.Healthy) res.RecoveredAt = now;
                    if (!r.Healthy) res.RecoveredAt = null;
                    res.Healthy = r.Healthy;
                }
                bool all = round.All(x => x.r.Healthy);
                last = string.Join("; ", round.Select(x => x.Result.ToString()));
                if (all) { streak++; allHealthySince ??= now; } else { streak = 0; allHealthySince = null; }
                reporter.Progress(new ProgressInfo("Wait-ChaosRecovery", $"{round.Count(x => x.r.Healthy)}/{round.Length} probes healthy",
                    (int)Math.Min(100, 100 * sw.Elapsed.TotalMilliseconds / o.Timeout.TotalMilliseconds), last,
                    (int)(o.Timeout - sw.Elapsed).TotalSeconds));
                if (streak >= o.SuccessThreshold || sw.Elapsed >= o.Timeout)
                {
                    var results = probes.Select(p => p.Result).ToList();
                    var detected = results.Where(r => r.DetectedAt is not null).Select(r => r.DetectedAt!.Value).DefaultIfEmpty().Min();
                    bool recovered = streak >= o.SuccessThreshold;
                    var recoveredAt = recovered ? allHealthySince : null;
                    return new RecoveryResult
                    {
                        Recovered = recovered,
                        FaultAt = faultAt,
                        DetectedAt = detected == default ? null : detected,
                        RecoveredAt = recoveredAt,
                        TimeToDetect = detected == default ? null : Max0(detected - faultAt),
                        TimeToRecover = recoveredAt is { } ra ? Max0(ra - faultAt) : null,
                        Attempts = attempts,
                        LastProbe = last,
                        Probes = results,
                        CrashCount = o.Crashes.Count,
                        FaultCount = o.Crashes.Count + o.OtherFaults,
                        FaultsWithoutEffect = [.. o.Crashes.Select(WithoutEffect).OfType<string>(), .. o.OtherFaultsWithoutEffect],
                        Waited = sw.Elapsed,
                    };
                }
                try { await Task.Delay(o.Interval, ct).ConfigureAwait(false); }
                catch (OperationCanceledException) { throw; }
            }
        }
        finally { docker?.Dispose(); }
    }

    /// <summary>
    /// How a fault result that acted on nothing is described (null when it took effect, or when that cannot be told):
    /// a crash whose target still ran afterwards, a network fault on a built-in proxy that no traffic met.
    /// </summary>
    public static string? WithoutEffect(object fault) => fault switch
    {
        CrashResult { Survived: true } c => $"{c.Target}: {c.ObservedState}",
        ChaosPS.Network.NetworkFaultResult { NoTraffic: true } n => $"{n.Type} on proxy {n.Proxy}: no connection, byte or refused attempt went through it while the fault was in force",
        _ => null,
    };

    /// <summary>A crashed worker with a known URI is back only when it answers GET /health too.</summary>
    private static async Task<(bool, bool, string)> WithWorkerHealth(string? uri, Task<(bool Healthy, bool Detected, string Detail)> inner, CancellationToken ct)
    {
        var r = await inner.ConfigureAwait(false);
        if (!r.Healthy || uri is null) return r;
        try
        {
            using var resp = await Http.GetAsync(new Uri(new Uri(uri), "/health"), ct).ConfigureAwait(false);
            return resp.IsSuccessStatusCode ? (true, r.Detected, r.Detail + ", /health " + (int)resp.StatusCode)
                : (false, r.Detected, r.Detail + $", but /health answers {(int)resp.StatusCode}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return (false, r.Detected, r.Detail + ", but /health does not answer yet");
        }
    }

    private static TimeSpan Max0(TimeSpan t) => t < TimeSpan.Zero ? TimeSpan.Zero : t;

    private static async Task<(bool, bool, string)> HttpProbe(string uri, RecoveryOptions o, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        try
        {
            using var resp = await Http.GetAsync(uri, ct).ConfigureAwait(false);
            var body = o.BodyPattern is null ? "" : await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            var latency = sw.Elapsed;
            int code = (int)resp.StatusCode;
            bool statusOk = o.ExpectedStatus.Count > 0 ? o.ExpectedStatus.Contains(code) : code is >= 200 and < 300;
            bool bodyOk = o.BodyPattern is null || Regex.IsMatch(body, o.BodyPattern);
            bool latencyOk = o.MaxLatency is null || latency <= o.MaxLatency;
            var detail = $"{code} in {DurationParser.Format(latency)}" + (bodyOk ? "" : ", body did not match") + (latencyOk ? "" : $", slower than {DurationParser.Format(o.MaxLatency!.Value)}");
            return (statusOk && bodyOk && latencyOk, false, detail);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return (false, true, e is TaskCanceledException ? "timed out" : e.Message);
        }
    }

    private static async Task<(bool, bool, string)> TcpProbe(string host, int port, CancellationToken ct)
    {
        using var s = new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var t = CancellationTokenSource.CreateLinkedTokenSource(ct);
        t.CancelAfter(TimeSpan.FromSeconds(3));
        try
        {
            await s.ConnectAsync(host, port, t.Token).ConfigureAwait(false);
            return (true, false, "connected");
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return (false, true, e is SocketException se ? se.SocketErrorCode.ToString() : "timed out");
        }
    }

    /// <summary>Healthy: running, healthy if it has a health check, and started again after the crash (or restarted enough times).</summary>
    private static async Task<(bool, bool, string)> ContainerProbe(DockerClient docker, string id, DateTimeOffset? crashedAt, int? minRestarts, CancellationToken ct)
    {
        global::Docker.DotNet.Models.ContainerInspectResponse r;
        try { r = await docker.Containers.InspectContainerAsync(id, ct).ConfigureAwait(false); }
        catch (DockerContainerNotFoundException) { return (false, true, "removed"); }
        var st = r.State;
        bool running = st?.Running == true && st.Paused != true && st.Restarting != true;
        var health = st?.Health?.Status;
        bool healthy = health is null or "" or "none" or "healthy";
        bool startedAfter = crashedAt is null || (DateTimeOffset.TryParse(st?.StartedAt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var started) && started >= crashedAt.Value.AddMilliseconds(-500));
        bool restartsOk = minRestarts is null || r.RestartCount >= minRestarts;
        bool finishedAfter = crashedAt is not null && DateTimeOffset.TryParse(st?.FinishedAt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var fin) && fin >= crashedAt.Value.AddSeconds(-1);
        var detail = $"{st?.Status}{(health is null or "" ? "" : ", " + health)}, restarts {r.RestartCount}{(st?.OOMKilled == true ? ", OOMKilled" : "")}"
            + (st?.Running == true || st?.Restarting == true ? "" : $", exit code {st?.ExitCode}, restart policy {Crasher.RestartPolicyOf(r)}");
        return (running && healthy && startedAfter && restartsOk, !running || finishedAfter, detail);
    }

    /// <summary>Healthy: a process of the same worker (id or command line, else name) runs under a new pid.</summary>
    private static (bool, bool, string) ProcessProbe(CrashResult crash)
    {
        var old = crash.ProcessId;
        bool oldGone = old is not { } op || ProcessIdentity.ProcessState(op) is 'Z' or 'X' or '?';
        if (!oldGone && crash.ObservedState.StartsWith("running", StringComparison.Ordinal))
            return (true, false, $"pid {old} survived the signal and still runs");
        foreach (var p in ProcessTable.All())
        {
            if (p.Pid == old) continue;
            if (TargetSelector.IsSameWorker(p, crash.WorkerId, crash.CommandLine, crash.Name)) return (true, true, $"back as pid {p.Pid}");
        }
        return (false, oldGone, oldGone ? "not back yet" : $"pid {old} still alive, no replacement");
    }

    private static (bool, bool, string) NamedProcessProbe(string name)
    {
        var p = ProcessTable.All().FirstOrDefault(x => x.Name == name);
        return p is null ? (false, true, "no such process") : (true, false, $"pid {p.Pid}");
    }
}
