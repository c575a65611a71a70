namespace ChaosPS.Engine.Tests.Common;

public class ValueParserTests
{
    [Theory]
    [InlineData("500ms", 5_000_000L)]
    [InlineData("30s", 300_000_000L)]
    [InlineData("5m", 3_000_000_000L)]
    [InlineData("1h30m", 54_000_000_000L)]
    [InlineData("1.5s", 15_000_000L)]
    [InlineData("250us", 2_500L)]
    [InlineData("00:00:02", 20_000_000L)]
    public void Durations_parse(string text, long ticks) => Assert.Equal(ticks, DurationParser.Parse(text).Ticks);

    [Theory]
    [InlineData("30x")]
    [InlineData("-5s")]
    [InlineData("")]
    [InlineData("5 m 3")]
    [InlineData("ms")]
    public void Bad_durations_name_the_token(string text)
    {
        var e = Assert.Throws<ChaosException>(() => DurationParser.Parse(text));
        Assert.Equal("InvalidDuration", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.InvalidArgument, e.Category);
    }

    [Theory]
    [InlineData("4GB", 4L * 1024 * 1024 * 1024)]
    [InlineData("512MB", 512L * 1024 * 1024)]
    [InlineData("100kb", 100L * 1024)]
    [InlineData("1024", 1024L)]
    public void Sizes_parse(string text, long bytes) => Assert.Equal(bytes, SizeParser.Parse(text).Bytes);

    [Fact]
    public void Percent_sizes_resolve_against_their_basis()
    {
        var s = SizeParser.Parse("90%");
        Assert.True(s.IsPercent);
        Assert.Equal(900, s.Resolve(1000));
        Assert.Throws<ChaosException>(() => SizeParser.Parse("120%"));
        Assert.Throws<ChaosException>(() => SizeParser.Parse("90%", allowPercent: false));
    }
}
