using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

/// <summary>https:// goes over the HttpClient engine: a self-signed TLS server on 127.0.0.1.</summary>
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
                if (buf.AsSpan(0, have).StartsWith("GET /hang "u8)) { await Task.Delay(Timeout.Infinite, _cts.Token); return; }
                Buffer.BlockCopy(buf, end + 4, buf, 0, have - end - 4);
                have -= end + 4;
                await ssl.WriteAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nsecure"));
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

    [Fact]
    public void Https_goes_over_the_raw_socket_engine_with_TLS_and_times_the_handshake_apart()
    {
        var o = new LoadTestOptions
        {
            Requests = [new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}/") }], Concurrency = 3, Iterations = 60, SkipCertificateCheck = true,
            Checks = [new LoadCheck { Name = "secure", Kind = "Contains", Text = "secure" }],
        };
        var r = new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal("RawSocket/TLS", r.Engine);
        Assert.Equal(60, r.Requests);
        Assert.Equal(0, r.Failed);
        Assert.Equal(60, r.ChecksPassed);
        Assert.Equal(3, r.Connect!.Count);
        Assert.Equal(3, r.TlsHandshake!.Count);
    }

    [Fact]
    public void Epoll_engine_refuses_https_and_Raw_accepts_it()
    {
        var https = new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}/") };
        var e = Assert.Throws<ChaosException>(() => new LoadTestOptions { Requests = [https], Concurrency = 1, Engine = "Epoll" }.Validate());
        Assert.Contains("InvalidEngine", e.ErrorId);
        new LoadTestOptions { Requests = [https], Concurrency = 1, Engine = "Raw" }.Validate();
    }

    [Fact]
    public void A_TLS_request_past_its_timeout_is_a_timeout_by_kind()
    {
        var o = new LoadTestOptions
        {
            Requests = [new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}/hang") }], Concurrency = 1, Iterations = 2,
            SkipCertificateCheck = true, Timeout = TimeSpan.FromMilliseconds(500),
        };
        var r = new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal("RawSocket/TLS", r.Engine);
        Assert.Equal(2, r.Failed);
        Assert.True(r.ErrorsByKind.TryGetValue("timeout", out var t) && t == 2, string.Join(",", r.ErrorsByKind.Select(k => $"{k.Key}={k.Value}")));
    }

    [Fact]
    public void Untrusted_certificate_is_a_tls_error_by_kind()
    {
        var o = new LoadTestOptions { Requests = [new LoadRequest { Uri = new Uri($"https://127.0.0.1:{Port}/") }], Concurrency = 1, Iterations = 3 };
        var r = new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal(3, r.Failed);
        Assert.True(r.ErrorsByKind.TryGetValue("tls", out var tls) && tls == 3, string.Join(",", r.ErrorsByKind.Select(k => $"{k.Key}={k.Value}")));
    }
}
