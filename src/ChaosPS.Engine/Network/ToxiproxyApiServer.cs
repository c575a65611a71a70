using System.Globalization;
using System.Net;
using ChaosPS.Http;

namespace ChaosPS.Network;

/// <summary>
/// toxiproxy's HTTP API over a <see cref="ProxyCollection"/>: the same paths, verbs, JSON fields, status codes and
/// error bodies ({"error":...,"status":N}), so toxiproxy clients work unchanged. It runs on the engine's HTTP/1.1
/// server (<see cref="HttpServer"/>: keep-alive, Content-Length and chunked request bodies) on a loopback socket;
/// no web framework needed in the session. This file is start/stop and the toxiproxy headers; the routes and
/// handlers are in ToxiproxyApiRoutes.cs, toxiproxy-shaped JSON (bodies, errors, Go-style decoding messages) in
/// ToxiproxyJson.cs.
/// </summary>
public sealed partial class ToxiproxyApiServer : IAsyncDisposable
{
    public const string Version = "2.12.0";
    private readonly ProxyCollection _proxies;
    private readonly HttpServer _server;
    private long _requestId;

    /// <summary>toxiproxy's limits and answers on the shared server: chunked bodies accepted, 16 MiB bodies, 60 s idle
    /// connections, TIME_WAIT reuse only (no second listener on the port), errors in toxiproxy's JSON shape.</summary>
    private static readonly HttpServerOptions ServerOptions = new()
    {
        ChunkedRequestBodies = true,
        MaxHeaderBytes = 16 * 1024,
        MaxBodyBytes = 16 * 1024 * 1024,
        IdleTimeout = TimeSpan.FromSeconds(60),
        Backlog = 128,
        ConfigureListener = ListenAddress.AllowTimeWaitReuse,
        DrainTimeout = TimeSpan.FromSeconds(2),
        ErrorBody = (status, message) =>
        {
            var r = ToxiproxyJson.Error(status, message);
            return (r.ContentType, r.Body);
        },
    };

    private ToxiproxyApiServer(ProxyCollection proxies, IPEndPoint ep)
    {
        _proxies = proxies;
        _server = new HttpServer(ep, ServeAsync, ServerOptions);
        Listen = ListenAddress.Format(_server.LocalEndPoint);
        _server.Start();
    }

    public string Listen { get; }
    public Uri Uri => new($"http://{Listen}/");
    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;
    public long Requests => Interlocked.Read(ref _requestId);

    private static readonly object ServersLock = new();
    private static readonly List<ToxiproxyApiServer> Running = [];
    public static IReadOnlyList<ToxiproxyApiServer> Servers { get { lock (ServersLock) return [.. Running]; } }

    /// <summary>Starts serving; non-loopback addresses need <paramref name="allowNonLoopback"/>. Errors name the address.</summary>
    public static ToxiproxyApiServer Start(string listen, ProxyCollection? proxies = null, bool allowNonLoopback = false)
    {
        var ep = ListenAddress.Resolve(listen, allowNonLoopback);
        ToxiproxyApiServer server;
        try { server = new ToxiproxyApiServer(proxies ?? ProxyCollection.Default, ep); }
        catch (ChaosException e) when (e.InnerException is System.Net.Sockets.SocketException se)
        {
            var (id, category, reason) = ListenErrors.Describe(se);
            throw new ProxyException(500, $"listen tcp {ListenAddress.Format(ep)}: bind: {reason}", id, category,
                $"The proxy API server cannot listen on {ListenAddress.Format(ep)}: {reason}.", listen,
                "Choose another port (toxiproxy's default is 8474), or stop what listens there.", se);
        }
        lock (ServersLock) Running.Add(server);
        return server;
    }

    /// <summary>Stops listening at once; requests in flight get up to 2 s to answer.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (ServersLock) Running.Remove(this);
        await _server.StopAsync().ConfigureAwait(false);
    }

    public void Stop() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    internal sealed record Request(string Method, string Path, Dictionary<string, string> Headers, byte[] Body);
    internal sealed record Response(int Status, string ContentType, byte[] Body);

    /// <summary>One request: toxiproxy's routing sees the method upper-cased and the path unescaped; every answer
    /// carries X-Toxiproxy-Request-Id and Date, and text/plain ones X-Content-Type-Options: nosniff, as toxiproxy's do.</summary>
    private Task ServeAsync(HttpRequest req, HttpResponse resp)
    {
        var resp2 = Handle(new Request(req.Method.ToUpperInvariant(), Uri.UnescapeDataString(req.Path), req.Headers, req.Body));
        var id = Interlocked.Increment(ref _requestId).ToString("x12", CultureInfo.InvariantCulture);
        var date = DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture);
        return resp2.ContentType.StartsWith("text/plain", StringComparison.Ordinal)
            ? resp.SendAsync(resp2.Status, resp2.ContentType, resp2.Body, ("X-Toxiproxy-Request-Id", id), ("Date", date), ("X-Content-Type-Options", "nosniff"))
            : resp.SendAsync(resp2.Status, resp2.ContentType, resp2.Body, ("X-Toxiproxy-Request-Id", id), ("Date", date));
    }
}
