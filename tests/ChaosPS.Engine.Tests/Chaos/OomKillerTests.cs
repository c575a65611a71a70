using ChaosPS.Chaos;

namespace ChaosPS.Engine.Tests.Chaos;

/// <summary>Invoke-ChaosOom's input rules (the OOM kill itself needs a memory cgroup: WorkerChaos/Docker Pester tests).</summary>
public sealed class OomKillerTests
{
    private static readonly TimeSpan T = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(0L)]
    [InlineData(-1L)]
    [InlineData((6L << 20) - 1)]
    public void A_limit_under_6MB_is_LimitTooSmall(long limit)
    {
        var e = Assert.Throws<ChaosException>(() => new OomKiller.Options(limit, OomKiller.DefaultHeadroom, T).Validate());
        Assert.Equal("LimitTooSmall", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.InvalidArgument, e.Category);
    }

    [Theory]
    [InlineData(0L)]
    [InlineData((1L << 20) - 1)]
    public void A_headroom_under_1MB_is_HeadroomTooSmall(long headroom)
        => Assert.Equal("HeadroomTooSmall", Assert.Throws<ChaosException>(() => new OomKiller.Options(null, headroom, T).Validate()).ErrorId);

    [Fact]
    public void A_zero_or_negative_timeout_is_InvalidDuration()
    {
        Assert.Equal("InvalidDuration", Assert.Throws<ChaosException>(() => new OomKiller.Options(null, OomKiller.DefaultHeadroom, TimeSpan.Zero).Validate()).ErrorId);
        Assert.Equal("InvalidDuration", Assert.Throws<ChaosException>(() => new OomKiller.Options(null, OomKiller.DefaultHeadroom, TimeSpan.FromSeconds(-1)).Validate()).ErrorId);
    }

    [Fact]
    public void The_smallest_allowed_values_pass()
    {
        var o = new OomKiller.Options(6L << 20, 1L << 20, TimeSpan.FromMilliseconds(1));
        Assert.Same(o, o.Validate());
        new OomKiller.Options(null, OomKiller.DefaultHeadroom, T).Validate();
    }
}
