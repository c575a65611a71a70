namespace ChaosPS.Network;

/// <summary>http_reset: resets the connection after after_bytes body bytes of a share of the matching responses.
/// Its behaviour lives in the proxy's HTTP mode (HttpExchange).</summary>
internal static class HttpResetToxic
{
    public const string Name = "http_reset";
    public static readonly ToxicDefinition Definition = ToxicDefinition.Http(Name, "HttpReset", [new("after_bytes", "bytes")]);
}
