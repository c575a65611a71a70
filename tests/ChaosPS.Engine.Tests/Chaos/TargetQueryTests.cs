using ChaosPS.Chaos;

namespace ChaosPS.Engine.Tests.Chaos;

public sealed class TargetQueryTests
{
    [Fact]
    public void Criteria_that_do_not_fit_the_kind_are_refused_with_their_own_ids()
    {
        Assert.Equal("LabelNeedsContainer", Assert.Throws<ChaosException>(() => new TargetQuery { Kind = "Process", Label = ["a=b"] }.Validate(false)).ErrorId);
        Assert.Equal("NotAContainerCriterion", Assert.Throws<ChaosException>(() => new TargetQuery { Kind = "Container", Port = [80] }.Validate(false)).ErrorId);
        Assert.Equal("NotAContainerCriterion", Assert.Throws<ChaosException>(() => new TargetQuery { Kind = "Container", CommandLine = "*" }.Validate(false)).ErrorId);
    }

    [Fact]
    public void An_empty_query_selects_nothing_unless_targets_are_piped()
    {
        var q = new TargetQuery();
        Assert.True(q.IsEmpty);
        var e = Assert.Throws<ChaosException>(() => q.Validate(piped: false));
        Assert.Equal("NoTargetSelector", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.InvalidArgument, e.Category);
        q.Validate(piped: true);
        Assert.False(new TargetQuery { Port = [1] }.IsEmpty);
    }

    [Fact]
    public void The_default_kind_is_container_only_with_labels_and_a_bad_regex_is_InvalidRegex()
    {
        Assert.Equal("Process", TargetQuery.DefaultKind(null, null));
        Assert.Equal("Container", TargetQuery.DefaultKind(null, ["x"]));
        Assert.Equal("Process", TargetQuery.DefaultKind("Process", ["x"]));
        Assert.Equal("InvalidRegex", Assert.Throws<ChaosException>(() => TargetQuery.CheckRegex("(")).ErrorId);
        TargetQuery.CheckRegex(null);
        TargetQuery.CheckRegex("^sleep");
    }
}
