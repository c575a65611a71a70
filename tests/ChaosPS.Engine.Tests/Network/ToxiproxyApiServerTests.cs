using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using ChaosPS.Network;

namespace ChaosPS.Engine.Tests.Network;

/// <summary>toxiproxy's api_test.go cases, as raw HTTP against Start-ChaosProxyServer's engine.</summary>
[Collection("Network")]
public sealed class ToxiproxyApiServerTests : ToxiproxyApiFixture
{
    // (the server, its proxies and the client come from ToxiproxyApiFixture)

    private static int FreePort() => ChaosPS.Testbed.TestbedLauncher.FreePorts(1)[0];

    private async Task<(int Status, string Body, HttpResponseMessage Resp)> Send(string method, string path, string? json = null)
    {
        using var req = new HttpRequestMessage(new HttpMethod(method), path);
        if (json is not null) req.Content = new StringContent(json, Encoding.UTF8, "application/json");
        var resp = await Client.SendAsync(req);
        return ((int)resp.StatusCode, await resp.Content.ReadAsStringAsync(), resp);
    }

    private static void AssertError(int status, string message, (int Status, string Body, HttpResponseMessage _) r)
    {
        Assert.Equal(status, r.Status);
        Assert.Equal($"{{\"error\":{JsonSerializer.Serialize(message)},\"status\":{status}}}\n", r.Body);
    }

    private static bool Listening(string address)
    {
        var (h, p) = ListenAddress.Split(address);
        try { using var c = new TcpClient(); c.Connect(IPAddress.Parse(h), p); return true; }
        catch (SocketException) { return false; }
    }

    /// <summary>One raw request with "Connection: close"; the whole answer as text.</summary>
    private async Task<string> Raw(string request)
    {
        using var c = new TcpClient();
        await c.ConnectAsync(IPAddress.Loopback, new Uri(Server.Uri.ToString()).Port);
        var s = c.GetStream();
        await s.WriteAsync(Encoding.Latin1.GetBytes(request));
        using var ms = new MemoryStream();
        await s.CopyToAsync(ms).WaitAsync(TimeSpan.FromSeconds(30));
        return Encoding.Latin1.GetString(ms.ToArray());
    }

    [Fact]
    public async Task Chunked_request_bodies_are_accepted_and_answers_carry_toxiproxys_headers()
    {
        var json = "{\"name\":\"chunky\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:1\"}";
        var answer = await Raw("POST /proxies HTTP/1.1\r\nHost: t\r\nUser-Agent: toxiproxy-cli\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
            $"{10:x}\r\n{json[..10]}\r\n{json.Length - 10:x}\r\n{json[10..]}\r\n0\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 201 Created\r\n", answer);
        Assert.Matches("\r\nX-Toxiproxy-Request-Id: [0-9a-f]{12}\r\n", answer);
        Assert.Contains("\r\nDate: ", answer);
        Assert.Contains("\r\nConnection: close\r\n", answer);
        Assert.NotNull(Proxies.Get("chunky"));
    }

    [Fact]
    public async Task Oversized_headers_are_answered_431_in_toxiproxys_error_shape()
    {
        var answer = await Raw($"GET /proxies HTTP/1.1\r\nX-Big: {new string('x', 20 * 1024)}\r\n\r\n");
        Assert.StartsWith("HTTP/1.1 431 ", answer);
        Assert.EndsWith("\r\n\r\n{\"error\":\"request headers too large\",\"status\":431}\n", answer);
    }

    [Fact]
    public async Task Index_is_empty_then_lists_proxies_and_version_is_exact()
    {
        var r = await Send("GET", "/proxies");
        Assert.Equal(200, r.Status);
        Assert.Equal("{}\n", r.Body);
        Assert.True(r.Resp.Headers.Contains("X-Toxiproxy-Request-Id"));
        var v = await Send("GET", "/version");
        Assert.Equal($"{{\"version\": \"{ToxiproxyApiServer.Version}\"}}\n", v.Body);
        Assert.Equal("application/json; charset=utf-8", v.Resp.Content.Headers.ContentType!.ToString());
    }

