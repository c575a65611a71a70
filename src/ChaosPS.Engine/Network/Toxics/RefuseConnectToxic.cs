namespace ChaosPS.Network;

/// <summary>refuse_connect (ChaosPS): a "connection refused" partition. While it is present the proxy closes its
/// listener, so new connections are refused by the kernel; it runs in no chain.</summary>
internal static class RefuseConnectToxic
{
    public const string Name = "refuse_connect";
    public static readonly ToxicDefinition Definition = ToxicDefinition.Connection(Name, "RefuseConnect");
}
