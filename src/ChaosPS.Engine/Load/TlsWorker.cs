using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Security.Authentication;

namespace ChaosPS.Load;

/// <summary>
/// An https:// <see cref="ConnectionWorker"/> (http:// requests of the same run go plain over the same code): TLS through
/// SslStream over a raw socket. The server's certificate is checked unless -SkipCertificateCheck; the protocol is the
/// system's choice of TLS 1.2/1.3. The TLS handshake is timed on its own (the "tls" histogram), apart from the TCP
/// connect; a reconnect to the same host offers the TLS session it got before (SslStream's session cache), so a resumed
/// handshake is what it measures.
/// </summary>
internal sealed class TlsWorker(LoadRunContext run, int id, EndPoint[] endpoints, SslClientAuthenticationOptions?[] tls)
    : ConnectionWorker(run, id, endpoints, 16384)
{
    private readonly SslClientAuthenticationOptions?[] _tls = tls; // per request; null for http://
    private Socket? _sock;
    private Stream? _stream;
    private EndPoint? _connectedTo;
    private SslClientAuthenticationOptions? _connectedTls;

    /// <summary>One options object per distinct host, shared by all connections (the session cache keys on its values).</summary>
    internal static SslClientAuthenticationOptions?[] OptionsFor(LoadTestOptions o)
    {
        var byHost = new Dictionary<string, SslClientAuthenticationOptions>(StringComparer.OrdinalIgnoreCase);
        return o.Requests.Select(r =>
        {
            if (r.Uri.Scheme != Uri.UriSchemeHttps) return null;
            string host = r.Uri.IdnHost.Trim('[', ']');
            if (!byHost.TryGetValue(host, out var opt))
            {
                opt = new SslClientAuthenticationOptions
                {
                    TargetHost = host,
                    EnabledSslProtocols = SslProtocols.None, // the system's default: TLS 1.2 and 1.3
                    CertificateRevocationCheckMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck,
                };
                if (o.SkipCertificateCheck) opt.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
                byHost[host] = opt;
            }
            return opt;
        }).ToArray();
    }

    protected override bool CanReuse(int request, EndPoint ep)
        => _stream is not null && Equals(_connectedTo, ep) && ReferenceEquals(_connectedTls, _tls[request]);

    protected override bool HasConnection => _stream is not null;

    protected override async ValueTask ConnectAsync(int request, EndPoint ep)
    {
        var tls = _tls[request];
        var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _sock = s;
        long c0 = Stopwatch.GetTimestamp();
        await s.ConnectAsync(ep).ConfigureAwait(false);
        long c1 = Stopwatch.GetTimestamp();
        Run.Record(LoadMetrics.HConnect, c1 - c0);
        var ns = new NetworkStream(s, ownsSocket: true);
        if (tls is not null)
        {
            var ssl = new SslStream(ns, leaveInnerStreamOpen: false);
            _stream = ssl;
            await ssl.AuthenticateAsClientAsync(tls).ConfigureAwait(false);
            Run.Record(LoadMetrics.HTls, Stopwatch.GetTimestamp() - c1);
        }
        else _stream = ns;
        _connectedTo = ep;
        _connectedTls = tls;
    }

    protected override ValueTask SendAsync(ReadOnlyMemory<byte> wire) => Stream.WriteAsync(wire);

    protected override ValueTask<int> ReceiveAsync(Memory<byte> buffer) => Stream.ReadAsync(buffer);

    /// <summary>The open stream; closed under a request (timeout, stop) it reads as disposed, as the stream would.</summary>
    private Stream Stream => _stream ?? throw new ObjectDisposedException(nameof(Stream));

    protected override bool IsConnectionError(Exception e)
        => base.IsConnectionError(e) || e is AuthenticationException or InvalidOperationException;

    protected override bool IsOwnClose(Exception e) => e is ObjectDisposedException or InvalidOperationException;

    protected override Exception Cause(Exception e) => Inner(e);

    private static Exception Inner(Exception e) => e is IOException { InnerException: { } i } ? i : e;

    protected override void CloseConnection()
    {
        // May run on the ticker while a read is pending: the socket goes first (the pending read fails), then the
        // stream (SslStream frees its native TLS state; its handles are reference-counted, so a racing read is safe).
        var s = Interlocked.Exchange(ref _sock, null);
        var st = Interlocked.Exchange(ref _stream, null);
        _connectedTo = null;
        _connectedTls = null;
        if (s is not null) try { s.Dispose(); } catch { /* already gone */ }
        if (st is not null) try { st.Dispose(); } catch { /* already gone */ }
    }
}
