using System.Net;

namespace ChaosPS;

/// <summary>What counts as "this machine" for ChaosPS's traffic: 127.0.0.0/8, ::1 (and IPv4-mapped loopback), localhost.</summary>
public static class Loopback
{
    /// <summary>True for localhost, 127.0.0.0/8, ::1 and IPv4-mapped loopback; IPv6 brackets are allowed.</summary>
    public static bool IsHost(string host)
    {
        host = host.Trim('[', ']');
        if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>
    /// The loopback address a URI's host stands for: 127.0.0.1 for a loopback name (.NET's <see cref="Uri.IsLoopback"/>,
    /// e.g. localhost), the address itself for a loopback literal; null for anything else.
    /// </summary>
    public static IPAddress? AddressOf(Uri uri)
    {
        if (uri.IsLoopback && uri.HostNameType == UriHostNameType.Dns) return IPAddress.Loopback;
        return IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip) ? ip : null;
    }
}
