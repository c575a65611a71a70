using System.Collections.Concurrent;
using System.Net;
using System.Text;
using ChaosPS.Http;

namespace ChaosPS.Testbed;

/// <summary>
/// The router: `router --port N --workers w1=http://127.0.0.1:P1,w2=... [--attempt-timeout-ms 30000]`.
/// Spreads POST /v1/infer over healthy workers (fewest requests in flight first), retries on another worker when one
/// fails before answering (connection refused or reset, a hung worker past the attempt timeout, 503, 429), and answers
/// 503 with Retry-After when no worker can take the request. Health is probed every 250 ms and a failed forward marks
/// the worker down at once. GET /health, GET /metrics (Prometheus text), GET /workers (JSON).
/// Deliberate defects (`--defects A,B`, see <see cref="ChaosPS.Testbed.TestbedDefects"/>): NoRetry makes one attempt
/// only and answers its failure (502 when the worker failed before answering); NoAttemptTimeout waits on a worker
/// without limit; EmptyBody answers 200 with an empty body. /health and /metrics list every defect of the system.
/// </summary>
public sealed class Router
{
    /// <summary>The server stops when the program ends; requests in flight are not waited for (as before: the router exits at once).</summary>
    private static readonly HttpServerOptions StopAtOnce = new() { DrainTimeout = TimeSpan.Zero };

    private sealed class Backend(string id, Uri uri)
    {
        public string Id { get; } = id;
        private Uri _uri = uri;
        public Uri Uri
        {
            get => _uri;
            set { _uri = value; InferUri = new Uri(value, "/v1/infer"); HealthUri = new Uri(value, "/health"); }
        }
        // Built once per address, not per request or probe.
        public Uri InferUri { get; private set; } = new(uri, "/v1/infer");
        public Uri HealthUri { get; private set; } = new(uri, "/health");
        public volatile bool Healthy;
        public int Inflight;
        public long Forwarded, Failures;
        public int ConsecutiveProbeFailures;
        public DateTimeOffset? DownSince = DateTimeOffset.UtcNow;
    }

    private readonly Backend[] _backends;
    private readonly HttpClient _client;
    private readonly HttpClient _probe;
    private readonly TimeSpan _attemptTimeout;
    private readonly string? _statePath;
    private DateTime _stateSeen;
    private readonly ConcurrentDictionary<int, long> _byStatus = new();
    private long _requests, _retries, _noWorker, _failedNoRetry, _emptied;
    private readonly HashSet<string> _defects;
    private readonly bool _noRetry, _emptyBody;