    [Fact]
    public async Task Browsers_unknown_paths_and_wrong_verbs()
    {
        using var req = new HttpRequestMessage(HttpMethod.Get, "/proxies");
        req.Headers.UserAgent.Clear();
        req.Headers.TryAddWithoutValidation("User-Agent", "Mozilla/5.0 (X11)");
        var resp = await Client.SendAsync(req);
        Assert.Equal(403, (int)resp.StatusCode);
        Assert.Equal("User agent not allowed\n", await resp.Content.ReadAsStringAsync());
        Assert.Equal(404, (await Send("GET", "/nope")).Status);
        Assert.Equal(405, (await Send("GET", "/reset")).Status); // toxiproxy 1.x used GET /reset
    }

    [Fact]
    public async Task Create_get_and_errors()
    {
        int port = FreePort();
        AssertError(400, "missing required field: name", await Send("POST", "/proxies", "{\"upstream\":\"localhost:1\"}"));
        AssertError(400, "missing required field: upstream", await Send("POST", "/proxies", "{\"name\":\"x\"}"));
        AssertError(400, "bad request body: EOF", await Send("POST", "/proxies", ""));
        var r = await Send("POST", "/proxies", $"{{\"Name\":\"mysql_master\",\"Listen\":\"localhost:{port}\",\"Upstream\":\"localhost:3306\",\"toxics\":[1]}}");
        Assert.Equal(201, r.Status);
        Assert.Equal($"{{\"name\":\"mysql_master\",\"listen\":\"127.0.0.1:{port}\",\"upstream\":\"localhost:3306\",\"enabled\":true,\"toxics\":[]}}\n", r.Body);
        Assert.True(Listening($"127.0.0.1:{port}"));
        AssertError(409, "proxy already exists", await Send("POST", "/proxies", $"{{\"name\":\"mysql_master\",\"listen\":\"localhost:0\",\"upstream\":\"localhost:3306\"}}"));
        AssertError(500, $"listen tcp 127.0.0.1:{port}: bind: address already in use",
            await Send("POST", "/proxies", $"{{\"name\":\"other\",\"listen\":\"localhost:{port}\",\"upstream\":\"localhost:3306\"}}"));
        Assert.Equal(404, (await Send("GET", "/proxies/other")).Status); // a failed create stores nothing
        var g = await Send("GET", "/proxies/mysql_master");
        Assert.Equal(200, g.Status);
        Assert.Contains($"\"listen\":\"127.0.0.1:{port}\"", g.Body);
        var all = await Send("GET", "/proxies");
        Assert.StartsWith("{\"mysql_master\":{\"name\":\"mysql_master\"", all.Body);
        // Disabled at creation: the listen string is kept as given and nothing listens.
        int port2 = FreePort();
        var d = await Send("POST", "/proxies", $"{{\"name\":\"off\",\"listen\":\"localhost:{port2}\",\"upstream\":\"localhost:1\",\"enabled\":false}}");
        Assert.Contains($"\"listen\":\"localhost:{port2}\",\"upstream\":\"localhost:1\",\"enabled\":false", d.Body);
        Assert.False(Listening($"127.0.0.1:{port2}"));
        // Non-loopback: refused unless the server allows it.
        var wide = await Send("POST", "/proxies", "{\"name\":\"wide\",\"listen\":\"0.0.0.0:0\",\"upstream\":\"localhost:1\"}");
        Assert.Equal(403, wide.Status);
        Assert.Contains("not a loopback address", wide.Body);
    }

