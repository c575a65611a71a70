using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using ChaosPS.Chaos;
using ChaosPS.Recovery;

namespace ChaosPS.Engine.Tests.Recovery;

/// <summary>
/// Wait-ChaosRecovery's engine against real sockets and real processes. "Recovered" needs every probe healthy in the
/// same round (SuccessThreshold rounds in a row); a probe that never succeeded is never a recovery.
/// </summary>
public sealed class RecoveryWaiterTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    /// <summary>A minimal HTTP/1.1 responder on <see cref="TestServer"/>: every request gets <paramref name="status"/>, then the connection closes.</summary>
    private static TestServer Http(int port, int status = 200, string body = "ok") => new(async s =>
    {
        using var _ = s;
        var buf = new byte[8192];
        int have = 0;
        while (buf.AsSpan(0, have).IndexOf("\r\n\r\n"u8) < 0)
        {
            int n = await s.ReceiveAsync(buf.AsMemory(have), SocketFlags.None);
            if (n == 0) return;
            have += n;
        }
        var b = Encoding.ASCII.GetBytes(body);
        await s.SendAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status} X\r\nContent-Length: {b.Length}\r\nConnection: close\r\n\r\n").Concat(b).ToArray(), SocketFlags.None);
        s.Shutdown(SocketShutdown.Both);
    }, port: port);

    private static RecoveryOptions Options(TimeSpan timeout)
        => new() { Timeout = timeout, Interval = TimeSpan.FromMilliseconds(100) };

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!condition())
        {
            if (sw.Elapsed > Generous) throw new TimeoutException(what);
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task An_http_probe_sees_a_server_come_back_and_measures_the_time_from_the_fault()
    {
        int port = TestServer.FreePort();
        var o = Options(Generous);
        o.HttpUris.Add($"http://127.0.0.1:{port}/health");
        var faultAt = DateTimeOffset.UtcNow;
        o.FaultAt = faultAt;
        var rep = new RecordingReporter();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        var wait = RecoveryWaiter.WaitAsync(o, rep, cts.Token);

        // The server is down: let the waiter see at least two failed rounds before it comes up.
        await WaitUntil(() => rep.Progresses.Count(p => p.Status.StartsWith("0/1")) >= 2 || wait.IsCompleted, "two failed rounds");
        Assert.False(wait.IsCompleted, "the waiter ended while the server was still down");
        var upAt = DateTimeOffset.UtcNow;
        using var server = Http(port);
        var r = await wait;

        Assert.True(r.Recovered, r.LastProbe);
        Assert.Equal(faultAt, r.FaultAt);
        var p = Assert.Single(r.Probes);
        Assert.Equal("Http", p.Kind);
        Assert.True(p.Healthy);
        Assert.True(p.Failures >= 2, $"failures {p.Failures}");
        Assert.True(r.Attempts >= 3, $"attempts {r.Attempts}");
        Assert.NotNull(r.DetectedAt);
        Assert.NotNull(r.TimeToDetect);
        Assert.NotNull(r.RecoveredAt);
        Assert.True(r.RecoveredAt >= upAt, "recovery was dated before the server came up");
        Assert.NotNull(r.TimeToRecover);
        Assert.True(r.TimeToRecover >= upAt - faultAt, $"time to recover {r.TimeToRecover} is shorter than the outage {upAt - faultAt}");
        Assert.Contains("200", r.LastProbe);
    }

    [Fact]
    public async Task A_server_that_never_comes_back_is_not_recovered_and_says_why()
    {
        int port = TestServer.FreePort();
        var o = Options(TimeSpan.FromSeconds(1.5));
        o.HttpUris.Add($"http://127.0.0.1:{port}/");
        var r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);

        Assert.False(r.Recovered);
        Assert.Null(r.RecoveredAt);
        Assert.Null(r.TimeToRecover);
        Assert.NotNull(r.TimeToDetect);
        Assert.True(r.Waited >= o.Timeout);
        Assert.Contains("unhealthy", r.LastProbe);
        Assert.False(string.IsNullOrWhiteSpace(Assert.Single(r.Probes).LastDetail));
        Assert.Equal(r.Attempts, r.Probes[0].Failures);
        Assert.StartsWith("Not recovered", r.ToString());
    }

    [Fact]
    public async Task The_status_rules_default_to_2xx_and_an_expected_status_list_replaces_them()
    {
        using var server = new TestHttpServer();
        // 503 is not healthy by default.
        var o = Options(TimeSpan.FromSeconds(1));
        o.HttpUris.Add($"{server.Base}/status/503");
        var r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.False(r.Recovered);
        Assert.Contains("503", r.LastProbe);

        // ...but it is when the caller expects it.
        o = Options(Generous);
        o.HttpUris.Add($"{server.Base}/status/503");
        o.ExpectedStatus = [503];
        Assert.True((await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None)).Recovered);

        // An expected-status list also turns a 2xx that is not in it away.
        o = Options(TimeSpan.FromSeconds(1));
        o.HttpUris.Add($"{server.Base}/status/204");
        o.ExpectedStatus = [200];
        r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.False(r.Recovered);
        Assert.Contains("204", r.LastProbe);

        // And the default takes any 2xx.
        o = Options(Generous);
        o.HttpUris.Add($"{server.Base}/status/204");
        Assert.True((await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None)).Recovered);
    }

    [Fact]
    public async Task A_body_pattern_must_match_for_the_probe_to_be_healthy()
    {
        using var server = new TestHttpServer();
        var o = Options(Generous);
        o.HttpUris.Add($"{server.Base}/json");
        o.BodyPattern = "\"n\":42";
        Assert.True((await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None)).Recovered);

        o = Options(TimeSpan.FromSeconds(1));
        o.HttpUris.Add($"{server.Base}/json");
        o.BodyPattern = "\"status\":\"degraded\"";
        var r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.False(r.Recovered);
        Assert.Contains("body did not match", r.LastProbe);
    }

    [Fact]
    public async Task A_tcp_probe_is_healthy_on_a_listening_port_and_not_on_a_closed_one()
    {
        int closed = TestServer.FreePort();
        var o = Options(TimeSpan.FromSeconds(1));
        o.TcpEndpoints.Add(("127.0.0.1", closed));
        var r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.False(r.Recovered);
        Assert.Equal("Tcp", r.Probes[0].Kind);
        Assert.Equal("ConnectionRefused", r.Probes[0].LastDetail);

        using var echo = TestServer.Echo();
        o = Options(Generous);
        o.TcpEndpoints.Add(("127.0.0.1", echo.Port));
        r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.True(r.Recovered);
        Assert.Equal("connected", r.Probes[0].LastDetail);
    }

    [Fact]
    public async Task Every_probe_must_be_healthy_in_the_same_round_one_failing_probe_is_never_a_recovery()
    {
        // Missing evidence is never a recovery: one probe up and one down must time out, not recover.
        using var echo = TestServer.Echo();
        int closed = TestServer.FreePort();
        var o = Options(TimeSpan.FromSeconds(1.5));
        o.TcpEndpoints.Add(("127.0.0.1", echo.Port));
        o.HttpUris.Add($"http://127.0.0.1:{closed}/");
        var r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.False(r.Recovered, "recovered although the HTTP probe never succeeded");
        Assert.Null(r.TimeToRecover);
        Assert.True(r.Probes.Single(p => p.Kind == "Tcp").Healthy);
        var http = r.Probes.Single(p => p.Kind == "Http");
        Assert.False(http.Healthy);
        Assert.Null(http.RecoveredAt);
        Assert.Equal(r.Attempts, http.Failures);
    }

    [Fact]
    public async Task A_success_threshold_needs_that_many_healthy_rounds_in_a_row()
    {
        using var echo = TestServer.Echo();
        var o = Options(Generous);
        o.TcpEndpoints.Add(("127.0.0.1", echo.Port));
        o.SuccessThreshold = 3;
        var r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.True(r.Recovered);
        Assert.True(r.Attempts >= 3, $"attempts {r.Attempts}");
        Assert.Equal(0, r.Probes[0].Failures);
    }

    [Fact]
    public async Task Nothing_to_probe_is_refused_with_NoProbe()
    {
        var e = await Assert.ThrowsAsync<ChaosException>(() => RecoveryWaiter.WaitAsync(Options(Generous), NullReporter.Instance, CancellationToken.None));
        Assert.Equal("NoProbe", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.InvalidArgument, e.Category);
    }

    private static Crasher.Options Kill => new("KILL", null, "Signal", TimeSpan.FromSeconds(30), null);

    [Fact]
    public async Task A_crashed_process_that_never_comes_back_is_detected_but_not_recovered()
    {
        using var child = ChildProcess.Sleep("611.25");
        var crash = await Crasher.CrashAsync(child.Target(), Kill, NullReporter.Instance, CancellationToken.None);
        Assert.Equal("exited", crash.ObservedState);
        var o = Options(TimeSpan.FromSeconds(1.5));
        o.Crashes.Add(crash);
        var r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);

        Assert.False(r.Recovered);
        Assert.Equal(1, r.CrashCount);
        Assert.False(crash.Survived);
        Assert.Equal(1, r.FaultCount);
        Assert.Empty(r.FaultsWithoutEffect);
        Assert.Equal(crash.CrashedAt, r.FaultAt);
        Assert.NotNull(r.TimeToDetect);
        Assert.Null(r.TimeToRecover);
        var p = Assert.Single(r.Probes);
        Assert.Equal("Process", p.Kind);
        Assert.Equal("not back yet", p.LastDetail);
    }

    [Fact]
    public async Task A_crashed_process_is_recovered_when_the_same_command_line_runs_again_under_a_new_pid()
    {
        using var child = ChildProcess.Sleep("612.25");
        var crash = await Crasher.CrashAsync(child.Target(), Kill, NullReporter.Instance, CancellationToken.None);
        var o = Options(Generous);
        o.Crashes.Add(crash);
        var rep = new RecordingReporter();
        var wait = RecoveryWaiter.WaitAsync(o, rep, CancellationToken.None);
        await WaitUntil(() => rep.Progresses.Count >= 2 || wait.IsCompleted, "two rounds");
        Assert.False(wait.IsCompleted, "recovered before the worker came back");

        var backAt = DateTimeOffset.UtcNow;
        using var again = ChildProcess.Sleep("612.25");
        var r = await wait;
        Assert.True(r.Recovered, r.LastProbe);
        Assert.NotEqual(child.Pid, again.Pid);
        Assert.Contains($"back as pid {again.Pid}", r.LastProbe);
        Assert.True(r.RecoveredAt >= backAt);
        Assert.True(r.TimeToRecover >= backAt - crash.CrashedAt);
    }

    [Fact]
    public async Task A_named_process_probe_needs_a_process_of_that_name()
    {
        var o = Options(TimeSpan.FromSeconds(1));
        o.ProcessNames.Add("no-such-process-" + Guid.NewGuid().ToString("N")[..6]);
        var r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.False(r.Recovered);
        Assert.Equal("no such process", r.Probes[0].LastDetail);

        using var child = ChildProcess.Sleep("613.25");
        o = Options(Generous);
        o.ProcessNames.Add("sleep");
        r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.True(r.Recovered);
    }
    [Fact]
    public async Task A_max_latency_turns_a_slow_answer_away()
    {
        using var server = new TestHttpServer();
        var o = Options(TimeSpan.FromSeconds(1));
        o.HttpUris.Add($"{server.Base}/slow?ms=1500");
        o.MaxLatency = TimeSpan.FromMilliseconds(100);
        var r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.False(r.Recovered);
        Assert.Contains("slower than", r.LastProbe);

        o = Options(Generous);
        o.HttpUris.Add($"{server.Base}/ok");
        o.MaxLatency = TimeSpan.FromSeconds(30);
        Assert.True((await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None)).Recovered);
    }

    [Fact]
    public async Task A_process_that_survived_the_signal_counts_as_healthy_and_the_probe_says_it_survived()
    {
        // Documents the rule: a "crash" that did not take (the target ignored SIGTERM) leaves nothing to recover from;
        // the probe is healthy on the evidence that the same pid still runs, and says so.
        using var child = ChildProcess.TermIgnoringSleep("614.25");
        var crash = await Crasher.CrashAsync(child.Target(), new Crasher.Options("TERM", null, "Signal", TimeSpan.FromSeconds(1), null),
            NullReporter.Instance, CancellationToken.None);
        Assert.StartsWith("running", crash.ObservedState);
        var o = Options(Generous);
        o.Crashes.Add(crash);
        var r = await RecoveryWaiter.WaitAsync(o, NullReporter.Instance, CancellationToken.None);
        Assert.True(r.Recovered);
        Assert.Contains($"pid {child.Pid} survived the signal", r.LastProbe);
        // ...and the result says the crash did not take, so a "recovered" tolerance has no evidence to pass on.
        Assert.True(crash.Survived);
        Assert.Equal(1, r.CrashCount);
        Assert.Equal(1, r.FaultCount);
        Assert.Contains(": running (", Assert.Single(r.FaultsWithoutEffect));
    }

    [Fact]
    public async Task Cancelling_the_wait_throws_instead_of_reporting_a_verdict()
    {
        var o = Options(Generous);
        o.TcpEndpoints.Add(("127.0.0.1", TestServer.FreePort()));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => RecoveryWaiter.WaitAsync(o, NullReporter.Instance, cts.Token));
    }
}