    private Router(Options o)
    {
        _backends = o.Require("workers").Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(s => s.Split('=', 2)).Select(p => new Backend(p[0], new Uri(p[1]))).ToArray();
        _defects = ChaosPS.Testbed.TestbedDefects.Parse(o.Get("defects"));
        _noRetry = _defects.Contains(ChaosPS.Testbed.TestbedDefects.NoRetry);
        _emptyBody = _defects.Contains(ChaosPS.Testbed.TestbedDefects.EmptyBody);
        _attemptTimeout = _defects.Contains(ChaosPS.Testbed.TestbedDefects.NoAttemptTimeout)
            ? Timeout.InfiniteTimeSpan
            : TimeSpan.FromMilliseconds(o.Int("attempt-timeout-ms", 30000));
        _statePath = o.Get("state");
        _client = new HttpClient(new SocketsHttpHandler
        {
            MaxConnectionsPerServer = int.MaxValue,
            ConnectTimeout = TimeSpan.FromSeconds(2),
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
        }) { Timeout = Timeout.InfiniteTimeSpan };
        _probe = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(1), UseProxy = false, PooledConnectionLifetime = TimeSpan.FromSeconds(5) })
        { Timeout = TimeSpan.FromSeconds(1) };
    }

    public static async Task<int> RunAsync(Options o, CancellationToken ct)
    {
        var r = new Router(o);
        HttpServer server;
        try { server = new HttpServer(new IPEndPoint(IPAddress.Parse(o.Get("bind") ?? "127.0.0.1"), o.Int("port", 0)), r.Handle, StopAtOnce); }
        catch (ChaosException e) when (e.ErrorId == "ListenAddressInUse")
        {
            Console.WriteLine($"router: port {o.Int("port", 0)} is already in use");
            return ExitCodes.AddressInUse;
        }
        await using var _ = server;
        server.Start();
        Console.WriteLine($"router listening on 127.0.0.1:{server.Port} pid {Environment.ProcessId} workers {string.Join(' ', r._backends.Select(b => $"{b.Id}={b.Uri}"))}");
        if (r._defects.Count > 0) Console.WriteLine($"router: deliberate defects of this system: {string.Join(",", r._defects)}");
        var probes = r.ProbeLoop(ct);
        var done = new TaskCompletionSource();
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; done.TrySetResult(); });
        using var reg = ct.Register(() => done.TrySetResult());
        await done.Task;
        return 0;
    }

    private async Task ProbeLoop(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            FollowPortChanges();
            await Task.WhenAll(_backends.Select(Probe));
            try { await Task.Delay(250, ct); } catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>The supervisor moves a worker to another port when its own was taken; follow it.</summary>
    private void FollowPortChanges()
    {
        if (_statePath is null) return;
        try
        {
            var seen = File.GetLastWriteTimeUtc(_statePath);
            if (seen == _stateSeen) return;
            _stateSeen = seen;
            var state = ChaosPS.Testbed.TestbedFiles.Read<ChaosPS.Testbed.TestbedState>(_statePath);
            if (state is null) return;
            foreach (var b in _backends)
            {
                var w = state.Workers.FirstOrDefault(x => x.Id == b.Id);
                if (w is null || w.Port <= 0 || w.Port == b.Uri.Port) continue;
                Console.WriteLine($"{DateTimeOffset.UtcNow:O} worker {b.Id} moved from port {b.Uri.Port} to {w.Port}");
                b.Uri = new UriBuilder(b.Uri) { Port = w.Port }.Uri;
                MarkDown(b, "moved to another port");
            }
        }
        catch (IOException) { }
    }

    private async Task Probe(Backend b)
    {
        bool ok;
        try
        {
            using var resp = await _probe.GetAsync(b.HealthUri);
            ok = resp.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception) { ok = false; }
        if (ok)
        {
            b.ConsecutiveProbeFailures = 0;
            if (!b.Healthy) { b.Healthy = true; b.DownSince = null; Console.WriteLine($"{DateTimeOffset.UtcNow:O} worker {b.Id} healthy"); }
        }
        else if (++b.ConsecutiveProbeFailures >= 2 && b.Healthy) MarkDown(b, "health probe failed");
    }

    private static void MarkDown(Backend b, string why)
    {
        if (!b.Healthy) return;
        b.Healthy = false;
        b.DownSince = DateTimeOffset.UtcNow;
        Console.WriteLine($"{DateTimeOffset.UtcNow:O} worker {b.Id} down: {why}");
    }

    private async Task Handle(HttpRequest req, HttpResponse resp)
    {
        switch (req.Method, req.Path)
        {
            case ("GET", "/health"):
                int healthy = _backends.Count(b => b.Healthy);
                var defects = "[" + string.Join(",", _defects.Order(StringComparer.Ordinal).Select(d => $"\"{d}\"")) + "]";
                if (healthy > 0) await resp.SendJsonAsync(200, $"{{\"status\":\"ok\",\"healthy_workers\":{healthy},\"workers\":{_backends.Length},\"defects\":{defects}}}");
                else await resp.SendJsonAsync(503, $"{{\"status\":\"unavailable\",\"healthy_workers\":0,\"workers\":{_backends.Length},\"defects\":{defects}}}", ("Retry-After", "1"));
                return;
            case ("GET", "/workers"):
                await resp.SendJsonAsync(200, "[" + string.Join(",", _backends.Select(b =>
                    $"{{\"id\":\"{b.Id}\",\"uri\":\"{b.Uri}\",\"healthy\":{(b.Healthy ? "true" : "false")},\"inflight\":{Volatile.Read(ref b.Inflight)},\"forwarded\":{Interlocked.Read(ref b.Forwarded)},\"failures\":{Interlocked.Read(ref b.Failures)}}}")) + "]");
                return;
            case ("GET", "/metrics"):
                await resp.SendAsync(200, "text/plain; version=0.0.4", Encoding.UTF8.GetBytes(Metrics()));
                return;
            case ("POST", "/v1/infer"):
                await Forward(req, resp);
                return;
            default:
                await resp.SendJsonAsync(404, $"{{\"error\":{{\"type\":\"not_found\",\"message\":{Json.Quote($"no route {req.Method} {req.Path}")}}}}}");
                return;
        }
    }

    private string Metrics()
    {
        var sb = new StringBuilder();
        sb.Append("# TYPE chaosps_router_requests_total counter\n");
        sb.Append($"chaosps_router_requests_total {Interlocked.Read(ref _requests)}\n");
        foreach (var (code, n) in _byStatus.OrderBy(kv => kv.Key)) sb.Append($"chaosps_router_responses_total{{code=\"{code}\"}} {n}\n");
        sb.Append($"chaosps_router_retries_total {Interlocked.Read(ref _retries)}\n");
        sb.Append($"chaosps_router_no_worker_total {Interlocked.Read(ref _noWorker)}\n");
        sb.Append("# HELP chaosps_testbed_defect A deliberate defect of this testbed (Start-ChaosTestbed -Defect).\n");
        sb.Append("# TYPE chaosps_testbed_defect gauge\n");
        foreach (var d in _defects.Order(StringComparer.Ordinal)) sb.Append($"chaosps_testbed_defect{{defect=\"{d}\"}} 1\n");
        sb.Append($"chaosps_testbed_defects {_defects.Count}\n");
        sb.Append($"chaosps_router_failed_without_retry_total {Interlocked.Read(ref _failedNoRetry)}\n");
        sb.Append($"chaosps_router_emptied_total {Interlocked.Read(ref _emptied)}\n");
        foreach (var b in _backends)
        {
            sb.Append($"chaosps_router_worker_up{{worker=\"{b.Id}\"}} {(b.Healthy ? 1 : 0)}\n");
            sb.Append($"chaosps_router_worker_inflight{{worker=\"{b.Id}\"}} {Volatile.Read(ref b.Inflight)}\n");
            sb.Append($"chaosps_router_worker_forwarded_total{{worker=\"{b.Id}\"}} {Interlocked.Read(ref b.Forwarded)}\n");
            sb.Append($"chaosps_router_worker_failures_total{{worker=\"{b.Id}\"}} {Interlocked.Read(ref b.Failures)}\n");
        }
        return sb.ToString();
    }

    private Backend? Pick(HashSet<Backend> tried)
    {
        Backend? best = null;
        int start = (int)(Interlocked.Read(ref _requests) % _backends.Length);
        for (int k = 0; k < _backends.Length; k++)
        {
            var b = _backends[(start + k) % _backends.Length];
            if (!b.Healthy || tried.Contains(b)) continue;
            if (best is null || Volatile.Read(ref b.Inflight) < Volatile.Read(ref best.Inflight)) best = b;
        }
        return best;
    }

    private async Task Forward(HttpRequest req, HttpResponse resp)
    {
        Interlocked.Increment(ref _requests);
        var tried = new HashSet<Backend>();
        (int Status, byte[] Body, string Type, string? RetryAfter)? lastAnswer = null;
        (string Worker, string Why)? lastFailure = null;
        while (Pick(tried) is { } b)
        {
            if (_noRetry && tried.Count > 0) break; // defect NoRetry: one attempt, whatever happened to it
            if (tried.Count > 0) Interlocked.Increment(ref _retries);
            tried.Add(b);
            Interlocked.Increment(ref b.Inflight);
            try
            {
                using var msg = new HttpRequestMessage(HttpMethod.Post, b.InferUri) { Content = new ByteArrayContent(req.Body) };
                msg.Content.Headers.TryAddWithoutValidation("Content-Type", req.Headers.GetValueOrDefault("Content-Type") ?? "application/json");
                using var attempt = new CancellationTokenSource(_attemptTimeout);
                HttpResponseMessage answer;
                try
                {
                    answer = await _client.SendAsync(msg, HttpCompletionOption.ResponseHeadersRead, attempt.Token);
                }
                catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
                {
                    Interlocked.Increment(ref b.Failures);
                    var why = e is OperationCanceledException ? $"no answer within {_attemptTimeout.TotalMilliseconds:0} ms" : e.Message;
                    MarkDown(b, why);
                    lastFailure = (b.Id, why);
                    continue; // failed before answering: try another worker
                }
                using (answer)
                {
                    int status = (int)answer.StatusCode;
                    var type = answer.Content.Headers.ContentType?.ToString() ?? "application/json";
                    var headers = new List<(string, string)> { ("X-ChaosPS-Worker", b.Id), ("X-ChaosPS-Attempts", tried.Count.ToString()) };
                    if (status is 503 or 429)
                    {
                        // The worker is starting or full: another one may take it; keep the answer in case none can.
                        var body503 = await answer.Content.ReadAsByteArrayAsync(attempt.Token);
                        lastAnswer = (status, body503, type, answer.Headers.RetryAfter?.ToString());
                        continue;
                    }
                    if (type.StartsWith("text/event-stream", StringComparison.OrdinalIgnoreCase))
                    {
                        // Stream tokens through as they come. Once the first byte went out, a failure cannot be
                        // retried: the client sees the stream cut, and the connection is closed.
                        await using var body = await answer.Content.ReadAsStreamAsync(attempt.Token);
                        await resp.StartChunkedAsync(status, type, headers.ToArray());
                        if (_emptyBody && status == 200) Interlocked.Increment(ref _emptied); // defect EmptyBody: no event at all
                        else
                        {
                            var buf = new byte[4096];
                            int n;
                            while ((n = await body.ReadAsync(buf, attempt.Token)) > 0) await resp.WriteChunkAsync(buf.AsMemory(0, n));
                        }
                        await resp.EndChunkedAsync();
                    }
                    else
                    {
                        byte[] content;
                        try { content = await answer.Content.ReadAsByteArrayAsync(attempt.Token); }
                        catch (Exception e) when (e is HttpRequestException or OperationCanceledException or IOException)
                        {
                            Interlocked.Increment(ref b.Failures);
                            MarkDown(b, $"died while answering: {e.Message}");
                            lastFailure = (b.Id, $"died while answering: {e.Message}");
                            continue; // nothing was sent to the client yet: retry elsewhere
                        }
                        if (_emptyBody && status == 200) { content = []; Interlocked.Increment(ref _emptied); } // defect EmptyBody
                        await resp.SendAsync(status, type, content, headers.ToArray());
                    }
                    Interlocked.Increment(ref b.Forwarded);
                    _byStatus.AddOrUpdate(status, 1, (_, v) => v + 1);
                    return;
                }
            }
            finally
            {
                Interlocked.Decrement(ref b.Inflight);
            }
        }
        if (lastAnswer is { } last)
        {
            _byStatus.AddOrUpdate(last.Status, 1, (_, v) => v + 1);
            await resp.SendAsync(last.Status, last.Type, last.Body, ("Retry-After", last.RetryAfter ?? "1"), ("X-ChaosPS-Attempts", tried.Count.ToString()));
            return;
        }
        if (_noRetry && lastFailure is { } failure)
        {
            // Defect NoRetry: the one attempt failed before the worker answered; the client gets the failure.
            Interlocked.Increment(ref _failedNoRetry);
            _byStatus.AddOrUpdate(502, 1, (_, v) => v + 1);
            await resp.SendJsonAsync(502, $"{{\"error\":{{\"type\":\"upstream_failed\",\"message\":{Json.Quote($"worker {failure.Worker} failed: {failure.Why}")}}}}}",
                ("X-ChaosPS-Worker", failure.Worker), ("X-ChaosPS-Attempts", tried.Count.ToString()));
            return;
        }
        Interlocked.Increment(ref _noWorker);
        _byStatus.AddOrUpdate(503, 1, (_, v) => v + 1);
        await resp.SendJsonAsync(503, "{\"error\":{\"type\":\"no_healthy_worker\",\"message\":\"no healthy worker can take the request\"}}",
            ("Retry-After", "1"), ("X-ChaosPS-Attempts", tried.Count.ToString()));
    }
}
