using ChaosPS.Network;

namespace ChaosPS.Engine.Tests.Network;

/// <summary>RefusedConnectionCounter (Network/): counts the SYNs to a closed port through a raw socket.</summary>
public class RefusedConnectionCounterTests
{
    [Theory]
    [InlineData(0x02, true)]   // SYN: an attempt
    [InlineData(0x12, false)]  // SYN+ACK: the answer
    [InlineData(0x14, false)]  // RST+ACK: the refusal
    [InlineData(0x10, false)]  // ACK
    public void Counts_a_syn_to_the_port_only(byte flags, bool counted)
    {
        var tcp = new byte[20];
        tcp[2] = 0x1F; tcp[3] = 0x90; // port 8080
        tcp[13] = flags;
        Assert.Equal(counted, RefusedConnectionCounter.IsSynTo(tcp, 8080));
        Assert.False(RefusedConnectionCounter.IsSynTo(tcp, 8081));
    }

    [Fact]
    public async Task Counts_every_refused_attempt_exactly_while_other_loopback_traffic_flows()
    {
        // A closed port (bound then released) and, beside it, a busy listener: the counter's kernel filter must pass
        // the SYNs to the closed port and nothing else.
        var closed = new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, TestServer.FreePort());
        using var counter = RefusedConnectionCounter.TryStart(closed);
        if (counter is null) return; // needs root or CAP_NET_RAW (the cmdlet test says so); nothing to measure here
        using var busy = new TestServer(async s =>
        {
            var b = new byte[65536];
            while (await s.ReceiveAsync(b, System.Net.Sockets.SocketFlags.None) > 0) { }
            s.Dispose();
        });
        using var stop = new CancellationTokenSource();
        var noise = Task.Run(async () =>
        {
            var payload = new byte[65536];
            while (!stop.IsCancellationRequested)
            {
                try { using var c = new System.Net.Sockets.TcpClient(); await c.ConnectAsync(System.Net.IPAddress.Loopback, busy.Port); for (int i = 0; i < 16; i++) await c.GetStream().WriteAsync(payload); }
                catch (Exception) { }
            }
        });
        await Task.Delay(200);
        int refused = 0;
        for (int i = 0; i < 50; i++)
        {
            using var c = new System.Net.Sockets.TcpClient();
            try { c.Connect(closed); } catch (System.Net.Sockets.SocketException) { refused++; }
        }
        await Task.Delay(300);
        stop.Cancel();
        Assert.Equal(50, refused);
        Assert.Equal(50, counter.Count);
    }
}
