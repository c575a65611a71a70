using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ChaosPS.Testbed.Http;

/// <summary>An HTTP/1.1 request as the target's handlers see it.</summary>
public sealed class HttpRequest
{
    public string Method { get; init; } = "";
    public string Path { get; init; } = "";
    public string Query { get; init; } = "";
    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);
    public byte[] Body { get; set; } = [];
    public string BodyText => Encoding.UTF8.GetString(Body);
    public bool KeepAlive { get; set; } = true;
}

/// <summary>Writes one response: either whole (<see cref="SendAsync"/>) or streamed in chunks (<see cref="StartChunkedAsync"/>).</summary>
public sealed class HttpResponse(Stream stream, HttpRequest request)
{
    public bool Started { get; private set; }
    private bool _chunked;

    public Task SendJsonAsync(int status, string json, params (string, string)[] headers)
        => SendAsync(status, "application/json", Encoding.UTF8.GetBytes(json), headers);

    public async Task SendAsync(int status, string contentType, byte[] body, params (string Name, string Value)[] headers)
    {
        Started = true;
        var sb = Head(status, contentType, headers);
        sb.Append("Content-Length: ").Append(body.Length).Append("\r\n\r\n");
        var head = Encoding.ASCII.GetBytes(sb.ToString());
        var buf = ArrayPool<byte>.Shared.Rent(head.Length + body.Length);
        try
        {
            head.CopyTo(buf, 0);
            body.CopyTo(buf, head.Length);
            await stream.WriteAsync(buf.AsMemory(0, head.Length + body.Length)).ConfigureAwait(false);
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    public async Task StartChunkedAsync(int status, string contentType, params (string Name, string Value)[] headers)
    {
        Started = true;
        _chunked = true;
        var sb = Head(status, contentType, headers);
        sb.Append("Transfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n");
        await stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString())).ConfigureAwait(false);
        await stream.FlushAsync().ConfigureAwait(false);
    }

    public async Task WriteChunkAsync(ReadOnlyMemory<byte> data)
    {
        if (!_chunked) throw new InvalidOperationException("Not a chunked response.");
        if (data.Length == 0) return;
        var prefix = Encoding.ASCII.GetBytes($"{data.Length:X}\r\n");
        var buf = ArrayPool<byte>.Shared.Rent(prefix.Length + data.Length + 2);
        try
        {
            prefix.CopyTo(buf, 0);
            data.CopyTo(buf.AsMemory(prefix.Length));
            buf[prefix.Length + data.Length] = (byte)'\r';
            buf[prefix.Length + data.Length + 1] = (byte)'\n';
            await stream.WriteAsync(buf.AsMemory(0, prefix.Length + data.Length + 2)).ConfigureAwait(false);
            await stream.FlushAsync().ConfigureAwait(false);
        }
        finally { ArrayPool<byte>.Shared.Return(buf); }
    }

    public async Task EndChunkedAsync()
    {
        await stream.WriteAsync("0\r\n\r\n"u8.ToArray()).ConfigureAwait(false);
        await stream.FlushAsync().ConfigureAwait(false);
    }

    private StringBuilder Head(int status, string contentType, (string Name, string Value)[] headers)
    {
        var sb = new StringBuilder(256);
        sb.Append("HTTP/1.1 ").Append(status).Append(' ').Append(Reason(status)).Append("\r\n");
        sb.Append("Content-Type: ").Append(contentType).Append("\r\n");
        if (!request.KeepAlive) sb.Append("Connection: close\r\n");
        foreach (var (n, v) in headers) sb.Append(n).Append(": ").Append(v).Append("\r\n");
        return sb;
    }

    public static string Reason(int status) => status switch
    {
        200 => "OK", 400 => "Bad Request", 404 => "Not Found", 405 => "Method Not Allowed", 411 => "Length Required",
        413 => "Payload Too Large", 429 => "Too Many Requests", 500 => "Internal Server Error", 502 => "Bad Gateway",
        503 => "Service Unavailable", 504 => "Gateway Timeout", 507 => "Insufficient Storage", _ => "Status",
    };
}

/// <summary>
/// A small HTTP/1.1 server on raw sockets: keep-alive, pipelined requests, Content-Length bodies, chunked
/// responses for server-sent events. Enough for the embedded testbed, with no ASP.NET dependency, so the
/// target runs anywhere the .NET runtime does (a container built from the host's runtime included).
/// </summary>
public sealed class HttpServer : IAsyncDisposable
{
    private const int MaxHeaderBytes = 32 * 1024;
    private const int MaxBodyBytes = 4 * 1024 * 1024;
    private readonly Socket _listener;
    private readonly Func<HttpRequest, HttpResponse, Task> _handler;
    private readonly CancellationTokenSource _cts = new();
    private Task? _acceptLoop;
    private int _connections;

    public HttpServer(IPEndPoint endpoint, Func<HttpRequest, HttpResponse, Task> handler)
    {
        _handler = handler;
        _listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _listener.Bind(endpoint);
        _listener.Listen(4096);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
    }

    public int Port { get; }
    public int OpenConnections => Volatile.Read(ref _connections);

