using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

/// <summary>https:// on every engine that speaks it (HttpClient, TlsWorker, the epoll loop with OpenSSL): a self-signed TLS server on 127.0.0.1.</summary>
public sealed class HttpsTests : IDisposable
{
    private readonly TcpListener _l = new(IPAddress.Loopback, 0);
    private readonly X509Certificate2 _cert;
    private readonly CancellationTokenSource _cts = new();

    public HttpsTests()
    {
        using var key = RSA.Create(2048);
        var req = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        req.CertificateExtensions.Add(san.Build());
        using var c = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        _cert = X509CertificateLoader.LoadPkcs12(c.Export(X509ContentType.Pfx), null);
        _l.Start();
        _ = Accept();
    }

    private int Port => ((IPEndPoint)_l.LocalEndpoint).Port;

    private async Task Accept()
    {
        while (!_cts.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _l.AcceptTcpClientAsync(_cts.Token); } catch { return; }
            _ = Serve(client);
        }
    }

    /// <summary>Requests the server parsed (none may arrive when the client refuses the certificate).</summary>
    private long _served;

    private async Task Serve(TcpClient client)
    {
        using var _ = client;
        try
        {
            using var ssl = new SslStream(client.GetStream());
            await ssl.AuthenticateAsServerAsync(_cert);
            var buf = new byte[8192];
            int have = 0;
            while (true)
            {
                int end;
                while ((end = buf.AsSpan(0, have).IndexOf("\r\n\r\n"u8)) < 0)
                {
                    int n = await ssl.ReadAsync(buf.AsMemory(have));
                    if (n == 0) return;
                    have += n;
                }
                Interlocked.Increment(ref _served);
                string path = Encoding.ASCII.GetString(buf, 0, end).Split(' ')[1];
                Buffer.BlockCopy(buf, end + 4, buf, 0, have - end - 4);
                have -= end + 4;
                switch (path)
                {
                    case "/hang": await Task.Delay(Timeout.Infinite, _cts.Token); return;
                    case "/chunked":
                        // Chunked, written in pieces (several TLS records), with a trailer.
                        await ssl.WriteAsync("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhello\r\n"u8.ToArray());
                        await ssl.FlushAsync();
                        await ssl.WriteAsync("1\r\n \r\n6;ext=1\r\nsecure\r\n0\r\nX-Trailer: 1\r\n\r\n"u8.ToArray());
                        break;
                    case "/close":
                        await ssl.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure"u8.ToArray());
                        return;
                    case "/big":
                        // 200 kB: many TLS records per response, more than the client's first buffer.
                        var body = new byte[200_000];
                        body.AsSpan().Fill((byte)'x');
                        "secure"u8.CopyTo(body.AsSpan(body.Length - 6));
                        await ssl.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Length: {body.Length}\r\n\r\n").Concat(body).ToArray());
                        break;
                    case "/status/503":
                        await ssl.WriteAsync("HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"u8.ToArray());
                        break;
                    default:
                        await ssl.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nsecure"));
                        break;
                }
            }
        }
        catch { /* client went away or refused our certificate */ }
    }

    public void Dispose() { _cts.Cancel(); _l.Stop(); _cert.Dispose(); }

    [Fact]
    public void Https_with_the_HttpClient_engine_checks_pass()
    {
        var o = new LoadTestOptions
        {
            Engine = "HttpClient",
            Requests = [new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}/") }], Concurrency = 2, Iterations = 20, SkipCertificateCheck = true,
            Checks = [new LoadCheck { Name = "secure", Kind = "Contains", Text = "secure" }],
        };
        var r = new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal("HttpClient", r.Engine);
        Assert.Equal(20, r.Requests);
        Assert.Equal(0, r.Failed);
        Assert.Equal(20, r.ChecksPassed);
        Assert.NotNull(r.Connect);
    }

    /// <summary>The raw-socket engines that speak TLS here: the epoll loop with OpenSSL where it can, and SslStream.</summary>
    public static TheoryData<string> TlsEngines()
    {
        var d = new TheoryData<string> { "Raw" };
        if (EpollEngine.TlsSupported) d.Add("Epoll");
        return d;
    }

    internal LoadTestRunner RunEpoll(string path, int connections, int iterations, bool skip)
    {
        var runner = new LoadTestRunner(new LoadTestOptions { Engine = "Epoll", Requests = [new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}{path}") }], Concurrency = connections, Iterations = iterations, SkipCertificateCheck = skip });
        var r = runner.RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal(iterations, r.Requests);
        Assert.Equal(skip ? 0 : iterations, r.Failed);
        return runner;
    }

    internal void RunForLeakTest(string path, bool skip)
    {
        var o = new LoadTestOptions { Engine = "Epoll", Requests = [new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}{path}") }], Concurrency = 4, Iterations = 40, SkipCertificateCheck = skip };
        var r = new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal(40, r.Requests);
        Assert.Equal(skip ? 0 : 40, r.Failed);
    }

    private static string EngineName(string engine) => engine == "Epoll" ? "Epoll/TLS" : "RawSocket/TLS";

    private LoadTestResult Run(string engine, string path, Action<LoadTestOptions> set)
    {
        var o = new LoadTestOptions { Engine = engine, Requests = [new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}{path}") }], SkipCertificateCheck = true };
        set(o);
        var r = new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal(EngineName(engine), r.Engine);
        return r;
    }

    private static string Kinds(LoadTestResult r) => string.Join(",", r.ErrorsByKind.Select(k => $"{k.Key}={k.Value}"));

    [Theory]
    [MemberData(nameof(TlsEngines))]
    public void Https_goes_over_a_raw_socket_engine_with_TLS_and_times_the_handshake_apart(string engine)
    {
        var r = Run(engine, "/", o => { o.Concurrency = 3; o.Iterations = 60; o.Checks = [new LoadCheck { Name = "secure", Kind = "Contains", Text = "secure" }]; });
        Assert.Equal(60, r.Requests);
        Assert.Equal(0, r.Failed);
        Assert.Equal(60, r.ChecksPassed);
        Assert.Equal(3, r.Connect!.Count); // keep-alive: one connection per virtual user
        Assert.Equal(3, r.TlsHandshake!.Count);
        Assert.True(r.TlsHandshake.P50 > 0);
    }

    [Fact]
    public void Auto_picks_the_epoll_engine_for_https_where_libssl_is_there()
    {
        var r = new LoadTestRunner(new LoadTestOptions { Requests = [new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}/") }], Concurrency = 1, Iterations = 3, SkipCertificateCheck = true })
            .RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal(EpollEngine.TlsSupported ? "Epoll/TLS" : "RawSocket/TLS", r.Engine);
        Assert.Equal(0, r.Failed);
    }

    // The selection rule's table is LoadEngineSelectorTests.

    [Fact]
    public void Epoll_engine_accepts_https_where_libssl_is_there_and_Raw_accepts_it()
    {
        var https = new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}/") };
        if (EpollEngine.TlsSupported) new LoadTestOptions { Requests = [https], Concurrency = 1, Engine = "Epoll" }.Validate();
        else
        {
            var e = Assert.Throws<ChaosException>(() => new LoadTestOptions { Requests = [https], Concurrency = 1, Engine = "Epoll" }.Validate());
            Assert.Contains("InvalidEngine", e.ErrorId);
        }
        new LoadTestOptions { Requests = [https], Concurrency = 1, Engine = "Raw" }.Validate();
    }

    [Theory]
    [MemberData(nameof(TlsEngines))]
    public void A_TLS_request_past_its_timeout_is_a_timeout_by_kind(string engine)
    {
        var r = Run(engine, "/hang", o => { o.Concurrency = 1; o.Iterations = 2; o.Timeout = TimeSpan.FromMilliseconds(500); });
        Assert.Equal(2, r.Failed);
        Assert.True(r.ErrorsByKind.TryGetValue("timeout", out var t) && t == 2, Kinds(r));
    }

    [Theory]
    [MemberData(nameof(TlsEngines))]
    public void Untrusted_certificate_is_a_tls_error_by_kind_and_no_request_reaches_the_server(string engine)
    {
        var o = new LoadTestOptions { Engine = engine, Requests = [new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}/") }], Concurrency = 1, Iterations = 3 };
        var r = new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal(EngineName(engine), r.Engine);
        Assert.Equal(3, r.Failed);
        Assert.True(r.ErrorsByKind.TryGetValue("tls", out var tls) && tls == 3, Kinds(r));
        Assert.Equal(0, Interlocked.Read(ref _served));
    }

    [Theory]
    [MemberData(nameof(TlsEngines))]
    public void Chunked_large_status_and_Connection_close_responses_over_TLS(string engine)
    {
        var chunked = Run(engine, "/chunked", o => { o.Concurrency = 2; o.Iterations = 20; o.Checks = [new LoadCheck { Name = "body", Kind = "Contains", Text = "hello secure" }]; });
        Assert.Equal(0, chunked.Failed);
        Assert.Equal(20, chunked.ChecksPassed);
        Assert.Equal(2, chunked.Connect!.Count); // the chunked responses kept the connections alive

        var big = Run(engine, "/big", o => { o.Concurrency = 2; o.Iterations = 10; o.Checks = [new LoadCheck { Name = "tail", Kind = "Contains", Text = "xsecure" }]; });
        Assert.Equal(0, big.Failed);
        Assert.Equal(10, big.ChecksPassed);
        Assert.Equal(2_000_000, big.BytesReceived);

        var close = Run(engine, "/close", o => { o.Concurrency = 2; o.Iterations = 10; });
        Assert.Equal(0, close.Failed);
        Assert.Equal(10, close.Connect!.Count);
        Assert.Equal(10, close.TlsHandshake!.Count);

        var busy = Run(engine, "/status/503", o => { o.Concurrency = 2; o.Iterations = 6; });
        Assert.Equal(6, busy.ErrorsByKind["status_503"]);
    }

    [Theory]
    [MemberData(nameof(TlsEngines))]
    public void Open_model_over_TLS_sends_every_scheduled_request(string engine)
    {
        var r = Run(engine, "/", o => { o.Rate = 200; o.Duration = TimeSpan.FromSeconds(2); o.Connections = 4; });
        // 2 s at 200 req/s = 400 scheduled; all of them either sent or counted as dropped, none failed.
        Assert.Equal("Open", r.Model);
        Assert.Equal(400, r.Scheduled);
        Assert.Equal(400, r.Requests + r.Dropped);
        Assert.InRange(r.Requests, 360, 400);
        Assert.Equal(0, r.Failed);
        Assert.InRange(r.TlsHandshake!.Count, 1, 4);
    }

    [Theory]
    [MemberData(nameof(TlsEngines))]
    public void Refused_https_is_refused_by_kind(string engine)
    {
        var o = new LoadTestOptions { Engine = engine, Requests = [new LoadRequest { Uri = new Uri($"https://127.0.0.1:{TestHttpServer.FreePort()}/") }], Concurrency = 1, Iterations = 2, SkipCertificateCheck = true };
        var r = new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal(2, r.Failed);
        Assert.True(r.ErrorsByKind.TryGetValue("refused", out var n) && n == 2, Kinds(r));
    }
}

/// <summary>The epoll engine's OpenSSL objects: every SSL_CTX, SSL and SSL_SESSION a run makes is freed when it ends.</summary>
[Collection("NoParallel")]
public sealed class EpollTlsLeakTests
{
    [Fact]
    public void Several_https_runs_in_one_process_free_every_OpenSSL_object()
    {
        if (!EpollEngine.TlsSupported) return;
        using var srv = new HttpsTests();
        long before = Interlocked.Read(ref LibSsl.Live);
        for (int i = 0; i < 5; i++)
        {
            // Keep-alive and reconnecting (Connection: close, so sessions are kept and resumed) runs, and a refused certificate.
            srv.RunForLeakTest("/", skip: true);
            srv.RunForLeakTest("/close", skip: true);
            srv.RunForLeakTest("/", skip: false);
            Assert.Equal(before, Interlocked.Read(ref LibSsl.Live));
        }
    }

    [Fact]
    public void The_TLS_hot_loop_does_not_allocate_per_request()
    {
        if (!EpollEngine.TlsSupported) return;
        using var srv = new HttpsTests();
        srv.RunEpoll("/", 4, 2_000, skip: true); // warm up (JIT)
        var runner = srv.RunEpoll("/", 4, 10_000, skip: true);
        // Connection setup (a Socket, an SSL) and first uses only; a client allocating per request would be at 500 kB+.
        long bytes = runner.Epoll!.LoopAllocatedBytes;
        Assert.True(bytes < 200_000, $"{bytes} bytes allocated by the loop for 10,000 requests ({bytes / 10_000.0:0.0} per request)");
    }
}
