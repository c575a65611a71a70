using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ChaosPS.Engine.Tests;

/// <summary>
/// A tiny HTTP/1.1 keep-alive server on 127.0.0.1 (a handler on <see cref="TestServer"/>) for the load and experiment tests. Paths:
///   /ok            200, Content-Length body "hello world"
///   /json          200 {"status":"ok","n":42}
///   /status/NNN    that status
///   /chunked       chunked body of 3 chunks
///   /sse?n=K&amp;ms=D  text/event-stream, K events D ms apart (chunked)
///   /slow?ms=D     200 after D ms
///   /close         200 with Connection: close
/// </summary>
public sealed class TestHttpServer : IDisposable
{
    private readonly TestServer _server;
    private CancellationToken Stopping => _server.Stopping;
    public int Port => _server.Port;
    public string Base => $"http://127.0.0.1:{Port}";
    public long Requests;

    // xunit blocks pool threads while tests wait for runs; give the server's async continuations room.
    static TestHttpServer() => ThreadPool.SetMinThreads(Math.Max(32, Environment.ProcessorCount * 4), 32);

    public TestHttpServer() => _server = new TestServer(Serve, backlog: 1024);

    private async Task Serve(Socket s)
    {
        using var _ = s;
        s.NoDelay = true;
        var buf = new byte[65536];
        int have = 0;
        try
        {
            while (true)
            {
                int hdrEnd;
                while ((hdrEnd = IndexOf(buf, have, "\r\n\r\n"u8)) < 0)
                {
                    int n = await s.ReceiveAsync(buf.AsMemory(have), SocketFlags.None, Stopping);
                    if (n == 0) return;
                    have += n;
                }
                var head = Encoding.ASCII.GetString(buf, 0, hdrEnd);
                int len = 0;
                foreach (var l in head.Split("\r\n"))
                    if (l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)) len = int.Parse(l[15..].Trim());
                int total = hdrEnd + 4 + len;
                while (have < total)
                {
                    int n = await s.ReceiveAsync(buf.AsMemory(have), SocketFlags.None, Stopping);
                    if (n == 0) return;
                    have += n;
                }
                Buffer.BlockCopy(buf, total, buf, 0, have - total);
                have -= total;
                Interlocked.Increment(ref Requests);
                var target = head.Split(' ')[1];
                var path = target.Split('?')[0];
                var q = System.Web.HttpUtility.ParseQueryString(target.Contains('?') ? target[(target.IndexOf('?') + 1)..] : "");
                bool close = false;
                if (path == "/ok") await Send(s, 200, "text/plain", "hello world");
                else if (path == "/json") await Send(s, 200, "application/json", "{\"status\":\"ok\",\"n\":42}");
                else if (path.StartsWith("/status/")) await Send(s, int.Parse(path[8..]), "text/plain", "status");
                else if (path == "/slow") { await Task.Delay(int.Parse(q["ms"] ?? "100"), Stopping); await Send(s, 200, "text/plain", "slow"); }
                else if (path == "/close") { await Send(s, 200, "text/plain", "bye", "Connection: close\r\n"); close = true; }
                else if (path == "/chunked")
                {
                    await s.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n5\r\nhello\r\n1\r\n \r\n5;ext=1\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n"), SocketFlags.None);
                }
                else if (path == "/sse")
                {
                    int n = int.Parse(q["n"] ?? "5"), ms = int.Parse(q["ms"] ?? "10");
                    await s.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n"), SocketFlags.None);
                    for (int i = 0; i < n; i++)
                    {
                        await Task.Delay(ms, Stopping);
                        var ev = $"data: {{\"token\":\"t{i}\"}}\r\n\r\n";
                        await s.SendAsync(Encoding.ASCII.GetBytes($"{Encoding.ASCII.GetByteCount(ev):x}\r\n{ev}\r\n"), SocketFlags.None);
                    }
                    await s.SendAsync("0\r\n\r\n"u8.ToArray(), SocketFlags.None);
                }
                else await Send(s, 404, "text/plain", "not found");
                if (close) { s.Shutdown(SocketShutdown.Both); return; }
            }
        }
        catch { /* client went away */ }
    }

    private static async Task Send(Socket s, int status, string type, string body, string extra = "")
    {
        var b = Encoding.UTF8.GetBytes(body);
        var h = Encoding.ASCII.GetBytes($"HTTP/1.1 {status} X\r\nContent-Type: {type}\r\nContent-Length: {b.Length}\r\n{extra}\r\n");
        await s.SendAsync(h.Concat(b).ToArray(), SocketFlags.None);
    }

    private static int IndexOf(byte[] buf, int len, ReadOnlySpan<byte> needle) => buf.AsSpan(0, len).IndexOf(needle);

    public void Dispose() => _server.Dispose();

    /// <summary>A port on 127.0.0.1 with nothing listening (bound and closed).</summary>
    public static int FreePort() => TestServer.FreePort();
}
