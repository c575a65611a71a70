using System.Globalization;

namespace ChaosPS;

/// <summary>A process's memory cgroup: v1 (the memory controller's hierarchy) or v2 (the unified one).</summary>
/// <param name="V2">True for the unified (v2) hierarchy.</param>
/// <param name="Path">The cgroup's path relative to its hierarchy's root, as /proc/&lt;pid&gt;/cgroup writes it.</param>
public sealed record MemoryCgroup(bool V2, string Path)
{
    /// <summary>Where its hierarchy is mounted: /sys/fs/cgroup/memory (v1) or /sys/fs/cgroup (v2).</summary>
    public string Root => V2 ? Cgroups.Mount : $"{Cgroups.Mount}/memory";

    /// <summary>Its folder under <see cref="Root"/>.</summary>
    public string Directory => System.IO.Path.Combine(Root, Path.TrimStart('/'));
}

/// <summary>Linux control groups as /proc/&lt;pid&gt;/cgroup and /sys/fs/cgroup show them (v1, v2 and hybrid).</summary>
public static class Cgroups
{
    public const string Mount = "/sys/fs/cgroup";

    /// <summary>
    /// The memory cgroup in /proc/&lt;pid&gt;/cgroup text: the v1 memory controller's line when there is one, else the
    /// v2 line (0::path); null when neither is there.
    /// </summary>
    public static MemoryCgroup? ParseMemoryCgroup(IEnumerable<string> lines)
    {
        var all = lines as IReadOnlyList<string> ?? lines.ToList();
        foreach (var line in all)
        {
            var parts = line.Split(':', 3);
            if (parts.Length < 3) continue;
            if (parts[1].Split(',').Contains("memory")) return new MemoryCgroup(false, parts[2]);
        }
        foreach (var line in all)
            if (line.StartsWith("0::", StringComparison.Ordinal)) return new MemoryCgroup(true, line[3..]);
        return null;
    }

    /// <summary>
    /// Whether a process here is in a container's cgroups: a cgroup path in /proc/&lt;pid&gt;/cgroup names the container
    /// id (Docker's drivers put it there: /docker/&lt;id&gt;, /system.slice/docker-&lt;id&gt;.scope). Null when that file
    /// cannot be read (no such process here, or not allowed). This is how a pid the container engine reports is checked
    /// to be that container's process in this pid namespace.
    /// </summary>
    public static bool? InContainer(int pid, string containerId)
    {
        string text;
        try { text = File.ReadAllText(Procfs.PidPath(pid, "cgroup")); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        return text.Contains(containerId, StringComparison.Ordinal);
    }

    /// <summary>The memory cgroup of a process; null when unknown (the process is gone, or it is in none).</summary>
    public static MemoryCgroup? MemoryOf(int pid)
    {
        try { return ParseMemoryCgroup(File.ReadAllLines(Procfs.PidPath(pid, "cgroup"))); }
        catch (IOException) { return null; }
    }

    /// <summary>
    /// Memory limit and usage of a process's memory cgroup (v1 limit_in_bytes/usage_in_bytes or v2 max/current;
    /// "max" reads as long.MaxValue); null when it has none or none is readable. Throws IOException when the process is gone.
    /// </summary>
    public static (long Limit, long Usage)? MemoryLimitAndUsage(int pid)
    {
        if (ParseMemoryCgroup(File.ReadAllLines(Procfs.PidPath(pid, "cgroup"))) is not { } cg) return null;
        var dir = cg.Directory;
        if (!cg.V2)
            return ReadLong(Path.Combine(dir, "memory.limit_in_bytes")) is { } lim && ReadLong(Path.Combine(dir, "memory.usage_in_bytes")) is { } use ? (lim, use) : null;
        return File.Exists(Path.Combine(dir, "memory.max")) && ReadLong(Path.Combine(dir, "memory.current")) is { } cur
            ? (ReadLong(Path.Combine(dir, "memory.max")) ?? long.MaxValue, cur) : null;
    }

    /// <summary>A cgroup file holding one number or "max" (long.MaxValue); null when unreadable.</summary>
    public static long? ReadLong(string file)
    {
        try { var t = File.ReadAllText(file).Trim(); return t == "max" ? long.MaxValue : long.Parse(t, CultureInfo.InvariantCulture); }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException or OverflowException) { return null; }
    }

    /// <summary>The cgroup.procs files of every cgroup <paramref name="pid"/> belongs to (v1 controllers and v2) that exist here.</summary>
    public static IReadOnlyList<string> ProcsFiles(int pid)
    {
        var files = new List<string>();
        foreach (var line in File.ReadLines(Procfs.PidPath(pid, "cgroup")))
        {
            var parts = line.Split(':', 3);
            if (parts.Length < 3) continue;
            var rel = parts[2].TrimStart('/');
            foreach (var root in HierarchyRoots(parts[1]))
            {
                var f = Path.Combine(root, rel, "cgroup.procs");
                if (File.Exists(f) && !files.Contains(f)) { files.Add(f); break; }
            }
        }
        return files;
    }

    /// <summary>Where a hierarchy named by the controller field of /proc/&lt;pid&gt;/cgroup may be mounted, most likely first.</summary>
    public static IEnumerable<string> HierarchyRoots(string controllers) => controllers switch
    {
        "" => [$"{Mount}/unified", Mount],
        var c when c.StartsWith("name=", StringComparison.Ordinal) => [$"{Mount}/{c[5..]}"],
        var c => c.Split(',').Select(x => $"{Mount}/{x}").Append($"{Mount}/{c}"),
    };
}
