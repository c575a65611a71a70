using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ChaosPS.Network;

/// <summary>
/// toxiproxy's HTTP API over a <see cref="ProxyCollection"/>: the same paths, verbs, JSON fields, status codes and
/// error bodies ({"error":...,"status":N}), so toxiproxy clients work unchanged. A small HTTP/1.1 server of its own
/// (keep-alive, Content-Length and chunked bodies) on a loopback socket; no web framework needed in the session.
/// This file is the transport (listener, connections, HTTP/1.1 framing); the routes and handlers are in
/// ToxiproxyApiRoutes.cs, toxiproxy-shaped JSON (bodies, errors, Go-style decoding messages) in ToxiproxyJson.cs.
/// </summary>
public sealed partial class ToxiproxyApiServer : IAsyncDisposable
{
    public const string Version = "2.12.0";
    private readonly ProxyCollection _proxies;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _cts = new();
    private long _requestId;

    private ToxiproxyApiServer(ProxyCollection proxies, Socket listener)
    {
        _proxies = proxies;
        _listener = listener;
        Listen = ListenAddress.Format((IPEndPoint)listener.LocalEndPoint!);
        _ = Task.Run(AcceptLoopAsync);
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
        var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            ListenAddress.AllowTimeWaitReuse(s);
            s.Bind(ep);
            s.Listen(128);
        }
        catch (SocketException e)
        {
            s.Dispose();
            var (id, category, reason) = ListenErrors.Describe(e);
            throw new ProxyException(500, $"listen tcp {ListenAddress.Format(ep)}: bind: {reason}", id, category,
                $"The proxy API server cannot listen on {ListenAddress.Format(ep)}: {reason}.", listen,
                "Choose another port (toxiproxy's default is 8474), or stop what listens there.", e);
        }
        var server = new ToxiproxyApiServer(proxies ?? ProxyCollection.Default, s);
        lock (ServersLock) Running.Add(server);
        return server;
    }

    public ValueTask DisposeAsync()
    {
        _cts.Cancel();
        _listener.Dispose();
        lock (ServersLock) Running.Remove(this);
        return ValueTask.CompletedTask;
    }

    public void Stop() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task AcceptLoopAsync()
    {
        while (!_cts.IsCancellationRequested)
        {
            Socket c;
            try { c = await _listener.AcceptAsync(_cts.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                if (_cts.IsCancellationRequested) return;
                continue;
            }
            _ = Task.Run(() => ServeConnectionAsync(c));
        }
    }

    // ------------------------------------------------------------------ HTTP/1.1

    internal sealed record Request(string Method, string Path, Dictionary<string, string> Headers, byte[] Body);
    internal sealed record Response(int Status, string ContentType, byte[] Body);

    private async Task ServeConnectionAsync(Socket socket)
    {
        using var _ = socket;
        socket.NoDelay = true;
        using var stream = new NetworkStream(socket, ownsSocket: false);
        var reader = new HttpReader(stream);
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
                idle.CancelAfter(TimeSpan.FromSeconds(60));
                var req = await reader.ReadRequestAsync(idle.Token).ConfigureAwait(false);
                if (req is null) return;
                var resp = Handle(req);
                bool close = req.Headers.TryGetValue("connection", out var conn) && conn.Equals("close", StringComparison.OrdinalIgnoreCase);
                var head = new StringBuilder();
                head.Append("HTTP/1.1 ").Append(resp.Status).Append(' ').Append(Reason(resp.Status)).Append("\r\n");
                head.Append("X-Toxiproxy-Request-Id: ").Append(Interlocked.Increment(ref _requestId).ToString("x12", CultureInfo.InvariantCulture)).Append("\r\n");
                head.Append("Date: ").Append(DateTime.UtcNow.ToString("R", CultureInfo.InvariantCulture)).Append("\r\n");
                if (resp.ContentType.Length > 0) head.Append("Content-Type: ").Append(resp.ContentType).Append("\r\n");
                if (resp.ContentType.StartsWith("text/plain", StringComparison.Ordinal)) head.Append("X-Content-Type-Options: nosniff\r\n");
                if (resp.Status != 204) head.Append("Content-Length: ").Append(resp.Body.Length).Append("\r\n");
                if (close) head.Append("Connection: close\r\n");
                head.Append("\r\n");
                var bytes = Encoding.ASCII.GetBytes(head.ToString());
                await stream.WriteAsync(bytes, _cts.Token).ConfigureAwait(false);
                if (resp.Status != 204 && resp.Body.Length > 0 && req.Method != "HEAD") await stream.WriteAsync(resp.Body, _cts.Token).ConfigureAwait(false);
                if (close) return;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or FormatException) { }
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK", 201 => "Created", 204 => "No Content", 400 => "Bad Request", 403 => "Forbidden", 404 => "Not Found",
        405 => "Method Not Allowed", 409 => "Conflict", 500 => "Internal Server Error", _ => "Status",
    };

    private sealed class HttpReader(Stream s)
    {
        private readonly byte[] _buf = new byte[16384];
        private int _start, _end;

        private async Task<bool> FillAsync(CancellationToken ct)
        {
            if (_start > 0) { Array.Copy(_buf, _start, _buf, 0, _end - _start); _end -= _start; _start = 0; }
            if (_end == _buf.Length) throw new FormatException("header too large");
            int n = await s.ReadAsync(_buf.AsMemory(_end), ct).ConfigureAwait(false);
            if (n == 0) return false;
            _end += n;
            return true;
        }

        private async Task<string?> ReadLineAsync(CancellationToken ct)
        {
            while (true)
            {
                int i = Array.IndexOf(_buf, (byte)'\n', _start, _end - _start);
                if (i >= 0)
                {
                    var line = Encoding.Latin1.GetString(_buf, _start, i - _start).TrimEnd('\r');
                    _start = i + 1;
                    return line;
                }
                if (!await FillAsync(ct).ConfigureAwait(false)) return null;
            }
        }

        private async Task<byte[]> ReadExactAsync(long n, CancellationToken ct)
        {
            if (n > 16 * 1024 * 1024) throw new FormatException("body too large");
            var body = new byte[n];
            int got = 0;
            while (got < n)
            {
                if (_start == _end && !await FillAsync(ct).ConfigureAwait(false)) throw new IOException("unexpected EOF in body");
                int take = (int)Math.Min(n - got, _end - _start);
                Array.Copy(_buf, _start, body, got, take);
                _start += take; got += take;
            }
            return body;
        }

        public async Task<Request?> ReadRequestAsync(CancellationToken ct)
        {
            string? line;
            do { line = await ReadLineAsync(ct).ConfigureAwait(false); if (line is null) return null; } while (line.Length == 0);
            var parts = line.Split(' ');
            if (parts.Length < 2) throw new FormatException("bad request line");
            var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            while ((line = await ReadLineAsync(ct).ConfigureAwait(false)) is { Length: > 0 })
            {
                int c = line.IndexOf(':');
                if (c > 0) headers[line[..c].Trim()] = line[(c + 1)..].Trim();
            }
            if (line is null) return null;
            byte[] body = [];
            if (headers.TryGetValue("transfer-encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                using var ms = new MemoryStream();
                while (true)
                {
                    var sizeLine = await ReadLineAsync(ct).ConfigureAwait(false) ?? throw new IOException("EOF in chunked body");
                    long size = long.Parse(sizeLine.Split(';')[0].Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                    if (size == 0) { while ((await ReadLineAsync(ct).ConfigureAwait(false)) is { Length: > 0 }) { } break; }
                    ms.Write(await ReadExactAsync(size, ct).ConfigureAwait(false));
                    await ReadLineAsync(ct).ConfigureAwait(false);
                }
                body = ms.ToArray();
            }
            else if (headers.TryGetValue("content-length", out var cl) && long.TryParse(cl, out var len) && len > 0)
                body = await ReadExactAsync(len, ct).ConfigureAwait(false);
            var target = parts[1];
            int q = target.IndexOf('?');
            if (q >= 0) target = target[..q];
            return new Request(parts[0].ToUpperInvariant(), Uri.UnescapeDataString(target), headers, body);
        }
    }
}
