using ChaosPS.Testbed;

namespace ChaosPS.Engine.Tests.Targets;

public class TestbedDefectsTests
{
    [Fact]
    public void Validate_spells_defects_canonically_and_drops_duplicates()
    {
        var o = new TestbedOptions { Defects = ["noretry", "EMPTYBODY", "NoRetry", " errorEveryNth "] };
        TestbedLauncher.Validate(o);
        Assert.Equal(["NoRetry", "EmptyBody", "ErrorEveryNth"], o.Defects);
    }

    [Theory]
    [InlineData("Bogus")]
    [InlineData("")]
    [InlineData("No Retry")]
    public void Validate_rejects_an_unknown_defect_naming_the_valid_ones(string name)
    {
        var e = Assert.Throws<ChaosException>(() => TestbedLauncher.Validate(new TestbedOptions { Defects = ["NoRestart", name] }));
        Assert.Equal("UnknownDefect", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.InvalidArgument, e.Category);
        Assert.Contains("UnhealthyAfterRestart", e.Message);
    }

    [Theory]
    [InlineData(new string[0], 5, "ErrorEveryWithoutDefect")]
    [InlineData(new[] { "NoRetry" }, 5, "ErrorEveryWithoutDefect")]
    [InlineData(new[] { "ErrorEveryNth" }, 1, "InvalidErrorEvery")]
    [InlineData(new[] { "ErrorEveryNth" }, 0, "InvalidErrorEvery")]
    [InlineData(new[] { "ErrorEveryNth" }, -20, "InvalidErrorEvery")]
    [InlineData(new[] { "ErrorEveryNth" }, 1_000_001, "InvalidErrorEvery")]
    public void Validate_rejects_a_bad_ErrorEvery(string[] defects, int every, string errorId)
    {
        var e = Assert.Throws<ChaosException>(() => TestbedLauncher.Validate(new TestbedOptions { Defects = defects, ErrorEvery = every }));
        Assert.Equal(errorId, e.ErrorId);
    }

    [Fact]
    public void Validate_accepts_ErrorEvery_with_its_defect()
    {
        var o = new TestbedOptions { Defects = ["ErrorEveryNth"], ErrorEvery = 2 };
        TestbedLauncher.Validate(o);
        Assert.Equal(2, o.ErrorEvery);
    }

    [Fact]
    public void The_command_line_list_parses_case_insensitively_and_ignores_unknown_names()
    {
        var set = TestbedDefects.Parse("noretry, EmptyBody,,Bogus");
        Assert.Equal(2, set.Count);
        Assert.Contains(TestbedDefects.NoRetry, set);
        Assert.Contains("EMPTYBODY", set);
        Assert.Empty(TestbedDefects.Parse(null));
    }

    [Fact]
    public void Every_defect_has_a_canonical_name()
    {
        Assert.Equal(8, TestbedDefects.All.Length);
        foreach (var d in TestbedDefects.All) Assert.Equal(d, TestbedDefects.Canonical(d.ToLowerInvariant()));
    }
}
