using System.Text.Json.Nodes;
using ChaosPS.Experiments;

namespace ChaosPS.Engine.Tests.Experiments;

/// <summary>What -Scale multiplies (and what it leaves alone), so a small run stays consistent with itself.</summary>
public class ExperimentScaleTests
{
    [Theory]
    [InlineData("Invoke-NetworkFault", "Duration", "20s", 4.0)]
    [InlineData("Start-LoadTest", "Duration", "1m", 12.0)]
    [InlineData("Start-LoadTest", "RampUp", "10s", 2.0)]
    [InlineData("Test-GracefulDegradation", "Baseline", "5s", 1.0)]
    [InlineData("Wait-ChaosRecovery", "Timeout", "35s", 7.0)]   // a recovery window: scaled with "recovered".within
    public void Durations_and_recovery_windows_are_scaled(string cmdlet, string parameter, string value, double seconds)
    {
        var got = ExperimentScale.Argument(cmdlet, parameter, typeof(TimeSpan?), value, 0.2);
        Assert.Equal(TimeSpan.FromSeconds(seconds), Assert.IsType<TimeSpan>(got));
        // A number is seconds; a TimeSpan stays a TimeSpan.
        Assert.Equal(TimeSpan.FromSeconds(seconds), ExperimentScale.Argument(cmdlet, parameter, typeof(TimeSpan), seconds * 5, 0.2));
        Assert.Equal(TimeSpan.FromSeconds(seconds), ExperimentScale.Argument(cmdlet, parameter, typeof(TimeSpan), TimeSpan.FromSeconds(seconds * 5), 0.2));
    }

    [Theory]
    [InlineData("Start-LoadTest", "Timeout", "10s")]           // a request timeout the system is judged by
    [InlineData("Invoke-WorkerCrash", "Timeout", "30s")]       // not a recovery window of that cmdlet
    [InlineData("Test-GracefulDegradation", "HangTimeout", "10s")]
    [InlineData("Test-GracefulDegradation", "RecoveryTimeout", "30s")]
    public void Timeouts_the_system_is_judged_by_are_not_scaled(string cmdlet, string parameter, string value)
        => Assert.Equal(value, ExperimentScale.Argument(cmdlet, parameter, typeof(TimeSpan?), value, 0.2));

    [Fact]
    public void Stage_durations_are_scaled_and_their_targets_kept()
    {
        var got = Assert.IsType<object?[]>(ExperimentScale.Argument("Start-LoadTest", "Stage", typeof(string[]), new List<object?> { "30s:100", "2m:1000", "500ms:0" }, 0.2));
        Assert.Equal(new object?[] { "6000ms:100", "24000ms:1000", "100ms:0" }, got);
        Assert.Equal("6000ms:100", ExperimentScale.Argument("Start-LoadTest", "Stage", typeof(string[]), "30s:100", 0.2));
        // Never 0 (a stage needs a duration); bad text is left for Start-LoadTest to refuse with its own id.
        Assert.Equal("1ms:5", ExperimentScale.Stage("1ms:5", 0.001));
        Assert.Equal("soon:5", ExperimentScale.Stage("soon:5", 0.2));
        Assert.Equal("30s:100", ExperimentScale.Argument("Start-LoadTest", "Stage", typeof(string[]), "30s:100", 1.0));
        // Only Start-LoadTest's -Stage.
        Assert.Equal("30s:100", ExperimentScale.Argument("Other-Cmdlet", "Stage", typeof(string[]), "30s:100", 0.2));
    }

    [Fact]
    public void Recovered_within_is_scaled_other_tolerances_are_not()
    {
        var t = ExperimentScale.Tolerance(JsonNode.Parse("""{"type":"recovered","within":30}"""), 0.2)!;
        Assert.Equal(6, Json.Num(t["within"]));
        Assert.Equal(6, Json.Num(ExperimentScale.Tolerance(JsonNode.Parse("""{"type":"recovered","within":"30s"}"""), 0.2)!["within"]));
        var thresholds = JsonNode.Parse("""{"type":"thresholds"}""");
        Assert.Same(thresholds, ExperimentScale.Tolerance(thresholds, 0.2));
        var range = JsonNode.Parse("""{"type":"range","range":[0,30],"target":"x"}""");
        Assert.Same(range, ExperimentScale.Tolerance(range, 0.2));
        // A recovery measured in 0.3 s is within the scaled window, one of 7 s is not.
        Assert.True(Tolerance.Evaluate(t, JsonNode.Parse("""{"Recovered":true,"TimeToRecover":0.3}""")).Met);
        Assert.False(Tolerance.Evaluate(t, JsonNode.Parse("""{"Recovered":true,"TimeToRecover":7}""")).Met);
    }

    [Fact]
    public void Activity_timeout_is_scaled_only_when_the_activity_work_is()
    {
        var a = JsonNode.Parse("""{"type":"probe","name":"p","timeout":60}""")!.AsObject();
        Assert.Equal(12, ExperimentScale.ActivityTimeout(a, 0.2, workIsScaled: true));
        Assert.Equal(60, ExperimentScale.ActivityTimeout(a, 0.2, workIsScaled: false));
        Assert.Null(ExperimentScale.ActivityTimeout(JsonNode.Parse("""{"type":"probe"}""")!.AsObject(), 0.2, true));
    }
}
