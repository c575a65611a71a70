using System;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

/// <summary>
/// Added latency per hop, measured fairly on a noisy machine: one keep-alive connection per path (direct, through the
/// ChaosPS proxy, through socat), HTTP GET round trips taken in turn (the order rotates every round), so that every
/// path sees the same moments of machine noise. Returns the round-trip times in microseconds, one array per port.
/// </summary>
public static class HopLatency
{
    public static double[][] Run(int[] ports, int rounds)
    {
        var socks = new Socket[ports.Length];
        var res = new double[ports.Length][];
        var req = Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        var buf = new byte[65536];
        try
        {
            for (int k = 0; k < ports.Length; k++)
            {
                socks[k] = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                socks[k].Connect(new IPEndPoint(IPAddress.Loopback, ports[k]));
                res[k] = new double[rounds];
            }
            for (int w = 0; w < 500; w++) foreach (var s in socks) RoundTrip(s, req, buf);
            for (int i = 0; i < rounds; i++)
                for (int j = 0; j < ports.Length; j++)
                {
                    int k = (i + j) % ports.Length;
                    long t0 = Stopwatch.GetTimestamp();
                    RoundTrip(socks[k], req, buf);
                    res[k][i] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
                }
        }
        finally { foreach (var s in socks) s?.Dispose(); }
        return res;
    }

    /// <summary>Sends the request and reads exactly one response (headers plus Content-Length bytes).</summary>
    private static void RoundTrip(Socket s, byte[] req, byte[] buf)
    {
        s.Send(req);
        int have = 0, need = -1;
        while (need < 0 || have < need)
        {
            int n = s.Receive(buf, have, buf.Length - have, SocketFlags.None);
            if (n == 0) throw new InvalidOperationException("the connection closed mid-response");
            have += n;
            if (need >= 0) continue;
            var head = Encoding.ASCII.GetString(buf, 0, have);
            int end = head.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) continue;
            int cl = head.IndexOf("Content-Length:", StringComparison.OrdinalIgnoreCase);
            int len = cl < 0 || cl > end ? 0 : int.Parse(head.Substring(cl + 15, head.IndexOf('\r', cl) - cl - 15).Trim());
            need = end + 4 + len;
        }
    }
}
