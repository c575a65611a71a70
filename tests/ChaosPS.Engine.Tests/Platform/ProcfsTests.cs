using System.Net;
using System.Net.Sockets;

namespace ChaosPS.Engine.Tests.Platform;

public class ProcfsTests
{
    [Fact]
    public void The_scan_finds_this_process_and_pid_1()
    {
        var pids = Procfs.Pids().ToHashSet();
        Assert.Contains(Environment.ProcessId, pids);
        Assert.Contains(1, pids);
    }

    [Fact]
    public void The_command_line_of_this_process_names_its_program()
    {
        var args = Procfs.CommandLine(Environment.ProcessId);
        Assert.NotNull(args);
        Assert.NotEmpty(args);
        Assert.Equal(Environment.GetCommandLineArgs().Length > 0, args[0].Length > 0);
        Assert.Null(Procfs.CommandLine(int.MaxValue));
        Assert.Equal(["a b", "c"], Procfs.SplitCommandLine("a b\0c\0\0"u8.ToArray()));
        Assert.Empty(Procfs.SplitCommandLine([]));
    }

    [Theory]
    [InlineData("socket:[12345]", 12345L)]
    [InlineData("pipe:[12345]", null)]
    [InlineData("socket:[]", null)]
    [InlineData("socket:[12x]", null)]
    [InlineData("/dev/null", null)]
    [InlineData(null, null)]
    public void Socket_links_give_their_inode(string? link, long? inode) => Assert.Equal(inode, Procfs.ParseSocketLink(link));

    [Fact]
    public void Tcp_table_rows_give_inode_and_local_port_by_state()
    {
        const string listen = "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 424242 1 0000000000000000 100 0 0 10 0";
        Assert.Equal((424242L, 8080), Procfs.ParseTcpLine(listen, Procfs.TcpListen));
        Assert.Null(Procfs.ParseTcpLine(listen, Procfs.TcpEstablished));
        Assert.Null(Procfs.ParseTcpLine("  sl  local_address rem_address   st tx_queue rx_queue", Procfs.TcpListen));
        Assert.Null(Procfs.ParseTcpLine(listen.Replace(" 424242 ", " 0 "), Procfs.TcpListen)); // no inode: no owner
        Assert.Null(Procfs.ParseTcpLine(listen.Replace(":1F90", ":ZZZZ"), Procfs.TcpListen));
    }

    [Fact]
    public void A_listening_socket_and_a_connection_of_this_process_are_found()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Assert.Contains(port, ProcessTable.ListeningPorts(Environment.ProcessId));

        using var client = new TcpClient();
        client.Connect(IPAddress.Loopback, port);
        using var server = listener.AcceptTcpClient();
        Assert.True(ProcessTable.EstablishedConnections(Environment.ProcessId) >= 2, "both ends of the loopback connection are this process's");
        var mine = ProcessTable.ListeningSocketInodes();
        Assert.Contains(port, mine.Values);
        Assert.Null(ProcessTable.EstablishedConnections(int.MaxValue));
        Assert.Empty(ProcessTable.ListeningPorts(int.MaxValue));
    }
}
