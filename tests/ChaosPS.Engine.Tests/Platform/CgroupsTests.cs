namespace ChaosPS.Engine.Tests.Platform;

public class CgroupsTests
{
    [Fact]
    public void Cgroup_v1_memory_line_wins_over_the_unified_line()
    {
        var cg = Cgroups.ParseMemoryCgroup(["9:name=systemd:/", "4:memory:/docker/abc", "2:cpu,cpuacct:/docker/abc", "0::/"]);
        Assert.Equal(new MemoryCgroup(false, "/docker/abc"), cg);
        Assert.Equal("/sys/fs/cgroup/memory/docker/abc", cg!.Directory);
        Assert.Equal(new MemoryCgroup(false, "/x"), Cgroups.ParseMemoryCgroup(["5:cpuset,memory:/x"]));
    }

    [Fact]
    public void Cgroup_v2_uses_the_unified_line()
    {
        var cg = Cgroups.ParseMemoryCgroup(["0::/system.slice/docker-abc.scope"]);
        Assert.Equal(new MemoryCgroup(true, "/system.slice/docker-abc.scope"), cg);
        Assert.Equal("/sys/fs/cgroup/system.slice/docker-abc.scope", cg!.Directory);
        Assert.Equal("/sys/fs/cgroup", cg.Root);
    }

    [Fact]
    public void No_memory_cgroup_and_malformed_lines_give_null()
    {
        Assert.Null(Cgroups.ParseMemoryCgroup([]));
        Assert.Null(Cgroups.ParseMemoryCgroup(["garbage", "3:cpu:/a", "4:memoryx:/b"]));
    }

    [Fact]
    public void This_process_has_a_memory_cgroup_read_from_proc()
    {
        var cg = Cgroups.MemoryOf(Environment.ProcessId);
        Assert.NotNull(cg);
        Assert.Equal(Cgroups.ParseMemoryCgroup(File.ReadAllLines("/proc/self/cgroup")), cg);
        Assert.Null(Cgroups.MemoryOf(int.MaxValue));
        Assert.ThrowsAny<IOException>(() => Cgroups.MemoryLimitAndUsage(int.MaxValue)); // a gone container process is an error, as before
    }

    [Fact]
    public void Hierarchy_roots_follow_the_controller_field()
    {
        Assert.Equal(["/sys/fs/cgroup/unified", "/sys/fs/cgroup"], Cgroups.HierarchyRoots(""));
        Assert.Equal(["/sys/fs/cgroup/systemd"], Cgroups.HierarchyRoots("name=systemd"));
        Assert.Equal(["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"], Cgroups.HierarchyRoots("cpu,cpuacct"));
    }

    [Fact]
    public void Cgroup_numbers_read_max_as_unlimited()
    {
        var f = Path.GetTempFileName();
        try
        {
            File.WriteAllText(f, "max\n");
            Assert.Equal(long.MaxValue, Cgroups.ReadLong(f));
            File.WriteAllText(f, "1048576\n");
            Assert.Equal(1048576, Cgroups.ReadLong(f));
            File.WriteAllText(f, "lots");
            Assert.Null(Cgroups.ReadLong(f));
        }
        finally { File.Delete(f); }
        Assert.Null(Cgroups.ReadLong("/nonexistent/memory.max"));
    }

    [Fact]
    public void A_process_is_in_the_container_its_cgroup_paths_name()
    {
        // This process's own cgroup paths stand in for a container's: the last segment of a non-root path is what a
        // container id is in Docker's paths (/docker/<id>); this machine may be in no container, so the root-only case
        // is checked with what is there.
        var lines = File.ReadAllLines("/proc/self/cgroup");
        var segment = lines.Select(l => l.Split(':', 3)).Where(p => p.Length == 3 && p[2].Length > 1)
            .Select(p => p[2].TrimEnd('/').Split('/')[^1]).FirstOrDefault(s => s.Length > 0);
        if (segment is not null) Assert.True(Cgroups.InContainer(Environment.ProcessId, segment));
        Assert.False(Cgroups.InContainer(Environment.ProcessId, "0123456789abcdef-no-such-container"));
        Assert.Null(Cgroups.InContainer(int.MaxValue, "anything")); // no such process here: unknown, not "not in it"
    }
}
