using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using ChaosPS.Http;

namespace ChaosPS.Testbed;

/// <summary>
/// An inference worker: `worker --id w1 --port N [--token-delay-ms 20] [--max-concurrency 64] [--data DIR]
/// [--startup-ms 0] [--ignore-term]`. POST /v1/infer {prompt, max_tokens, stream} produces tokens at the per-token
/// delay, as JSON or server-sent events; past --max-concurrency it answers 429; when it cannot write its data folder
/// (a full disk) it answers 507; malformed input gets a 400 with a JSON error. GET /health, GET /metrics.
/// POST /admin/allocate {"mb":N} makes it allocate (and touch) memory, to let OOM faults hit the worker itself.
/// Deliberate defects (`--defects A,B`, see <see cref="ChaosPS.Testbed.TestbedDefects"/>): NoShedding queues past
/// --max-concurrency instead of answering 429; IgnoreDiskFull answers 200 when the data folder cannot be written;
/// ErrorEveryNth answers 500 to every --error-every'th inference request; UnhealthyAfterRestart makes a worker that
/// finds its start marker in its data folder (so: started before, a restart) answer /health 200 but 500 to every
/// inference request, like a server whose liveness check passes while its model failed to load.
/// </summary>
public sealed class Worker
{
    /// <summary>The server stops when the program ends; requests in flight are not waited for (the worker drained them already).</summary>
    private static readonly HttpServerOptions StopAtOnce = new() { DrainTimeout = TimeSpan.Zero };

    private static readonly string[] Vocabulary =
        ("the a of to and in is it that for on with as was at by an be this from or are not have but all " +
         "system worker router token stream chaos load stress recover latency probe signal memory disk network " +
         "request answer model infer queue shed retry health ready fault steady state hypothesis").Split(' ');

    private readonly string _id;
    private readonly int _tokenDelayMs;
    private readonly int _maxConcurrency;
    private readonly string? _dataDir;
    private readonly long _readyAt;
    private readonly List<byte[]> _ballast = [];
    private int _inflight;
    private long _served, _rejected429, _rejected507, _badRequests;
    // Deliberate defects.
    private readonly HashSet<string> _defects;
    private readonly SemaphoreSlim? _queue;          // NoShedding: requests wait here instead of getting a 429
    private readonly bool _ignoreDiskFull;
    private readonly int _errorEvery;                // ErrorEveryNth: 0 = off
    private readonly bool _brokenModel;              // UnhealthyAfterRestart, and this start is a restart
    private int _waiting;
    private long _queuedTotal, _diskErrorsIgnored, _injected500, _nth;

    private Worker(Options o)
    {
        _id = o.Require("id");
        _tokenDelayMs = o.Int("token-delay-ms", 20);
        _maxConcurrency = o.Int("max-concurrency", 64);
        _dataDir = o.Get("data");
        _readyAt = Environment.TickCount64 + o.Int("startup-ms", 0);
        _defects = ChaosPS.Testbed.TestbedDefects.Parse(o.Get("defects"));
        if (_defects.Contains(ChaosPS.Testbed.TestbedDefects.NoShedding)) _queue = new SemaphoreSlim(_maxConcurrency, _maxConcurrency);
        _ignoreDiskFull = _defects.Contains(ChaosPS.Testbed.TestbedDefects.IgnoreDiskFull);
        if (_defects.Contains(ChaosPS.Testbed.TestbedDefects.ErrorEveryNth)) _errorEvery = Math.Max(2, o.Int("error-every", ChaosPS.Testbed.TestbedDefects.DefaultErrorEvery));
        if (_defects.Contains(ChaosPS.Testbed.TestbedDefects.UnhealthyAfterRestart)) _brokenModel = StartedBefore();
    }

