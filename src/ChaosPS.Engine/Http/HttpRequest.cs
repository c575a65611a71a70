using System.Text;

namespace ChaosPS.Http;

/// <summary>An HTTP/1.1 request as a handler sees it: method and target as sent (the path is not unescaped),
/// headers case-insensitive, the whole body read (Content-Length or, where the server allows it, chunked).</summary>
public sealed class HttpRequest
{
    public string Method { get; init; } = "";
    public string Path { get; init; } = "";
    public string Query { get; init; } = "";
    public Dictionary<string, string> Headers { get; } = new(StringComparer.OrdinalIgnoreCase);
    public byte[] Body { get; set; } = [];
    public string BodyText => Encoding.UTF8.GetString(Body);

    /// <summary>Whether the connection stays open after this request (HTTP/1.1 unless "Connection: close";
    /// HTTP/1.0 only with "Connection: keep-alive").</summary>
    public bool KeepAlive { get; set; } = true;
}
