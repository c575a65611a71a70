using System.Text;
using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

public class LoadChecksTests
{
    private static Http1ResponseParser Response(int status, string body)
    {
        var p = new Http1ResponseParser { CaptureBody = true };
        p.Reset(false);
        p.Parse(Encoding.ASCII.GetBytes($"HTTP/1.1 {status} X\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n\r\n{body}"), 1);
        Assert.True(p.Done);
        return p;
    }

    private static LoadChecks Make(params LoadCheck[] checks)
    {
        var o = new LoadTestOptions { Requests = [new LoadRequest { Uri = new Uri("http://127.0.0.1:9/") }], Concurrency = 1, Checks = [.. checks] };
        o.Validate(); // compiles the regexes and needles
        return new LoadChecks(o.Checks, LoadMetrics.OkStatuses(o));
    }

    [Fact]
    public void Each_kind_passes_and_fails_on_what_it_reads()
    {
        var c = Make(
            new LoadCheck { Name = "status", Kind = "Status" },
            new LoadCheck { Name = "contains", Kind = "Contains", Text = "\"ok\"" },
            new LoadCheck { Name = "regex", Kind = "Regex", Text = "n\":\\s*4\\d" },
            new LoadCheck { Name = "json", Kind = "JsonPath", JsonPath = "$.status", Expected = "ok" },
            new LoadCheck { Name = "bool", Kind = "JsonPath", JsonPath = "$.up", Expected = "True" });
        Assert.True(c.NeedsBody);
        c.Run(200, Response(200, "{\"status\":\"ok\",\"n\": 42,\"up\":true}"));
        c.Run(503, Response(503, "{\"status\":\"down\",\"n\": 7,\"up\":false}"));
        c.Run(200, Response(200, "not json"));
        var s = new LoadStats();
        c.CopyCountersTo(s);
        Assert.Equal([2, 1], s.CheckCounts["status"]);
        Assert.Equal([1, 2], s.CheckCounts["contains"]);
        Assert.Equal([1, 2], s.CheckCounts["regex"]);
        Assert.Equal([1, 2], s.CheckCounts["json"]);
        Assert.Equal([1, 2], s.CheckCounts["bool"]); // a JSON boolean compares without case; unparsable JSON fails
        Assert.Equal(6, s.ChecksPassed);
        Assert.Equal(9, s.ChecksFailed);
    }

    [Fact]
    public void Status_check_follows_the_expected_status_set_and_only_body_checks_need_the_body()
    {
        var o = new LoadTestOptions { Requests = [new LoadRequest { Uri = new Uri("http://127.0.0.1:9/") }], Concurrency = 1, ExpectStatus = [404],
            Checks = [new LoadCheck { Name = "status", Kind = "Status" }] };
        o.Validate();
        var c = new LoadChecks(o.Checks, LoadMetrics.OkStatuses(o));
        Assert.False(c.NeedsBody);
        c.Run(404, Response(404, ""));
        c.Run(200, Response(200, ""));
        Assert.Equal(1, c.Passed);
        Assert.Equal(1, c.Failed);
    }
}
