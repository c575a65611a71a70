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
            // The socket gets a copy of every TCP packet on the host: under heavy traffic (a load test through other
            // ports) its queue overflowed and attempts went uncounted. The kernel now queues only SYNs to the port
            // (a socket filter, IPv4), into a larger queue.
            if (ep.AddressFamily == AddressFamily.InterNetwork) TryAttachSynFilter(s, ep.Port);
            try { s.SetRawSocketOption(SolSocket, SoRcvBufForce, BitConverter.GetBytes(4 << 20)); }
            catch (SocketException) { try { s.ReceiveBufferSize = 4 << 20; } catch (SocketException) { } }
            return new RefusedConnectionCounter(s, ep);
        }
        catch (SocketException) { return null; } // no CAP_NET_RAW: not measurable
    }

    private const int SolSocket = 1, SoAttachFilter = 26, SoRcvBufForce = 33;

    /// <summary>
    /// A classic BPF program over an IPv4 packet (raw sockets see the IP header): accept a TCP segment to
    /// <paramref name="port"/> whose flags have SYN without ACK, drop the rest. Each instruction: code, jt, jf, k.
    /// </summary>
    internal static (ushort Code, byte Jt, byte Jf, uint K)[] SynFilter(int port) =>
    [
        (0xb1, 0, 0, 0),            // ldxb 4*([0]&0xf)   X = IP header length
        (0x48, 0, 0, 2),            // ldh [x+2]          destination port
        (0x15, 0, 4, (uint)port),   // jeq #port, else drop
        (0x50, 0, 0, 13),           // ldb [x+13]         TCP flags
        (0x54, 0, 0, 0x12),         // and #(SYN|ACK)
        (0x15, 0, 1, 0x02),         // jeq #SYN, else drop
        (0x06, 0, 0, 0xffff),       // ret: accept
        (0x06, 0, 0, 0),            // ret: drop
    ];

    private static unsafe void TryAttachSynFilter(Socket s, int port)
    {
        var prog = SynFilter(port);
        var insns = new byte[prog.Length * 8];
        for (int i = 0; i < prog.Length; i++)
        {
            BitConverter.TryWriteBytes(insns.AsSpan(i * 8), prog[i].Code);
            insns[i * 8 + 2] = prog[i].Jt;
            insns[i * 8 + 3] = prog[i].Jf;
            BitConverter.TryWriteBytes(insns.AsSpan(i * 8 + 4), prog[i].K);
        }
        fixed (byte* p = insns)
        {
            // struct sock_fprog { unsigned short len; struct sock_filter *filter; } (the kernel copies the program).
            var fprog = new byte[2 * IntPtr.Size];
            BitConverter.TryWriteBytes(fprog.AsSpan(0), (ushort)prog.Length);
            if (IntPtr.Size == 8) BitConverter.TryWriteBytes(fprog.AsSpan(8), (long)p);
            else BitConverter.TryWriteBytes(fprog.AsSpan(4), (int)p);
            try { s.SetRawSocketOption(SolSocket, SoAttachFilter, fprog); }
            catch (SocketException) { } // no filter: every packet is still checked below
        }
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
