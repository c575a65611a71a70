using System.Net.Sockets;

namespace ChaosPS;

/// <summary>What a failed bind/listen means to a user: a stable error id, a category and the reason in words.</summary>
public static class ListenErrors
{
    /// <summary>
    /// ListenAddressInUse (ResourceBusy, "address already in use") for EADDRINUSE; ListenFailed (OpenError, the
    /// socket's own message) for anything else.
    /// </summary>
    public static (string ErrorId, ChaosErrorCategory Category, string Reason) Describe(SocketException e)
        => e.SocketErrorCode == SocketError.AddressAlreadyInUse
            ? ("ListenAddressInUse", ChaosErrorCategory.ResourceBusy, "address already in use")
            : ("ListenFailed", ChaosErrorCategory.OpenError, e.Message);
}
