namespace ChaosPS.Network;

/// <summary>http_slow_body: writes the response bodies of a share of the matching requests at bytes_per_second (of
/// several, the slowest rate wins).</summary>
internal sealed class HttpSlowBodyToxic : IHttpToxic
{
    public const string Name = "http_slow_body";

    public static readonly ToxicDefinition Definition = ToxicDefinition.Http(Name, "HttpSlowBody",
        [new("bytes_per_second", "B/s") { Min = 1, Required = new("attribute bytes_per_second is required", "An HttpSlowBody fault needs -BytesPerSecond.") }],
        new HttpSlowBodyToxic(),
        static attributes =>
        {
            if (!attributes.TryGetValue("bytes_per_second", out var bps) || bps < 1)
                throw ProxyException.BadRequest("attribute bytes_per_second must be at least 1", "InvalidToxicAttribute",
                    "An HTTP slow-body fault needs a rate of at least 1 byte per second.");
        });

    public bool Answers => false;
    public bool ActsOnAnswered => false;

    public void Apply(ToxicSpec settings, HttpHead head, HttpRecord record)
    {
        long rate = settings.Attr("bytes_per_second");
        record.SlowBytesPerSecond = record.SlowBytesPerSecond == 0 ? rate : Math.Min(record.SlowBytesPerSecond, rate);
    }
}
