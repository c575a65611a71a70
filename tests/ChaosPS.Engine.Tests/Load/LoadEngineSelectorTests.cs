using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

public class LoadEngineSelectorTests
{
    private static LoadTestOptions Opts(string engine, string scheme, bool http2)
        => new() { Requests = [new LoadRequest { Uri = new Uri($"{scheme}://127.0.0.1:9/") }], Concurrency = 2, Engine = engine, Http2 = http2 };

    [Theory]
    // Auto: epoll where it runs (https:// only with libssl), async raw sockets elsewhere (SslStream for https://), the own HTTP/2 engine for -Http2.
    [InlineData("Auto", "http", false, true, "Epoll")]
    [InlineData("Auto", "http", false, false, "RawSocket")]
    [InlineData("Auto", "https", false, true, "Epoll/TLS")]
    [InlineData("Auto", "https", false, false, "RawSocket/TLS")]
    [InlineData("Auto", "http", true, true, "HTTP2")]
    [InlineData("Auto", "https", true, true, "HTTP2/TLS")]
    [InlineData("Auto", "http", true, false, "HTTP2")]
    // Asked for by name.
    [InlineData("Raw", "http", false, true, "RawSocket")]
    [InlineData("Raw", "https", false, true, "RawSocket/TLS")]
    [InlineData("Epoll", "http", false, true, "Epoll")]
    [InlineData("Epoll", "http", false, false, "RawSocket")]
    [InlineData("Epoll", "https", false, true, "Epoll/TLS")]
    [InlineData("HttpClient", "http", false, true, "HttpClient")]
    [InlineData("HttpClient", "https", false, true, "HttpClient")]
    [InlineData("HttpClient", "https", true, true, "HttpClient/HTTP2")]
    public void Picks_the_engine_by_the_rule(string engine, string scheme, bool http2, bool epollSupported, string expected)
        => Assert.Equal(expected, LoadEngineSelector.Select(Opts(engine, scheme, http2), epollSupported, libSslAvailable: true));

    [Theory]
    // Without a loadable OpenSSL 3, https:// falls back to the async engine's SslStream; plain http:// is unaffected.
    [InlineData("Auto", "https", "RawSocket/TLS")]
    [InlineData("Auto", "http", "Epoll")]
    [InlineData("Raw", "https", "RawSocket/TLS")]
    public void Without_libssl_https_goes_to_SslStream(string engine, string scheme, string expected)
        => Assert.Equal(expected, LoadEngineSelector.Select(Opts(engine, scheme, false), epollSupported: true, libSslAvailable: false));

    [Theory]
    [InlineData("Auto", "http", false)]
    [InlineData("Raw", "http", false)]
    [InlineData("Raw", "https", false)]
    [InlineData("HttpClient", "http", false)]
    [InlineData("Auto", "http", true)]
    public async Task Makes_the_engine_it_picked(string engine, string scheme, bool http2)
    {
        var o = Opts(engine, scheme, http2);
        o.Validate();
        using var made = await LoadEngineSelector.CreateAsync(LoadRunContext.For(o), 2, CancellationToken.None);
        Assert.Equal(LoadEngineSelector.Select(o, EpollEngine.Supported, o.UsesTls && LibSsl.Available), made.Name);
    }
}
