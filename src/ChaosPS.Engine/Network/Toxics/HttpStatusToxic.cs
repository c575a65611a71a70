namespace ChaosPS.Network;

/// <summary>http_status: answers a share of the matching requests with status (and Retry-After) without the upstream.
/// Its behaviour lives in the proxy's HTTP mode (HttpExchange, HttpRules.StatusResponse).</summary>
internal static class HttpStatusToxic
{
    public const string Name = "http_status";

    public static readonly ToxicDefinition Definition = ToxicDefinition.Http(Name, "HttpStatus",
        [new("status", "HTTP status") { Min = 200, Max = 599, Default = 503 }, new("retry_after", "s") { Max = 86_400 }], Check);

    private static void Check(IReadOnlyDictionary<string, long> attributes)
    {
        long status = attributes.TryGetValue("status", out var s) ? s : 0;
        if (status is < 200 or > 599)
            throw ProxyException.BadRequest($"attribute status must be an HTTP status from 200 to 599, got {status}", "InvalidHttpStatus",
                $"Status {status} cannot be a fault's answer; use a final status from 200 to 599 (e.g. 503, 429, 500, 404).", status);
        if (attributes.TryGetValue("retry_after", out var ra) && ra > 86_400)
            throw ProxyException.BadRequest($"attribute retry_after must be at most 86400 seconds, got {ra}", "InvalidRetryAfter", null, ra);
    }
}
