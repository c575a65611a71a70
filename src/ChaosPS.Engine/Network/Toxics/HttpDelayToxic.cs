namespace ChaosPS.Network;

/// <summary>http_delay: holds the response head of a share of the matching requests for delay ms (delays add up, and an
/// answer made here is held too).</summary>
internal sealed class HttpDelayToxic : IHttpToxic
{
    public const string Name = "http_delay";
    public static readonly ToxicDefinition Definition = ToxicDefinition.Http(Name, "HttpDelay",
        [new("delay", "ms") { Required = new("attribute delay is required", "An HttpDelay fault needs -Delay (e.g. 2s).") }],
        new HttpDelayToxic());

    public bool Answers => false;
    public bool ActsOnAnswered => true;

    public void Apply(ToxicSpec settings, HttpHead head, HttpRecord record) => record.DelayMs += settings.Attr("delay");
}
