// A small HTTP/1.1 server for the HTTP-mode proxy tests (loopback only): keep-alive, chunked responses and chunked
// request bodies, and counters of the connections and requests that reached it.
using System;
using System.Collections.Concurrent;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading;

public sealed class ChaosTestHttpUpstream : IDisposable
{
    private readonly TcpListener _listener = new TcpListener(IPAddress.Loopback, 0);
    private int _connections, _requests;
    public readonly ConcurrentQueue<string> Seen = new ConcurrentQueue<string>();

    public ChaosTestHttpUpstream()
    {
        _listener.Start(512);
        new Thread(Accept) { IsBackground = true }.Start();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;
    public string Address => "127.0.0.1:" + Port;
    public int Connections => Volatile.Read(ref _connections);
    public int Requests => Volatile.Read(ref _requests);
    public void ResetCounters() { Interlocked.Exchange(ref _connections, 0); Interlocked.Exchange(ref _requests, 0); while (Seen.TryDequeue(out _)) { } }

    /// <summary>The body /chunked?n=N&size=S sends: chunk k is S bytes of the letter a + k mod 26.</summary>
    public static string ChunkedBody(int n, int size)
    {
        var sb = new StringBuilder(n * size);
        for (int k = 0; k < n; k++) sb.Append((char)('a' + k % 26), size);
        return sb.ToString();
    }

    private void Accept()
    {
        while (true)
        {
            Socket s;
            try { s = _listener.AcceptSocket(); } catch { return; }
            Interlocked.Increment(ref _connections);
            new Thread(() => Serve(s)) { IsBackground = true }.Start();
        }
    }

    private static string ReadLine(Stream st)
    {
        var sb = new StringBuilder();
        while (true)
        {
            int b = st.ReadByte();
            if (b < 0) return sb.Length == 0 ? null : sb.ToString();
            if (b == '\n') return sb.ToString().TrimEnd('\r');
            sb.Append((char)b);
        }
    }

    private static void ReadExactly(Stream st, byte[] buf, int count)
    {
        int got = 0;
        while (got < count) { int n = st.Read(buf, got, count - got); if (n <= 0) throw new EndOfStreamException(); got += n; }
    }

    private void Serve(Socket s)
    {
        // Every exception ends only this connection (a reset from the proxy's http_reset fault among them).
        try { ServeCore(s); } catch (Exception) { }
        try { s.Dispose(); } catch (Exception) { }
    }

    private void ServeCore(Socket s)
    {
        s.NoDelay = true;
        using (var st = new BufferedStream(new NetworkStream(s, true), 65536))
        {
            try
            {
                while (true)
                {
                    string line = ReadLine(st);
                    if (line == null) return;
                    if (line.Length == 0) continue;
                    var parts = line.Split(' ');
                    string method = parts[0], target = parts[1];
                    long length = 0; bool chunked = false, close = false;
                    string h;
                    while (!string.IsNullOrEmpty(h = ReadLine(st)))
                    {
                        int c = h.IndexOf(':');
                        string name = h.Substring(0, c).Trim().ToLowerInvariant(), value = h.Substring(c + 1).Trim();
                        if (name == "content-length") length = long.Parse(value);
                        else if (name == "transfer-encoding" && value.ToLowerInvariant().Contains("chunked")) chunked = true;
                        else if (name == "connection" && value.ToLowerInvariant().Contains("close")) close = true;
                    }
                    var body = new MemoryStream();
                    if (chunked)
                    {
                        while (true)
                        {
                            string size = ReadLine(st).Split(';')[0].Trim();
                            int n = Convert.ToInt32(size, 16);
                            if (n == 0) { while (!string.IsNullOrEmpty(ReadLine(st))) { } break; }
                            var b = new byte[n]; ReadExactly(st, b, n); body.Write(b, 0, n);
                            ReadLine(st);
                        }
                    }
                    else if (length > 0) { var b = new byte[length]; ReadExactly(st, b, (int)length); body.Write(b, 0, b.Length); }
                    Interlocked.Increment(ref _requests);
                    Seen.Enqueue(method + " " + target);
                    string path = target.Split('?')[0];
                    var q = new System.Collections.Generic.Dictionary<string, string>();
                    if (target.Contains("?"))
                        foreach (var kv in target.Substring(target.IndexOf('?') + 1).Split('&'))
                        { var p = kv.Split('='); if (p.Length == 2) q[p[0]] = p[1]; }
                    Func<string, string, string> Q = (k, d) => q.ContainsKey(k) ? q[k] : d;
                    var w = new StringBuilder();
                    byte[] payload;
                    if (path == "/chunked")
                    {
                        int n = int.Parse(Q("n", "10")), size = int.Parse(Q("size", "100"));
                        var head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n";
                        var hb = Encoding.ASCII.GetBytes(head);
                        st.Write(hb, 0, hb.Length);
                        for (int k = 0; k < n; k++)
                        {
                            var piece = Encoding.ASCII.GetBytes(size.ToString("x") + "\r\n" + new string((char)('a' + k % 26), size) + "\r\n");
                            st.Write(piece, 0, piece.Length);
                            if (k % 7 == 0) st.Flush(); // arrive in several reads
                        }
                        var last = Encoding.ASCII.GetBytes("0\r\n\r\n");
                        st.Write(last, 0, last.Length);
                        st.Flush();
                        if (close) return;
                        continue;
                    }
                    if (path == "/echo")
                    {
                        byte[] hash;
                        using (var sha = SHA256.Create()) hash = sha.ComputeHash(body.ToArray());
                        payload = Encoding.ASCII.GetBytes(body.Length + " " + BitConverter.ToString(hash).Replace("-", "").ToLowerInvariant());
                    }
                    else if (path == "/bytes") payload = Encoding.ASCII.GetBytes(new string('x', int.Parse(Q("n", "1000"))));
                    else payload = Encoding.ASCII.GetBytes("upstream " + method + " " + path);
                    var resp = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + payload.Length + "\r\n" + (close ? "Connection: close\r\n" : "") + "\r\n";
                    var rb = Encoding.ASCII.GetBytes(resp);
                    st.Write(rb, 0, rb.Length);
                    if (method != "HEAD") st.Write(payload, 0, payload.Length);
                    st.Flush();
                    if (close) return;
                }
            }
            catch (Exception e) when (e is IOException || e is SocketException || e is ObjectDisposedException) { }
        }
    }

    public void Dispose() { try { _listener.Stop(); } catch { } }
}
