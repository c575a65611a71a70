using System.Buffers;
using System.Text;

namespace ChaosPS.Http;

/// <summary>Writes one response: either whole (<see cref="SendAsync"/>) or streamed in chunks (<see cref="StartChunkedAsync"/>).</summary>
public sealed class HttpResponse(Stream stream, HttpRequest request)
{
    public bool Started { get; private set; }
    private bool _chunked;

    public Task SendJsonAsync(int status, string json, params (string, string)[] headers)
        => SendAsync(status, "application/json", Encoding.UTF8.GetBytes(json), headers);

    /// <summary>The whole response with Content-Length. An empty <paramref name="contentType"/> sends no
    /// Content-Type; 204 and 304 carry neither Content-Length nor a body; a HEAD request gets the head only.</summary>
    public async Task SendAsync(int status, string contentType, byte[] body, params (string Name, string Value)[] headers)
    {
        Started = true;
        bool bodiless = status is 204 or 304 || status < 200;
        var sb = Head(status, contentType, headers);
        if (!bodiless) sb.Append("Content-Length: ").Append(body.Length);
        sb.Append(bodiless ? "\r\n" : "\r\n\r\n");
        int bodyLength = bodiless || request.Method == "HEAD" ? 0 : body.Length;
        var head = Encoding.ASCII.GetBytes(sb.ToString());
        var buf = ArrayPool<byte>.Shared.Rent(head.Length + bodyLength);
        try
        {
            head.CopyTo(buf, 0);
            body.AsSpan(0, bodyLength).CopyTo(buf.AsSpan(head.Length));
            await stream.WriteAsync(buf.AsMemory(0, head.Length + bodyLength)).ConfigureAwait(false);
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
        if (contentType.Length > 0) sb.Append("Content-Type: ").Append(contentType).Append("\r\n");
        if (!request.KeepAlive) sb.Append("Connection: close\r\n");
        foreach (var (n, v) in headers) sb.Append(n).Append(": ").Append(v).Append("\r\n");
        return sb;
    }

    public static string Reason(int status) => status switch
    {
        200 => "OK", 201 => "Created", 204 => "No Content", 400 => "Bad Request", 403 => "Forbidden", 404 => "Not Found",
        405 => "Method Not Allowed", 409 => "Conflict", 411 => "Length Required", 413 => "Payload Too Large",
        429 => "Too Many Requests", 431 => "Request Header Fields Too Large", 500 => "Internal Server Error",
        502 => "Bad Gateway", 503 => "Service Unavailable", 504 => "Gateway Timeout", 507 => "Insufficient Storage",
        _ => "Status",
    };
}

/// <summary>Minimal JSON string quoting for hand-written responses.</summary>
public static class Json
{
    public static string Quote(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
