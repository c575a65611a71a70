namespace ChaosPS.Network;

/// <summary>http_delay: holds the response head of a share of the matching requests for delay ms (delays add up).
/// Its behaviour lives in the proxy's HTTP mode (HttpExchange).</summary>
internal static class HttpDelayToxic
{
    public const string Name = "http_delay";
    public static readonly ToxicDefinition Definition = ToxicDefinition.Http(Name, "HttpDelay",
        [new("delay", "ms") { Required = new("attribute delay is required", "An HttpDelay fault needs -Delay (e.g. 2s).") }]);
}
