namespace ChaosPS.Network;

/// <summary>http_slow_body: writes the response bodies of a share of the matching requests at bytes_per_second.
/// Its behaviour lives in the proxy's HTTP mode (HttpExchange).</summary>
internal static class HttpSlowBodyToxic
{
    public const string Name = "http_slow_body";

    public static readonly ToxicDefinition Definition = ToxicDefinition.Http(Name, "HttpSlowBody",
        [new("bytes_per_second", "B/s") { Min = 1, Required = new("attribute bytes_per_second is required", "An HttpSlowBody fault needs -BytesPerSecond.") }],
        static attributes =>
        {
            if (!attributes.TryGetValue("bytes_per_second", out var bps) || bps < 1)
                throw ProxyException.BadRequest("attribute bytes_per_second must be at least 1", "InvalidToxicAttribute",
                    "An HTTP slow-body fault needs a rate of at least 1 byte per second.");
        });
}
