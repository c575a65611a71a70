namespace ChaosPS.Network;

/// <summary>reset_on_connect (ChaosPS): a "connection reset" partition. The proxy resets each new connection it draws
/// (toxicity per connection) before dialling the upstream; it runs in no chain.</summary>
internal static class ResetOnConnectToxic
{
    public const string Name = "reset_on_connect";
    public static readonly ToxicDefinition Definition = ToxicDefinition.Connection(Name, "ResetOnConnect");
}