    /// <summary>
    /// True when this worker's start marker is already in its data folder: a previous run of the same worker wrote it,
    /// so this start is a restart (the same for a host process and a container, whose /data is the same folder).
    /// </summary>
    private bool StartedBefore()
    {
        if (_dataDir is null) return false;
        var marker = Path.Combine(_dataDir, $".started-{_id}");
        if (File.Exists(marker)) return true;
        try { File.WriteAllText(marker, $"{DateTimeOffset.UtcNow:O} pid {Environment.ProcessId}\n"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return false;
    }

    public static async Task<int> RunAsync(Options o, CancellationToken ct)
    {
        var w = new Worker(o);
        var port = o.Int("port", 0);
        var ignoreTerm = o.Flag("ignore-term");
        HttpServer server;
        try { server = new HttpServer(new IPEndPoint(IPAddress.Parse(o.Get("bind") ?? "127.0.0.1"), port), w.Handle, StopAtOnce); }
        catch (ChaosException e) when (e.ErrorId == "ListenAddressInUse")
        {
            Console.WriteLine($"worker {w._id}: port {port} is already in use");
            return ExitCodes.AddressInUse;
        }
        await using var _ = server;
        server.Start();
        Console.WriteLine($"worker {w._id} listening on 127.0.0.1:{server.Port} pid {Environment.ProcessId}");
        if (w._defects.Count > 0) Console.WriteLine($"worker {w._id} deliberate defects: {string.Join(",", w._defects)}{(w._brokenModel ? " (restarted: every inference request fails)" : "")}");
        if (ignoreTerm) Console.WriteLine("worker ignores SIGTERM");
        var done = new TaskCompletionSource();
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true; // never let the runtime exit on its own: we drain (or ignore) first
            if (!ignoreTerm) done.TrySetResult();
            else Console.WriteLine("SIGTERM received and ignored");
        });
        using var reg = ct.Register(() => done.TrySetResult());
        await done.Task;
        // Drain: stop taking new requests, let in-flight ones finish for up to 5 s.
        var sw = Stopwatch.StartNew();
        while (Volatile.Read(ref w._inflight) > 0 && sw.Elapsed < TimeSpan.FromSeconds(5)) await Task.Delay(20);
        Console.WriteLine($"worker {w._id} stopped after serving {w._served} requests");
        return 0;
    }

    private async Task Handle(HttpRequest req, HttpResponse resp)
    {
        switch (req.Method, req.Path)
        {
            case ("GET", "/health"):
                bool ready = Environment.TickCount64 >= _readyAt;
                await resp.SendJsonAsync(ready ? 200 : 503,
                    $"{{\"status\":\"{(ready ? "ok" : "starting")}\",\"id\":\"{_id}\",\"pid\":{Environment.ProcessId},\"inflight\":{Volatile.Read(ref _inflight)},\"max_concurrency\":{_maxConcurrency}}}");
                return;
            case ("GET", "/metrics"):
                await resp.SendAsync(200, "text/plain; version=0.0.4", Encoding.UTF8.GetBytes(
                    $"chaosps_worker_requests_total{{worker=\"{_id}\"}} {Interlocked.Read(ref _served)}\n" +
                    $"chaosps_worker_rejected_total{{worker=\"{_id}\",reason=\"concurrency\"}} {Interlocked.Read(ref _rejected429)}\n" +
                    $"chaosps_worker_rejected_total{{worker=\"{_id}\",reason=\"disk\"}} {Interlocked.Read(ref _rejected507)}\n" +
                    $"chaosps_worker_bad_requests_total{{worker=\"{_id}\"}} {Interlocked.Read(ref _badRequests)}\n" +
                    $"chaosps_worker_inflight{{worker=\"{_id}\"}} {Volatile.Read(ref _inflight)}\n" +
                    $"chaosps_worker_ballast_bytes{{worker=\"{_id}\"}} {_ballast.Sum(b => (long)b.Length)}\n" +
                    $"chaosps_worker_queued{{worker=\"{_id}\"}} {Volatile.Read(ref _waiting)}\n" +
                    $"chaosps_worker_queued_total{{worker=\"{_id}\"}} {Interlocked.Read(ref _queuedTotal)}\n" +
                    $"chaosps_worker_disk_errors_ignored_total{{worker=\"{_id}\"}} {Interlocked.Read(ref _diskErrorsIgnored)}\n" +
                    $"chaosps_worker_injected_errors_total{{worker=\"{_id}\"}} {Interlocked.Read(ref _injected500)}\n"));
                return;
            case ("POST", "/v1/infer"):
                await Infer(req, resp);
                return;
            case ("POST", "/admin/allocate"):
                await Allocate(req, resp);
                return;
            case ("POST", "/admin/free"):
                lock (_ballast) _ballast.Clear();
                GC.Collect();
                await resp.SendJsonAsync(200, "{\"freed\":true}");
                return;
            case (_, "/health" or "/metrics" or "/v1/infer"):
                await resp.SendJsonAsync(405, "{\"error\":{\"type\":\"method_not_allowed\",\"message\":\"method not allowed\"}}");
                return;
            default:
                await resp.SendJsonAsync(404, $"{{\"error\":{{\"type\":\"not_found\",\"message\":{Json.Quote($"no route {req.Path}")}}}}}");
                return;
        }
    }

