using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

[CollectionDefinition("NoParallel", DisableParallelization = true)]
public class NoParallelCollection;

/// <summary>The epoll hot loop allocates nothing per request (measured process-wide, with other tests not running).</summary>
[Collection("NoParallel")]
public class AllocationTests
{
    [Fact]
    public void Epoll_engine_does_not_allocate_per_request()
    {
        if (!EpollEngine.Supported) return;
        using var srv = new TestHttpServer();
        var o = new LoadTestOptions { Requests = [new LoadRequest { Uri = new Uri(srv.Base + "/ok") }], Concurrency = 4, Iterations = 20_000, Engine = "Epoll" };
        // Warm up (JIT, pools), then measure.
        new LoadTestRunner(o).RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        var runner = new LoadTestRunner(new LoadTestOptions { Requests = [new LoadRequest { Uri = new Uri(srv.Base + "/ok") }], Concurrency = 4, Iterations = 20_000, Engine = "Epoll" });
        var r = runner.RunAsync(CancellationToken.None).GetAwaiter().GetResult();
        Assert.Equal(20_000, r.Requests);
        // Bytes allocated by the loop thread for 20,000 requests: connection setup and the first-use of a few
        // structures only; a client that allocated per request (a Task, a buffer, a string) would be at 1 MB+.
        long bytes = runner.Epoll!.LoopAllocatedBytes;
        Assert.True(bytes < 200_000, $"{bytes} bytes allocated by the loop for 20,000 requests ({bytes / 20_000.0:0.0} per request)");
    }
}
