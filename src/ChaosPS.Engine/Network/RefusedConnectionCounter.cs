using System.Net;
using System.Net.Sockets;

namespace ChaosPS.Network;

/// <summary>
/// Counts TCP connection attempts (SYN without ACK) to one port while nothing listens there: what clients see as
/// "connection refused" during a Down fault, which the proxy cannot count itself (its listener is closed, the kernel
/// answers). It reads a copy of incoming TCP packets through a raw socket, so it needs root or CAP_NET_RAW;
/// <see cref="TryStart"/> returns null without it, and the result then says the count was not measured.
/// </summary>
internal sealed class RefusedConnectionCounter : IDisposable
{
    private readonly Socket _sock;
    private readonly IPEndPoint _ep;
    private readonly Thread _thread;
    private volatile bool _stop;
    private long _count;

    private RefusedConnectionCounter(Socket sock, IPEndPoint ep)
    {
        _sock = sock;
        _ep = ep;
        _thread = new Thread(Loop) { IsBackground = true, Name = "ChaosPS refused-connection counter" };
        _thread.Start();
    }

    /// <summary>Attempts counted so far.</summary>
    public long Count => Interlocked.Read(ref _count);

    public static RefusedConnectionCounter? TryStart(IPEndPoint ep)
    {
        try
        {
            var s = new Socket(ep.AddressFamily, SocketType.Raw, ProtocolType.Tcp) { ReceiveTimeout = 100 };
            return new RefusedConnectionCounter(s, ep);
        }
        catch (SocketException) { return null; } // no CAP_NET_RAW: not measurable
    }

    /// <summary>True for a connection attempt (SYN, no ACK) to <paramref name="port"/> in a TCP segment at <paramref name="tcp"/>.</summary>
    internal static bool IsSynTo(ReadOnlySpan<byte> tcp, int port)
        => tcp.Length >= 14 && (tcp[2] << 8 | tcp[3]) == port && (tcp[13] & 0x12) == 0x02;

    private void Loop()
    {
        var buf = new byte[65536];
        var want = _ep.Address.GetAddressBytes();
        bool anyAddress = _ep.Address.Equals(IPAddress.Any) || _ep.Address.Equals(IPAddress.IPv6Any);
        while (!_stop)
        {
            int n;
            try { n = _sock.Receive(buf); }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock or SocketError.Interrupted) { continue; }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            var span = buf.AsSpan(0, n);
            if (_ep.AddressFamily == AddressFamily.InterNetwork)
            {
                // IPv4 raw sockets deliver the IP header: skip it, and match the destination address.
                if (n < 20 || span[0] >> 4 != 4) continue;
                int ihl = (span[0] & 0x0F) * 4;
                if (!anyAddress && !span.Slice(16, 4).SequenceEqual(want)) continue;
                span = span[Math.Min(ihl, n)..];
            }
            // IPv6 raw sockets deliver the TCP segment alone (the port decides).
            if (IsSynTo(span, _ep.Port)) Interlocked.Increment(ref _count);
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join(TimeSpan.FromSeconds(2));
        _sock.Dispose();
    }
}