    public void Start() => _acceptLoop = AcceptLoop();

    private async Task AcceptLoop()
    {
        while (!_cts.IsCancellationRequested)
        {
            Socket s;
            try { s = await _listener.AcceptAsync(_cts.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; }
            s.NoDelay = true;
            _ = Task.Run(() => ServeConnection(s));
        }
    }

    private async Task ServeConnection(Socket socket)
    {
        Interlocked.Increment(ref _connections);
        var stream = new NetworkStream(socket, ownsSocket: true);
        var buf = ArrayPool<byte>.Shared.Rent(16 * 1024);
        int start = 0, end = 0;
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                // Find the end of the header block, reading more as needed.
                int headerEnd;
                while ((headerEnd = IndexOfHeaderEnd(buf, start, end)) < 0)
                {
                    if (end - start >= MaxHeaderBytes) { await Reject(stream, 431, "request headers too large"); return; }
                    if (end == buf.Length)
                    {
                        if (start > 0) { Buffer.BlockCopy(buf, start, buf, 0, end - start); end -= start; start = 0; }
                        else { var bigger = ArrayPool<byte>.Shared.Rent(buf.Length * 2); Buffer.BlockCopy(buf, 0, bigger, 0, end); ArrayPool<byte>.Shared.Return(buf); buf = bigger; }
                    }
                    int n = await stream.ReadAsync(buf.AsMemory(end), _cts.Token).ConfigureAwait(false);
                    if (n == 0) return;
                    end += n;
                }
                var req = ParseHead(buf, start, headerEnd);
                if (req is null) { await Reject(stream, 400, "malformed request line or header"); return; }
                start = headerEnd + 4;
                if (req.Headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
                { await Reject(stream, 411, "chunked request bodies are not supported; send Content-Length"); return; }
                int length = 0;
                if (req.Headers.TryGetValue("Content-Length", out var cl) && (!int.TryParse(cl, out length) || length < 0))
                { await Reject(stream, 400, "bad Content-Length"); return; }
                if (length > MaxBodyBytes) { await Reject(stream, 413, "body too large"); return; }
                var body = new byte[length];
                int have = Math.Min(length, end - start);
                Buffer.BlockCopy(buf, start, body, 0, have);
                start += have;
                while (have < length)
                {
                    int n = await stream.ReadAsync(body.AsMemory(have), _cts.Token).ConfigureAwait(false);
                    if (n == 0) return;
                    have += n;
                }
                if (start == end) { start = end = 0; }
                req.Body = body;
                var resp = new HttpResponse(stream, req);
                try
                {
                    await _handler(req, resp).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not IOException && !resp.Started)
                {
                    await resp.SendJsonAsync(500, $"{{\"error\":{{\"type\":\"internal\",\"message\":{Json.Quote(e.Message)}}}}}");
                }
                if (!req.KeepAlive) return;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
            await stream.DisposeAsync();
            Interlocked.Decrement(ref _connections);
        }
    }

    private static async Task Reject(Stream stream, int status, string message)
    {
        var resp = new HttpResponse(stream, new HttpRequest { KeepAlive = false });
        await resp.SendJsonAsync(status, $"{{\"error\":{{\"type\":\"bad_request\",\"message\":{Json.Quote(message)}}}}}");
    }

    private static int IndexOfHeaderEnd(byte[] buf, int start, int end)
    {
        var span = buf.AsSpan(start, end - start);
        int i = span.IndexOf("\r\n\r\n"u8);
        return i < 0 ? -1 : start + i;
    }

    private static HttpRequest? ParseHead(byte[] buf, int start, int headerEnd)
    {
        var text = Encoding.ASCII.GetString(buf, start, headerEnd - start);
        var lines = text.Split("\r\n");
        var parts = lines[0].Split(' ');
        if (parts.Length != 3 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal)) return null;
        var target = parts[1];
        int q = target.IndexOf('?');
        var req = new HttpRequest
        {
            Method = parts[0],
            Path = q < 0 ? target : target[..q],
            Query = q < 0 ? "" : target[(q + 1)..],
        };
        for (int i = 1; i < lines.Length; i++)
        {
            int c = lines[i].IndexOf(':');
            if (c <= 0) return null;
            req.Headers[lines[i][..c].Trim()] = lines[i][(c + 1)..].Trim();
        }
        bool http10 = parts[2] == "HTTP/1.0";
        req.Headers.TryGetValue("Connection", out var conn);
        req.KeepAlive = http10 ? string.Equals(conn, "keep-alive", StringComparison.OrdinalIgnoreCase)
                               : !string.Equals(conn, "close", StringComparison.OrdinalIgnoreCase);
        return req;
    }

    /// <summary>Stops accepting; open connections end when their current request is done.</summary>
    public async ValueTask DisposeAsync()
    {
        _cts.Cancel();
        _listener.Dispose();
        if (_acceptLoop is not null) await _acceptLoop.ConfigureAwait(false);
    }
}

/// <summary>Minimal JSON string quoting for hand-written responses.</summary>
public static class Json
{
    public static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
