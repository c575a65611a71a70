using System.Net;

namespace ChaosPS.Load;

/// <summary>
/// Which engine runs a load test. -Http2 under Auto: the own <see cref="Http2Engine"/> (h2c by prior knowledge, TLS with
/// ALPN h2). -Engine HttpClient (also with -Http2): <see cref="HttpClientEngine"/>. Otherwise
/// raw sockets: the <see cref="EpollEngine"/> where epoll is supported (unless -Engine Raw), for https:// only where
/// the system's OpenSSL 3 loads too; else the <see cref="AsyncSocketEngine"/> (with SslStream when some request is
/// https://).
/// </summary>
internal static class LoadEngineSelector
{
    /// <summary>Engine names, as the result's Engine property shows them.</summary>
    public const string Epoll = "Epoll", EpollTls = "Epoll/TLS", RawSocket = "RawSocket", RawSocketTls = "RawSocket/TLS", Http2 = "HTTP2", Http2Tls = "HTTP2/TLS", HttpClient = "HttpClient", HttpClientHttp2 = "HttpClient/HTTP2";

    /// <summary>
    /// The engine for <paramref name="o"/> (validated before: -Engine Raw/Epoll with HTTP/2, and -Engine Epoll where epoll
    /// or, for https://, libssl is missing, are refused there).
    /// </summary>
    public static string Select(LoadTestOptions o, bool epollSupported, bool libSslAvailable)
    {
        if (o.UseHttp2Engine) return o.UsesTls ? Http2Tls : Http2;
        bool raw = o.Engine switch
        {
            "Raw" or "Epoll" => true,
            "HttpClient" => false,
            _ => !o.Http2,
        };
        if (!raw) return o.Http2 ? HttpClientHttp2 : HttpClient;
        if (o.Engine != "Raw" && epollSupported && (!o.UsesTls || libSslAvailable)) return o.UsesTls ? EpollTls : Epoll;
        return o.UsesTls ? RawSocketTls : RawSocket;
    }

    /// <summary>Makes the engine <see cref="Select"/> chose, with <paramref name="connections"/> connections (resolves the raw engines' hosts first).</summary>
    public static async Task<ILoadEngine> CreateAsync(LoadRunContext run, int connections, CancellationToken ct)
    {
        var o = run.Options;
        string name = Select(o, EpollEngine.Supported, o.UsesTls && LibSsl.Available);
        if (name is HttpClient or HttpClientHttp2) return new HttpClientEngine(run, connections);
        if (name is Http2 or Http2Tls) return new Http2Engine(run, connections);
        var eps = await ResolveAsync(o, ct).ConfigureAwait(false);
        if (name is Epoll or EpollTls)
        {
            int loops = int.TryParse(Environment.GetEnvironmentVariable("CHAOSPS_LOAD_THREADS"), out var lt) && lt > 0 ? lt : Math.Max(1, Environment.ProcessorCount / 2);
            return new EpollEngine(run, eps, connections, loops);
        }
        return new AsyncSocketEngine(run, eps, connections);
    }

    /// <summary>Each request's endpoint (one DNS lookup per host:port; an IP literal needs none).</summary>
    private static async Task<EndPoint[]> ResolveAsync(LoadTestOptions o, CancellationToken ct)
    {
        var endpoints = new Dictionary<string, EndPoint>();
        foreach (var r in o.Requests)
        {
            string key = r.Uri.Host + ":" + r.Uri.Port;
            if (endpoints.ContainsKey(key)) continue;
            IPAddress ip = IPAddress.TryParse(r.Uri.Host.Trim('[', ']'), out var a) ? a
                : (await Dns.GetHostAddressesAsync(r.Uri.DnsSafeHost, ct).ConfigureAwait(false)).First();
            endpoints[key] = new IPEndPoint(ip, r.Uri.Port);
        }
        return o.Requests.Select(r => endpoints[r.Uri.Host + ":" + r.Uri.Port]).ToArray();
    }
}