    [Fact]
    public async Task Enable_disable_delete()
    {
        await Send("POST", "/proxies", "{\"name\":\"p\",\"listen\":\"localhost:0\",\"upstream\":\"localhost:1\"}");
        var listen = Proxies.Get("p").Listen;
        var off = await Send("POST", "/proxies/p", "{\"enabled\":false}");
        Assert.Equal(200, off.Status);
        Assert.Contains("\"enabled\":false", off.Body);
        Assert.False(Listening(listen));
        var on = await Send("PATCH", "/proxies/p", "{\"enabled\":true}");
        Assert.Contains("\"enabled\":true", on.Body);
        Assert.True(Listening(listen));
        Assert.Equal(204, (await Send("DELETE", "/proxies/p")).Status);
        AssertError(404, "proxy not found", await Send("DELETE", "/proxies/p"));
        Assert.False(Listening(listen));
    }

    [Fact]
    public async Task Toxics_create_defaults_conflicts_update_and_delete()
    {
        await Send("POST", "/proxies", "{\"name\":\"p\",\"listen\":\"localhost:0\",\"upstream\":\"localhost:1\"}");
        var t = await Send("POST", "/proxies/p/toxics", "{\"type\":\"latency\",\"stream\":\"upstream\",\"attributes\":{\"latency\":100,\"jitter\":10}}");
        Assert.Equal(200, t.Status); // toxiproxy answers 200, not 201, for a new toxic
        Assert.Equal("{\"attributes\":{\"latency\":100,\"jitter\":10},\"name\":\"latency_upstream\",\"type\":\"latency\",\"stream\":\"upstream\",\"toxicity\":1}\n", t.Body);
        var d = await Send("POST", "/proxies/p/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":100}}");
        Assert.Contains("\"name\":\"latency_downstream\"", d.Body);
        AssertError(409, "toxic already exists", await Send("POST", "/proxies/p/toxics", "{\"name\":\"latency_upstream\",\"type\":\"latency\",\"stream\":\"downstream\"}"));
        var tox = await Send("POST", "/proxies/p/toxics", "{\"name\":\"n\",\"type\":\"noop\",\"toxicity\":0.2}");
        Assert.Equal("{\"attributes\":{},\"name\":\"n\",\"type\":\"noop\",\"stream\":\"downstream\",\"toxicity\":0.2}\n", tox.Body);
        AssertError(400, "stream was invalid, can be either upstream or downstream", await Send("POST", "/proxies/p/toxics", "{\"type\":\"latency\",\"stream\":\"walrustream\"}"));
        AssertError(400, "stream was invalid, can be either upstream or downstream", await Send("POST", "/proxies/p/toxics", "{\"type\":\"latency\",\"stream\":\"\"}"));
        AssertError(400, "invalid toxic type", await Send("POST", "/proxies/p/toxics", "{\"type\":\"walrus\"}"));
        AssertError(404, "proxy not found", await Send("POST", "/proxies/nope/toxics", "{\"type\":\"latency\"}"));
        // ChaosPS's validation: same error shape, nothing changes.
        Assert.Equal(400, (await Send("POST", "/proxies/p/toxics", "{\"name\":\"s\",\"type\":\"slicer\",\"attributes\":{\"average_size\":0}}")).Status);
        Assert.Equal(400, (await Send("POST", "/proxies/p/toxics", "{\"name\":\"neg\",\"type\":\"latency\",\"attributes\":{\"latency\":-5}}")).Status);
        Assert.Equal(400, (await Send("POST", "/proxies/p/toxics", "{\"name\":\"tx\",\"type\":\"latency\",\"toxicity\":1.5}")).Status);
        Assert.Equal(400, (await Send("POST", "/proxies/p/toxics", "{\"name\":\"ua\",\"type\":\"latency\",\"attributes\":{\"walrus\":1}}")).Status);
        Assert.Equal(400, (await Send("POST", "/proxies/p/toxics", "{\"name\":\"fl\",\"type\":\"bandwidth\",\"attributes\":{\"rate\":100.5}}")).Status);
        Assert.Equal(3, Proxies.Get("p").Toxics.Count);
        // Partial update: toxicity 0.5 and latency 1000 keep jitter 10; a later update without toxicity keeps 0.5.
        var u = await Send("PATCH", "/proxies/p/toxics/latency_upstream", "{\"toxicity\":0.5,\"attributes\":{\"latency\":1000}}");
        Assert.Equal("{\"attributes\":{\"latency\":1000,\"jitter\":10},\"name\":\"latency_upstream\",\"type\":\"latency\",\"stream\":\"upstream\",\"toxicity\":0.5}\n", u.Body);
        var u2 = await Send("POST", "/proxies/p/toxics/latency_upstream", "{\"attributes\":{\"Jitter\":20}}");
        Assert.Contains("\"jitter\":20", u2.Body);
        Assert.Contains("\"toxicity\":0.5", u2.Body);
        // List: upstream chain first.
        var list = await Send("GET", "/proxies/p/toxics");
        using (var doc = JsonDocument.Parse(list.Body))
            Assert.Equal(["latency_upstream", "latency_downstream", "n"], doc.RootElement.EnumerateArray().Select(e => e.GetProperty("name").GetString()!).ToArray());
        Assert.Equal(200, (await Send("GET", "/proxies/p/toxics/n")).Status);
        Assert.Equal(204, (await Send("DELETE", "/proxies/p/toxics/n")).Status);
        AssertError(404, "toxic not found", await Send("DELETE", "/proxies/p/toxics/n"));
        AssertError(404, "toxic not found", await Send("GET", "/proxies/p/toxics/n"));
        var proxy = await Send("GET", "/proxies/p");
        Assert.Contains("\"toxics\":[{\"attributes\":{\"latency\":1000,\"jitter\":20}", proxy.Body);
    }

    [Fact]
    public async Task Populate_creates_is_idempotent_and_validates_first()
    {
        var ports = ChaosPS.Testbed.TestbedLauncher.FreePorts(2);   // held together: never the same port twice
        int a = ports[0], b = ports[1];
        var body = $"[{{\"name\":\"one\",\"listen\":\"localhost:{a}\",\"upstream\":\"localhost:1\"}},{{\"name\":\"two\",\"listen\":\"localhost:{b}\",\"upstream\":\"localhost:2\",\"enabled\":false}}]";
        var r = await Send("POST", "/populate", body);
        Assert.Equal(201, r.Status);
        Assert.StartsWith($"{{\"proxies\":[{{\"name\":\"one\",\"listen\":\"127.0.0.1:{a}\"", r.Body);
        Assert.True(Listening($"127.0.0.1:{a}"));
        Assert.False(Listening($"127.0.0.1:{b}"));
        // An existing proxy with the same resolved listen keeps its toxics.
        await Send("POST", "/proxies/one/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":5}}");
        var again = await Send("POST", "/populate", $"[{{\"name\":\"one\",\"listen\":\"127.0.0.1:{a}\",\"upstream\":\"localhost:1\"}}]");
        Assert.Equal(201, again.Status);
        Assert.Contains("latency_downstream", again.Body);
        Assert.Single(Proxies.Get("one").Toxics);
        // Validation first: an empty 2nd name creates nothing.
        AssertError(400, "missing required field: name at proxy 2",
            await Send("POST", "/populate", "[{\"name\":\"three\",\"listen\":\"localhost:0\",\"upstream\":\"localhost:3\"},{\"name\":\"\",\"upstream\":\"localhost:4\"}]"));
        Assert.False(Proxies.TryGet("three", out _));
        // A bad listen in the 2nd of 3: only the 1st is created, and the error lists it.
        var bad = await Send("POST", "/populate", "[{\"name\":\"four\",\"listen\":\"localhost:0\",\"upstream\":\"localhost:3\"},{\"name\":\"five\",\"listen\":\"local373\",\"upstream\":\"localhost:4\"},{\"name\":\"six\",\"listen\":\"localhost:0\",\"upstream\":\"localhost:5\"}]");
        Assert.Equal(500, bad.Status);
        Assert.Contains("missing port in address", bad.Body);
        Assert.Contains("\"proxies\":[{\"name\":\"four\"", bad.Body);
        Assert.True(Proxies.TryGet("four", out _));
        Assert.False(Proxies.TryGet("six", out _));
        var empty = await Send("POST", "/populate", "[]");
        Assert.Equal("{\"proxies\":null}\n", empty.Body);
    }

    [Fact]
    public async Task Reset_removes_toxics_and_enables_proxies()
    {
        await Send("POST", "/proxies", "{\"name\":\"p\",\"listen\":\"localhost:0\",\"upstream\":\"localhost:1\"}");
        await Send("POST", "/proxies/p/toxics", "{\"type\":\"latency\",\"attributes\":{\"latency\":5}}");
        await Send("POST", "/proxies/p", "{\"enabled\":false}");
        Assert.Equal(204, (await Send("POST", "/reset", "")).Status);
        var p = Proxies.Get("p");
        Assert.True(p.Enabled);
        Assert.Empty(p.Toxics);
        Assert.True(Listening(p.Listen));
    }

    [Fact]
    public async Task A_toxic_added_through_the_api_applies_to_traffic()
    {
        using var echo = TestServer.Echo();
        await Send("POST", "/proxies", $"{{\"name\":\"e\",\"listen\":\"localhost:0\",\"upstream\":\"{echo.Address}\"}}");
        await Send("POST", "/proxies/e/toxics", "{\"type\":\"limit_data\",\"attributes\":{\"bytes\":3}}");
        using var c = await ProxyFixture.ConnectAsync(Proxies.Get("e").Listen);
        await Net.SendAllAsync(c, Encoding.ASCII.GetBytes("hello"));
        Assert.Equal("hel", Encoding.ASCII.GetString(await Net.ReadToEndAsync(c, 5000)));
    }

    [Fact]
    public async Task Metrics_are_toxiproxys_byte_counters_in_prometheus_text_and_live()
    {
        using var echo = TestServer.Echo();
        var created = await Send("POST", "/proxies", $"{{\"name\":\"m\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"{echo.Address}\"}}");
        Assert.Equal(201, created.Status);
        var listen = Proxies.Get("m").Listen;
        using var c = await ProxyFixture.ConnectAsync(listen);
        await Net.SendAllAsync(c, Encoding.ASCII.GetBytes("hello"));
        Assert.Equal("hello", Encoding.ASCII.GetString(await Net.ReadExactlyAsync(c, 5)));

        await Net.EventuallyAsync(() => Proxies.Get("m").Snapshot() is { BytesUpstream: 5, BytesDownstream: 5 }, what: "the bytes counted");
        var r = await Send("GET", "/metrics"); // the connection is still open: toxiproxy would still say nothing
        Assert.Equal(200, r.Status);
        Assert.StartsWith("text/plain; version=0.0.4", r.Resp.Content.Headers.ContentType!.ToString());
        var labels = $"listener=\"{listen}\",proxy=\"m\",upstream=\"{echo.Address}\"";
        foreach (var family in new[] { "toxiproxy_proxy_received_bytes_total", "toxiproxy_proxy_sent_bytes_total" })
        {
            Assert.Contains($"# TYPE {family} counter\n", r.Body);
            foreach (var dir in new[] { "upstream", "downstream" })
                Assert.Contains($"{family}{{direction=\"{dir}\",{labels}}} 5\n", r.Body);
        }
        Assert.Contains($"chaosps_proxy_connections_active{{{labels}}} 1\n", r.Body);
        Assert.Contains($"chaosps_proxy_connections_total{{{labels}}} 1\n", r.Body);
    }
}