    private async Task Infer(HttpRequest req, HttpResponse resp)
    {
        if (Environment.TickCount64 < _readyAt)
        {
            await resp.SendJsonAsync(503, "{\"error\":{\"type\":\"starting\",\"message\":\"worker is starting\"}}", ("Retry-After", "1"));
            return;
        }
        if (!TryParse(req, out var prompt, out var maxTokens, out var stream, out var error))
        {
            Interlocked.Increment(ref _badRequests);
            await resp.SendJsonAsync(400, $"{{\"error\":{{\"type\":\"invalid_request\",\"message\":{Json.Quote(error)}}}}}");
            return;
        }
        if (_queue is not null)
        {
            // Defect NoShedding: no bound on waiting; latency grows with the queue instead of a clear 429.
            if (!_queue.Wait(0))
            {
                Interlocked.Increment(ref _queuedTotal);
                Interlocked.Increment(ref _waiting);
                try { await _queue.WaitAsync(); }
                finally { Interlocked.Decrement(ref _waiting); }
            }
            Interlocked.Increment(ref _inflight);
        }
        else if (Interlocked.Increment(ref _inflight) > _maxConcurrency)
        {
            Interlocked.Decrement(ref _inflight);
            Interlocked.Increment(ref _rejected429);
            await resp.SendJsonAsync(429, $"{{\"error\":{{\"type\":\"overloaded\",\"message\":\"worker {_id} is at its concurrency limit ({_maxConcurrency})\"}}}}", ("Retry-After", "1"));
            return;
        }
        try
        {
            if (_brokenModel)
            {
                Interlocked.Increment(ref _injected500);
                await resp.SendJsonAsync(500, $"{{\"error\":{{\"type\":\"model_not_loaded\",\"message\":\"worker {_id} restarted but its model did not load\"}}}}");
                return;
            }
            if (_errorEvery > 0 && Interlocked.Increment(ref _nth) % _errorEvery == 0)
            {
                Interlocked.Increment(ref _injected500);
                await resp.SendJsonAsync(500, $"{{\"error\":{{\"type\":\"internal\",\"message\":\"worker {_id} failed (every {_errorEvery}th request)\"}}}}");
                return;
            }
            bool written = Journal(prompt);
            if (!written && _ignoreDiskFull)
            {
                // Defect IgnoreDiskFull: the record is lost, the client is told all is well.
                Interlocked.Increment(ref _diskErrorsIgnored);
            }
            else if (!written)
            {
                Interlocked.Increment(ref _rejected507);
                await resp.SendJsonAsync(507, $"{{\"error\":{{\"type\":\"insufficient_storage\",\"message\":\"worker {_id} cannot write its data folder (disk full?)\"}}}}");
                return;
            }
            var seed = (uint)prompt.GetHashCode();
            var headers = new[] { ("X-ChaosPS-Worker", _id) };
            if (stream)
            {
                await resp.StartChunkedAsync(200, "text/event-stream", headers);
                for (int i = 0; i < maxTokens; i++)
                {
                    if (_tokenDelayMs > 0) await Task.Delay(_tokenDelayMs);
                    var token = Vocabulary[(seed + (uint)i * 2654435761u) % (uint)Vocabulary.Length];
                    await resp.WriteChunkAsync(Encoding.UTF8.GetBytes($"data: {{\"index\":{i},\"token\":\"{token}\",\"worker\":\"{_id}\"}}\n\n"));
                }
                await resp.WriteChunkAsync("data: [DONE]\n\n"u8.ToArray());
                await resp.EndChunkedAsync();
            }
            else
            {
                var sb = new StringBuilder();
                for (int i = 0; i < maxTokens; i++)
                {
                    if (_tokenDelayMs > 0) await Task.Delay(_tokenDelayMs);
                    if (i > 0) sb.Append(' ');
                    sb.Append(Vocabulary[(seed + (uint)i * 2654435761u) % (uint)Vocabulary.Length]);
                }
                int promptTokens = prompt.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length;
                await resp.SendJsonAsync(200,
                    $"{{\"id\":\"{_id}-{Interlocked.Read(ref _served)}\",\"worker\":\"{_id}\",\"model\":\"chaosps-tiny\",\"text\":{Json.Quote(sb.ToString())}," +
                    $"\"usage\":{{\"prompt_tokens\":{promptTokens},\"completion_tokens\":{maxTokens}}}}}", headers);
            }
            Interlocked.Increment(ref _served);
        }
        finally
        {
            Interlocked.Decrement(ref _inflight);
            _queue?.Release();
        }
    }

