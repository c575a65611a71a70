#nullable enable
using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Threading;
using System.Threading.Tasks;

namespace ChaosPS.Engine.Tests;

/// <summary>
/// The test project's one socket server: listens on a loopback port the system picks (127.0.0.1 unless told ::1) and
/// runs a handler for each accepted connection. The HTTP, TLS and echo servers of the tests are handlers on it.
/// Dispose stops listening and closes every connection it accepted. (Load.Tests.ps1 compiles it with Add-Type: explicit
/// usings, C# 11.)
/// </summary>
public sealed class TestServer : IDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _cts = new();
    private readonly List<Socket> _accepted = new();

    /// <summary>
    /// Throws SocketException when <paramref name="address"/> cannot be bound (e.g. ::1 on a host without IPv6).
    /// <paramref name="port"/> 0 lets the system pick; a fixed one brings a server "back up" on a port a test chose.
    /// </summary>
    public TestServer(Func<Socket, Task> handler, IPAddress? address = null, int? backlog = null, int port = 0)
    {
        _listener = new TcpListener(address ?? IPAddress.Loopback, port);
        if (backlog is { } b) _listener.Start(b); else _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _ = Task.Run(async () =>
        {
            while (!_cts.IsCancellationRequested)
            {
                Socket s;
                try { s = await _listener.AcceptSocketAsync(_cts.Token); } catch { return; }
                lock (_accepted) _accepted.Add(s);
                _ = Task.Run(async () => { try { await handler(s); } catch { /* the client went away, or the server stopped */ } });
            }
        });
    }

    public int Port { get; }
    /// <summary>host:port as the proxy and the load engine take it ([::1]:port for IPv6).</summary>
    public string Address => _listener.LocalEndpoint is IPEndPoint { AddressFamily: AddressFamily.InterNetworkV6 } ? $"[::1]:{Port}" : $"127.0.0.1:{Port}";
    /// <summary>Cancelled when the server is disposed (handlers that wait end with it).</summary>
    public CancellationToken Stopping => _cts.Token;

    /// <summary>Echoes every byte back until EOF, then closes.</summary>
    public static TestServer Echo(IPAddress? address = null) => new(async s =>
    {
        var buf = new byte[65536];
        int n;
        while ((n = await s.ReceiveAsync(buf, SocketFlags.None)) > 0)
            await s.SendAsync(buf.AsMemory(0, n), SocketFlags.None);
        s.Shutdown(SocketShutdown.Send);
        s.Dispose();
    }, address);

    /// <summary>A port on 127.0.0.1 with nothing listening (bound and closed).</summary>
    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int p = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return p;
    }

    public void Dispose()
    {
        _cts.Cancel();
        _listener.Stop();
        lock (_accepted) foreach (var s in _accepted) s.Dispose();
    }
}
