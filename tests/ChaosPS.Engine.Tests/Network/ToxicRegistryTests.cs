using System.Text;
using System.Text.Json;
using ChaosPS.Network;

namespace ChaosPS.Engine.Tests.Network;

/// <summary>The one table of toxic types: every type is complete, and the toxiproxy API accepts exactly its types.</summary>
[Collection("Network")]
public sealed class ToxicRegistryTests : ToxiproxyApiFixture
{
    private async Task<(int Status, string Body)> Post(string path, string json)
    {
        using var resp = await Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));
        return ((int)resp.StatusCode, await resp.Content.ReadAsStringAsync());
    }

    [Fact]
    public void Every_registered_toxic_has_a_name_attributes_and_its_behaviour()
    {
        Assert.NotEmpty(ToxicRegistry.All);
        Assert.Equal(ToxicRegistry.All.Count, ToxicRegistry.All.Select(d => d.Name).Distinct().Count());
        Assert.Equal(ToxicRegistry.All.Count, ToxicRegistry.All.Select(d => d.FriendlyName.ToLowerInvariant()).Distinct().Count());
        foreach (var d in ToxicRegistry.All)
        {
            Assert.Matches("^[a-z][a-z_]*$", d.Name);
            Assert.False(string.IsNullOrWhiteSpace(d.FriendlyName), d.Name);
            Assert.Equal(d.Name, ToxicTypes.FromFriendly(d.FriendlyName));
            Assert.Same(d, ToxicRegistry.Find(d.Name));
            Assert.True(d.HasBehaviour, $"{d.Name} has no behaviour");
            if (d.Kind == ToxicKind.Chain) Assert.NotNull(d.CreateLink);
            else Assert.Null(d.CreateLink); // connection-level and HTTP toxics act in the proxy, not in a link's chain
            Assert.Equal(d.Kind == ToxicKind.Http, d.StringAttributes.Count > 0);
            Assert.Equal(d.Attributes.Count, d.Attributes.Select(a => a.Name).Distinct().Count());
            foreach (var a in d.Attributes)
            {
                Assert.Matches("^[a-z][a-z_]*$", a.Name);
                Assert.False(string.IsNullOrWhiteSpace(a.Unit), $"{d.Name}.{a.Name} has no unit");
                Assert.InRange(a.Min, 0, a.Max);
                if (a.Default is { } def) Assert.InRange(def, a.Min, a.Max);
                if (a.Required is { } req)
                {
                    Assert.Contains(a.Name, req.ApiMessage);
                    Assert.False(string.IsNullOrWhiteSpace(req.Hint));
                }
            }
        }
        // Chain toxics that take attributes act on them; toxiproxy's types are all present.
        foreach (var t in new[] { "latency", "bandwidth", "slow_close", "timeout", "reset_peer", "slicer", "limit_data", "noop" })
            Assert.Equal(ToxicKind.Chain, ToxicRegistry.Find(t)?.Kind);
        Assert.Equal(ToxicRegistry.Names, ToxicTypes.All);
    }

    [Fact]
    public async Task The_API_accepts_exactly_the_registered_types_with_their_attributes_in_order()
    {
        Assert.Equal(201, (await Post("/proxies", "{\"name\":\"h\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"127.0.0.1:1\",\"mode\":\"http\"}")).Status);
        foreach (var d in ToxicRegistry.All)
        {
            // The least valid settings: each attribute at its minimum (or default).
            var attrs = string.Join(",", d.Attributes.Select(a => $"\"{a.Name}\":{a.Default ?? a.Min}"));
            var r = await Post("/proxies/h/toxics", $"{{\"name\":\"t_{d.Name}\",\"type\":\"{d.Name}\",\"attributes\":{{{attrs}}}}}");
            Assert.True(r.Status == 200, $"{d.Name}: {r.Status} {r.Body}");
            using var doc = JsonDocument.Parse(r.Body);
            Assert.Equal(d.Name, doc.RootElement.GetProperty("type").GetString());
            var names = doc.RootElement.GetProperty("attributes").EnumerateObject().Select(p => p.Name).ToList();
            Assert.Equal([.. d.AttributeNames, .. d.StringAttributes], names);
        }
        foreach (var unknown in new[] { "down", "http", "Latency", "http_foo", "" })
        {
            var r = await Post("/proxies/h/toxics", $"{{\"name\":\"u{unknown}\",\"type\":\"{unknown}\"}}");
            Assert.Equal(400, r.Status);
            Assert.Equal("{\"error\":\"invalid toxic type\",\"status\":400}\n", r.Body);
        }
        var listed = Proxies.Get("h").Toxics.Select(t => t.Type).ToList();
        Assert.Equal(ToxicRegistry.Names, listed);
    }

    [Fact]
    public void Declared_defaults_are_filled_and_declared_checks_run()
    {
        Assert.Equal(503, ToxicSpec.Create("HttpStatus", "downstream", 1, null).Attr("status"));
        var e = Assert.Throws<ProxyException>(() => ToxicSpec.Create("slicer", "downstream", 1, new Dictionary<string, long> { ["average_size"] = 0 }));
        Assert.Equal("attribute average_size must be at least 1", e.ApiMessage);
        var s = Assert.Throws<ProxyException>(() => ToxicSpec.Create("http_status", "downstream", 1, new Dictionary<string, long> { ["status"] = 600 }));
        Assert.Equal("InvalidHttpStatus", s.ErrorId);
    }
}