    private static bool TryParse(HttpRequest req, out string prompt, out int maxTokens, out bool stream, out string error)
    {
        prompt = ""; maxTokens = 16; stream = false; error = "";
        if (req.Body.Length == 0) { error = "request body must be a JSON object with a 'prompt'"; return false; }
        try
        {
            using var doc = JsonDocument.Parse(req.Body);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) { error = "request body must be a JSON object"; return false; }
            if (!root.TryGetProperty("prompt", out var p) || p.ValueKind != JsonValueKind.String || p.GetString()!.Length == 0)
            { error = "'prompt' must be a non-empty string"; return false; }
            prompt = p.GetString()!;
            if (root.TryGetProperty("max_tokens", out var m))
            {
                if (m.ValueKind != JsonValueKind.Number || !m.TryGetInt32(out maxTokens) || maxTokens < 1 || maxTokens > 4096)
                { error = "'max_tokens' must be an integer from 1 to 4096"; return false; }
            }
            if (root.TryGetProperty("stream", out var s))
            {
                if (s.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) { error = "'stream' must be true or false"; return false; }
                stream = s.GetBoolean();
            }
            return true;
        }
        catch (JsonException e)
        {
            error = $"malformed JSON: {e.Message}";
            return false;
        }
    }

    /// <summary>
    /// Persists a 4 KB request record to the data folder (written, flushed, then removed: a spool file, so the folder
    /// never grows). Each request needs fresh blocks, so a full disk (ENOSPC), a read-only or vanished folder shows at
    /// once; returns false then.
    /// </summary>
    private bool Journal(string prompt)
    {
        if (_dataDir is null) return true;
        var path = Path.Combine(_dataDir, $"spool-{_id}-{Environment.CurrentManagedThreadId}-{Interlocked.Increment(ref _spool)}.rec");
        try
        {
            using (var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1))
            {
                var record = RecordTemplate.Value;
                System.Text.Encoding.UTF8.GetBytes($"{DateTimeOffset.UtcNow:O} {prompt.Length}\n", record);
                fs.Write(record);
                fs.Flush();
            }
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
        finally
        {
            try { File.Delete(path); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    private static readonly ThreadLocal<byte[]> RecordTemplate = new(() => new byte[4096]);
    private long _spool;

    private async Task Allocate(HttpRequest req, HttpResponse resp)
    {
        int mb;
        try { using var doc = JsonDocument.Parse(req.Body); mb = doc.RootElement.GetProperty("mb").GetInt32(); }
        catch (Exception) { await resp.SendJsonAsync(400, "{\"error\":{\"type\":\"invalid_request\",\"message\":\"body must be {\\\"mb\\\": N}\"}}"); return; }
        for (int i = 0; i < mb; i++)
        {
            var block = GC.AllocateUninitializedArray<byte>(1024 * 1024);
            for (int j = 0; j < block.Length; j += 4096) block[j] = 1; // touch every page: resident, not just reserved
            lock (_ballast) _ballast.Add(block);
        }
        await resp.SendJsonAsync(200, $"{{\"allocated_mb\":{mb},\"ballast_mb\":{_ballast.Count}}}");
    }
}
