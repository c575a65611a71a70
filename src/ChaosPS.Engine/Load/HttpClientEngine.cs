using System.Diagnostics;
using System.Net;
using System.Net.Http;
using System.Net.Security;
using System.Net.Sockets;

namespace ChaosPS.Load;

/// <summary>
/// The HttpClient engine (SocketsHttpHandler): HTTP/2, and HTTP/1.1 when -Engine HttpClient is asked for. One async
/// loop per connection slot takes work from <see cref="LoadRunContext.NextAsync"/>; the handler's pool holds up to
/// that many connections per server. The connect is timed in the handler's ConnectCallback; the body is read through
/// the same parser as the raw engines so events, checks and byte counts mean the same.
/// </summary>
internal sealed class HttpClientEngine : ILoadEngine
{
    private readonly LoadRunContext _run;
    private readonly int _connections;
    private readonly HttpMessageInvoker _client;

    public HttpClientEngine(LoadRunContext run, int connections)
    {
        _run = run;
        _connections = connections;
        _client = CreateClient(connections);
    }

    public string Name => _run.Options.Http2 ? LoadEngineSelector.HttpClientHttp2 : LoadEngineSelector.HttpClient;

    public Task[] Start()
    {
        var workers = new Task[_connections];
        for (int i = 0; i < _connections; i++) { int id = i; workers[i] = Task.Run(() => WorkerAsync(id)); }
        return workers;
    }

    /// <summary>A hard stop cancels the run's stop token, which every request is linked to.</summary>
    public void Stop(bool hard) { }

    /// <summary>The handler's pool closes idle connections itself.</summary>
    public void ReleaseIdle(int connection) { }

    public void Dispose() => _client.Dispose();

    private HttpMessageInvoker CreateClient(int connections)
    {
        var handler = new SocketsHttpHandler
        {
            MaxConnectionsPerServer = Math.Max(1, connections),
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
            EnableMultipleHttp2Connections = true,
            AllowAutoRedirect = false,
            UseProxy = false,
            ConnectCallback = async (ctx, token) =>
            {
                long a = Stopwatch.GetTimestamp();
                var s = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try { await s.ConnectAsync(ctx.DnsEndPoint, token).ConfigureAwait(false); }
                catch { s.Dispose(); throw; }
                _run.Record(LoadMetrics.HConnect, Stopwatch.GetTimestamp() - a);
                return new NetworkStream(s, ownsSocket: true);
            },
        };
        if (_run.Options.SkipCertificateCheck) handler.SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true };
        return new HttpMessageInvoker(handler);
    }

    private async Task WorkerAsync(int id)
    {
        var o = _run.Options;
        var parser = new Http1ResponseParser { CaptureBody = _run.NeedsBody };
        var buf = new byte[16384];
        long sentAt = 0;
        parser.OnEvent = (now, prev) => _run.Record(prev == 0 ? LoadMetrics.HFirstEvent : LoadMetrics.HInterEvent, now - (prev == 0 ? sentAt : prev));
        while (true)
        {
            var (go, intended, ri) = await _run.NextAsync(id).ConfigureAwait(false);
            if (!go) return;
            var r = o.Requests[ri];
            using var msg = new HttpRequestMessage(new HttpMethod(r.Method), r.Uri)
            {
                Version = o.Http2 ? HttpVersion.Version20 : HttpVersion.Version11,
                VersionPolicy = o.Http2 ? HttpVersionPolicy.RequestVersionExact : HttpVersionPolicy.RequestVersionOrLower,
            };
            if (r.Body is { Length: > 0 }) msg.Content = new ByteArrayContent(r.Body);
            foreach (var (k, v) in r.Headers)
                if (!msg.Headers.TryAddWithoutValidation(k, v)) msg.Content?.Headers.TryAddWithoutValidation(k, v);
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(_run.StopToken);
            cts.CancelAfter(o.Timeout);
            Interlocked.Increment(ref _run.InFlight);
            sentAt = Stopwatch.GetTimestamp();
            parser.Reset(r.Method == "HEAD");
            try
            {
                using var resp = await _client.SendAsync(msg, cts.Token).ConfigureAwait(false);
                long first = Stopwatch.GetTimestamp();
                parser.EventStream = resp.Content.Headers.ContentType?.MediaType == "text/event-stream";
                parser.Chunked = resp.Headers.TransferEncodingChunked == true;
                using var stream = await resp.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false);
                int got;
                while ((got = await stream.ReadAsync(buf, cts.Token).ConfigureAwait(false)) > 0)
                {
                    long now = Stopwatch.GetTimestamp();
                    if (parser.Chunked && !parser.EventStream) parser.Event(now);
                    parser.OnBody(buf.AsSpan(0, got), now);
                }
                Interlocked.Add(ref _run.BytesOut, r.Wire.Length);
                _run.Complete(ri, Math.Clamp((int)resp.StatusCode, 0, 599), intended, sentAt, first, Stopwatch.GetTimestamp(), parser);
            }
            catch (Exception e) when (_run.StoppingHard)
            {
                _ = e; // interrupted by Ctrl+C or the end of the grace period: not a server error
            }
            catch (OperationCanceledException)
            {
                _run.Fail(ri, "timeout", intended, Stopwatch.GetTimestamp());
            }
            catch (Exception e)
            {
                _run.Fail(ri, LoadRunContext.Classify(e), intended, Stopwatch.GetTimestamp());
            }
            finally { Interlocked.Decrement(ref _run.InFlight); }
            await _run.ThinkAsync().ConfigureAwait(false);
        }
    }
}
