using System.Net;
using System.Net.Sockets;

namespace ChaosPS.Engine.Tests.Platform;

public class LoopbackTests
{
    [Theory]
    [InlineData("localhost", true)]
    [InlineData("LOCALHOST", true)]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.5.6.7", true)]
    [InlineData("::1", true)]
    [InlineData("[::1]", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("192.0.2.1", false)]
    [InlineData("0.0.0.0", false)]
    [InlineData("::", false)]
    [InlineData("example.com", false)]
    [InlineData("localhost.example.com", false)]
    [InlineData("", false)]
    public void Hosts_on_this_machine(string host, bool loopback) => Assert.Equal(loopback, Loopback.IsHost(host));

    [Theory]
    [InlineData("http://localhost:8080/", "127.0.0.1")]
    [InlineData("http://127.0.0.2:9/", "127.0.0.2")]
    [InlineData("http://[::1]:9/", "::1")]
    [InlineData("http://192.0.2.3/", null)]
    [InlineData("http://example.com/", null)]
    [InlineData("http://0.0.0.0/", null)]
    public void Uris_on_this_machine_give_their_address(string uri, string? address)
        => Assert.Equal(address, Loopback.AddressOf(new Uri(uri))?.ToString());

    [Fact]
    public void A_second_bind_on_a_busy_port_maps_to_ListenAddressInUse()
    {
        using var first = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        first.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        first.Listen();
        using var second = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var e = Assert.Throws<SocketException>(() => second.Bind(first.LocalEndPoint!));
        var (id, category, reason) = ListenErrors.Describe(e);
        Assert.Equal("ListenAddressInUse", id);
        Assert.Equal(ChaosErrorCategory.ResourceBusy, category);
        Assert.Equal("address already in use", reason);

        var other = ListenErrors.Describe(new SocketException((int)SocketError.AccessDenied));
        Assert.Equal("ListenFailed", other.ErrorId);
        Assert.Equal(ChaosErrorCategory.OpenError, other.Category);
    }
}
