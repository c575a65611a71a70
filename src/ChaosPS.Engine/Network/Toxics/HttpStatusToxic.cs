using System.Globalization;
using System.Text;

namespace ChaosPS.Network;

/// <summary>http_status: answers a share of the matching requests with status (and Retry-After) without the upstream.</summary>
internal sealed class HttpStatusToxic : IHttpToxic
{
    public const string Name = "http_status";

    public static readonly ToxicDefinition Definition = ToxicDefinition.Http(Name, "HttpStatus",
        [new("status", "HTTP status") { Min = 200, Max = 599, Default = 503 }, new("retry_after", "s") { Max = 86_400 }],
        new HttpStatusToxic(), Check);

    private static void Check(IReadOnlyDictionary<string, long> attributes)
    {
        long status = attributes.TryGetValue("status", out var s) ? s : 0;
        if (status is < 200 or > 599)
            throw ProxyException.BadRequest($"attribute status must be an HTTP status from 200 to 599, got {status}", "InvalidHttpStatus",
                $"Status {status} cannot be a fault's answer; use a final status from 200 to 599 (e.g. 503, 429, 500, 404).", status);
        if (attributes.TryGetValue("retry_after", out var ra) && ra > 86_400)
            throw ProxyException.BadRequest($"attribute retry_after must be at most 86400 seconds, got {ra}", "InvalidRetryAfter", null, ra);
    }

    public bool Answers => true;
    public bool ActsOnAnswered => false;

    public void Apply(ToxicSpec settings, HttpHead head, HttpRecord record)
    {
        // A client that waits for 100 Continue may never send the body: the answer closes the connection then,
        // so what it sends next is never taken for that body.
        bool body = head.Chunked || head.ContentLength > 0;
        record.Answer = Response(settings, head.Method == "HEAD", head.Close || (head.ExpectContinue && body));
        record.Tunnel = false;
    }

    internal static string Reason(long status) => status switch
    {
        200 => "OK", 201 => "Created", 202 => "Accepted", 204 => "No Content", 301 => "Moved Permanently", 302 => "Found",
        304 => "Not Modified", 400 => "Bad Request", 401 => "Unauthorized", 403 => "Forbidden", 404 => "Not Found",
        405 => "Method Not Allowed", 408 => "Request Timeout", 409 => "Conflict", 410 => "Gone", 413 => "Content Too Large",
        418 => "I'm a teapot", 422 => "Unprocessable Content", 425 => "Too Early", 429 => "Too Many Requests",
        500 => "Internal Server Error", 501 => "Not Implemented", 502 => "Bad Gateway", 503 => "Service Unavailable",
        504 => "Gateway Timeout", _ => "Chaos",
    };

    /// <summary>The complete response the toxic answers with (keep-alive unless the client asked to close).</summary>
    internal static byte[] Response(ToxicSpec t, bool head, bool close)
    {
        long status = t.Attr("status");
        string reason = Reason(status);
        var name = new string(t.Name.Where(c => c > ' ' && c < 127).ToArray());
        var body = status is 204 or 304 ? "" : $"ChaosPS fault '{name}': {status} {reason}\n";
        var sb = new StringBuilder(256);
        sb.Append("HTTP/1.1 ").Append(status.ToString(CultureInfo.InvariantCulture)).Append(' ').Append(reason).Append("\r\n");
        if (body.Length > 0 || status is not (204 or 304)) sb.Append("Content-Type: text/plain; charset=utf-8\r\nContent-Length: ").Append(body.Length).Append("\r\n");
        if (t.Attr("retry_after") > 0) sb.Append("Retry-After: ").Append(t.Attr("retry_after").ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        sb.Append("X-ChaosPS-Fault: ").Append(name).Append("\r\n");
        if (close) sb.Append("Connection: close\r\n");
        sb.Append("\r\n");
        if (!head) sb.Append(body);
        return Encoding.ASCII.GetBytes(sb.ToString());
    }
}
