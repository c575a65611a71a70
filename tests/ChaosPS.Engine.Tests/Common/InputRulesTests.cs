using ChaosPS.Chaos;

namespace ChaosPS.Engine.Tests.Common;

/// <summary>The central input rules every cmdlet applies: each bad value is a ChaosException with a specific id.</summary>
public class InputRulesTests
{
    private static string IdOf(Action a) => Assert.Throws<ChaosException>(a).ErrorId;

    [Fact]
    public void Durations_in_range_pass()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), InputRules.Duration(TimeSpan.FromSeconds(30), "Timeout"));
        Assert.Equal(TimeSpan.Zero, InputRules.Duration(TimeSpan.Zero, "ThinkTime", allowZero: true));
        Assert.Equal(InputRules.MaxDuration, InputRules.Duration(InputRules.MaxDuration, "Duration"));
        Assert.Null(InputRules.Duration((TimeSpan?)null, "Duration"));
    }

    public static TheoryData<TimeSpan> BadDurations => new()
    {
        TimeSpan.MaxValue, TimeSpan.MinValue, TimeSpan.Zero, TimeSpan.FromTicks(-1), InputRules.MaxDuration + TimeSpan.FromTicks(1),
    };

    [Theory]
    [MemberData(nameof(BadDurations))]
    public void Extreme_zero_and_negative_durations_are_InvalidDuration(TimeSpan value)
    {
        var e = Assert.Throws<ChaosException>(() => InputRules.Duration(value, "Timeout"));
        Assert.Equal("InvalidDuration", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.InvalidArgument, e.Category);
        Assert.Contains("-Timeout", e.Message);
    }

    [Fact]
    public void A_duration_rule_takes_its_own_maximum()
        => Assert.Equal("InvalidDuration", IdOf(() => InputRules.Duration(TimeSpan.FromHours(2), "HangTimeout", max: TimeSpan.FromHours(1))));

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    [InlineData(-1.0)]
    [InlineData(101.0)]
    public void Numbers_out_of_range_or_not_finite_are_ValueOutOfRange(double value)
        => Assert.Equal("ValueOutOfRange", IdOf(() => InputRules.Range(value, "Rate", 0, 100)));

    [Theory]
    [InlineData("http://127.0.0.1:8080/health")]
    [InlineData("https://localhost/")]
    [InlineData("http://[::1]:5000/")]
    [InlineData("http://127.3.4.5/")]
    public void Loopback_http_uris_pass(string uri) => Assert.NotNull(InputRules.HttpUri(uri, "Uri", loopbackOnly: true));

    [Theory]
    [InlineData("abc", "InvalidUri")]
    [InlineData("", "InvalidUri")]
    [InlineData("   ", "InvalidUri")]
    [InlineData(null, "InvalidUri")]
    [InlineData("/relative/path", "InvalidUri")]
    [InlineData("ftp://127.0.0.1/", "UnsupportedUriScheme")]
    [InlineData("file:///etc/passwd", "InvalidUri")]
    [InlineData("gopher://127.0.0.1/", "UnsupportedUriScheme")]
    [InlineData("http://192.0.2.1:9/", "NonLoopbackTarget")]
    [InlineData("http://example.com/", "NonLoopbackTarget")]
    public void Bad_or_remote_uris_are_refused(string? uri, string id)
        => Assert.Equal(id, IdOf(() => InputRules.HttpUri(uri, "Uri", loopbackOnly: true)));

    [Fact]
    public void A_remote_uri_passes_when_allowed() => Assert.NotNull(InputRules.HttpUri("http://192.0.2.1:9/", "Uri"));

    [Theory]
    [InlineData("GET")]
    [InlineData("PATCH")]
    [InlineData("PROPFIND")]
    [InlineData("X-CUSTOM")]
    public void Method_tokens_pass(string method) => Assert.Equal(method, InputRules.HttpMethod(method));

    [Theory]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("GET /x HTTP/1.1")]
    [InlineData("[z-a]")]
    [InlineData("a/b")]
    [InlineData("GÉT")]
    [InlineData("GET\r\n")]
    public void Method_that_is_no_token_is_InvalidHttpMethod(string? method)
        => Assert.Equal("InvalidHttpMethod", IdOf(() => InputRules.HttpMethod(method)));

    [Theory]
    [InlineData(99)]
    [InlineData(600)]
    [InlineData(-1)]
    [InlineData(0)]
    public void Status_codes_outside_100_to_599_are_InvalidStatusCode(int code)
        => Assert.Equal("InvalidStatusCode", IdOf(() => InputRules.StatusCode(code, "ExpectStatus")));

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData(null)]
    [InlineData("a/b")]
    [InlineData(" padded")]
    [InlineData("web*")]
    [InlineData("[z-a]")]
    [InlineData("tab\tname")]
    public void Bad_names_are_InvalidName(string? name) => Assert.Equal("InvalidName", IdOf(() => InputRules.Name(name)));

    [Fact]
    public void Names_may_be_wildcards_for_lookups()
    {
        Assert.Equal("web*", InputRules.Name("web*", allowWildcard: true));
        Assert.Equal("InvalidName", IdOf(() => InputRules.Name(new string('x', 201))));
    }

    [Fact]
    public void An_invalid_wildcard_is_InvalidWildcard()
        => Assert.Equal("InvalidWildcard", IdOf(() => InputRules.Wildcard("[z-a]", "Name", _ => false)));

    [Theory]
    [InlineData("127.0.0.1:8080", "127.0.0.1", 8080)]
    [InlineData("localhost:1", "localhost", 1)]
    [InlineData("[::1]:65535", "::1", 65535)]
    public void Endpoints_parse(string text, string host, int port) => Assert.Equal((host, port), InputRules.Endpoint(text, "TcpEndpoint"));

    [Theory]
    [InlineData("[::1")]
    [InlineData("[::1]")]
    [InlineData("::1:80")]
    [InlineData("host")]
    [InlineData("host:0")]
    [InlineData("host:65536")]
    [InlineData("host:-1")]
    [InlineData(":80")]
    [InlineData("")]
    [InlineData(null)]
    [InlineData("[z-a]:80")]
    public void Bad_endpoints_are_InvalidEndpoint(string? text)
        => Assert.Equal("InvalidEndpoint", IdOf(() => InputRules.Endpoint(text, "TcpEndpoint")));

    [Fact]
    public void Port_zero_only_where_allowed() => Assert.Equal(("127.0.0.1", 0), InputRules.Endpoint("127.0.0.1:0", "Listen", allowPortZero: true));

    [Theory]
    [InlineData("unix:///var/run/docker.sock")]
    [InlineData("tcp://127.0.0.1:2375")]
    public void Local_docker_endpoints_pass(string text) => Assert.Equal(text, InputRules.DockerEndpoint(text));

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("ftp://127.0.0.1/")]
    [InlineData("tcp://192.0.2.1:2375")]
    [InlineData("unix://")]
    public void Bad_docker_endpoints_are_InvalidDockerEndpoint(string text)
        => Assert.Equal("InvalidDockerEndpoint", IdOf(() => InputRules.DockerEndpoint(text)));

    [Theory]
    [InlineData("web-1")]
    [InlineData("/web_1.a")]
    [InlineData("0123456789ab")]
    public void Container_references_pass(string text) => Assert.Equal(text, InputRules.Container(text));

    [Theory]
    [InlineData("")]
    [InlineData(" ")]
    [InlineData("a/b")]
    [InlineData("[z-a]")]
    [InlineData("-web")]
    public void Bad_container_references_are_InvalidContainer(string text)
        => Assert.Equal("InvalidContainer", IdOf(() => InputRules.Container(text)));

    [Fact]
    public void Paths_must_be_usable()
    {
        Assert.Equal("a/b", InputRules.Path("a/b"));
        Assert.Equal("InvalidPath", IdOf(() => InputRules.Path(" ")));
        Assert.Equal("InvalidPath", IdOf(() => InputRules.Path(new string('x', 5000))));
        Assert.Equal("InvalidPath", IdOf(() => InputRules.Path("a\0b")));
        Assert.Equal("InvalidPath", IdOf(() => InputRules.Path("a\r\nb")));
    }

    [Fact]
    public void Content_types_are_media_types()
    {
        Assert.Equal("application/json; charset=utf-8", InputRules.ContentType("application/json; charset=utf-8"));
        Assert.Equal("InvalidContentType", IdOf(() => InputRules.ContentType("json")));
        Assert.Equal("InvalidContentType", IdOf(() => InputRules.ContentType("[z-a]")));
    }

    [Fact]
    public void A_look_alike_target_without_a_process_or_container_is_InvalidTarget()
    {
        Assert.Equal("InvalidTarget", IdOf(() => InputRules.Target(new ChaosTarget { Name = "x" })));
        Assert.Equal("InvalidTarget", IdOf(() => InputRules.Target(new ChaosTarget { Kind = "Container", Name = "x" })));
        Assert.Equal("InvalidTarget", IdOf(() => InputRules.Target(null)));
        var real = new ChaosTarget { Name = "sleep", ProcessId = Environment.ProcessId };
        Assert.Same(real, InputRules.Target(real));
    }
}
