namespace ChaosPS.Network;

/// <summary>http_reset: resets the connection after after_bytes body bytes of a share of the matching responses (always
/// before the body's last byte; of several, the smallest after_bytes cuts).</summary>
internal sealed class HttpResetToxic : IHttpToxic
{
    public const string Name = "http_reset";
    public static readonly ToxicDefinition Definition = ToxicDefinition.Http(Name, "HttpReset", [new("after_bytes", "bytes")], new HttpResetToxic());

    public bool Answers => false;
    public bool ActsOnAnswered => false;

    public void Apply(ToxicSpec settings, HttpHead head, HttpRecord record)
    {
        long after = settings.Attr("after_bytes");
        record.ResetAfter = record.ResetAfter < 0 ? after : Math.Min(record.ResetAfter, after);
    }
}
