using System.Text.RegularExpressions;
using ChaosPS.Docker;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace ChaosPS.Chaos;

/// <summary>
/// A process or a container that worker chaos can be aimed at (Get-ChaosTarget's output). Property names bind to the
/// next cmdlet by name: ProcessId, ContainerId, Name, Uri.
/// </summary>
public sealed class ChaosTarget
{
    /// <summary>Process or Container.</summary>
    public string Kind { get; init; } = "Process";
    public string Name { get; init; } = "";
    /// <summary>The host pid (for a container: its main process, when running).</summary>
    public int? ProcessId { get; init; }
    public string? ContainerId { get; init; }
    public string? CommandLine { get; init; }
    public int[] Ports { get; init; } = [];
    /// <summary>The testbed's worker id (container label chaosps.worker, or "--id X" on the command line).</summary>
    public string? WorkerId { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public string? Image { get; init; }
    /// <summary>Process state letter (R, S, T, ...) or container state (running, paused, exited, ...).</summary>
    public string? State { get; init; }
    /// <summary>The process start stamp, so a reused pid is never mistaken for this target.</summary>
    public string? StartStamp { get; init; }
    /// <summary>The worker's base URI when known (piped from the testbed's worker objects).</summary>
    public string? Uri { get; init; }
    public string? DockerEndpoint { get; init; }
    /// <summary>Why this target is protected (PID 1, this pwsh or a parent, the container engine); null when it is not.</summary>
    public string? ProtectedReason { get; init; }
    public bool IsProtected => ProtectedReason is not null;

    public bool IsContainer => Kind == "Container";

    /// <summary>How a person names it: "process 1234 (sleep)", "container web-1 (3f2a9c1b2d4e)".</summary>
    public string Display => IsContainer ? $"container {Name} ({ShortId(ContainerId)})" : $"process {ProcessId} ({Name})";

    public override string ToString() => Display;

    public static string ShortId(string? id) => id is null ? "" : id.Length > 12 ? id[..12] : id;

    /// <summary>Is the process behind this target still the same one (pid + start stamp)?</summary>
    public bool ProcessAlive => ProcessId is { } pid && ProcessIdentity.IsAlive(pid, StartStamp);
}

/// <summary>What to select. Every list is OR within itself; different criteria are AND.</summary>
public sealed class TargetQuery
{
    public string Kind { get; set; } = "Process";
    /// <summary>Name wildcards (process name / container name).</summary>
    public string[]? Name { get; set; }
    /// <summary>Pids (processes) or id prefixes (containers).</summary>
    public string[]? Id { get; set; }
    /// <summary>Command-line wildcard (processes).</summary>
    public string? CommandLine { get; set; }
    /// <summary>Regex on the name (and, for processes, the command line).</summary>
    public string? Regex { get; set; }
    /// <summary>Listening TCP ports (processes).</summary>
    public int[]? Port { get; set; }
    /// <summary>Labels "key" or "key=value" (containers); all must match.</summary>
    public string[]? Label { get; set; }
    public string? DockerEndpoint { get; set; }

    /// <summary>The kind a query selects when none is given: containers when it has labels, else processes.</summary>
    public static string DefaultKind(string? kind, string[]? label) => kind ?? (label is { Length: > 0 } ? "Container" : "Process");

    /// <summary>Throws InvalidRegex unless <paramref name="regex"/> (when given) is a valid .NET regular expression.</summary>
    public static void CheckRegex(string? regex, string parameter = "Regex")
    {
        if (regex is null) return;
        try { _ = new Regex(regex); }
        catch (ArgumentException e) { throw ChaosException.InvalidArgument("InvalidRegex", $"-{parameter} '{regex}' is not a valid regular expression: {e.Message}", regex); }
    }

    /// <summary>
    /// Throws when the criteria do not fit the kind (LabelNeedsContainer, NotAContainerCriterion), or when nothing selects
    /// and nothing was piped (NoTargetSelector).
    /// </summary>
    public void Validate(bool piped)
    {
        if (Kind == "Process" && Label is { Length: > 0 })
            throw ChaosException.InvalidArgument("LabelNeedsContainer", "-Label selects containers; it cannot be used with -Kind Process.", null);
        if (Kind == "Container" && (Port is { Length: > 0 } || CommandLine is not null))
            throw ChaosException.InvalidArgument("NotAContainerCriterion", "-Port and -CommandLine select processes; use -Name, -Id, -Regex or -Label for containers.", null);
        if (IsEmpty && !piped)
            throw ChaosException.InvalidArgument("NoTargetSelector",
                "Get-ChaosTarget selects nothing by default: give -Name, -Id, -CommandLine, -Regex, -Port or -Label, or pipe workers in.", null,
                "For example: Get-ChaosTarget -CommandLine '*chaosps-testbed.dll worker*'");
    }

    public bool IsEmpty => Name is not { Length: > 0 } && Id is not { Length: > 0 } && string.IsNullOrEmpty(CommandLine)
        && string.IsNullOrEmpty(Regex) && Port is not { Length: > 0 } && Label is not { Length: > 0 };
}

/// <summary>Finds processes and containers, marks protected ones, and picks a random subset reproducibly.</summary>
public static class TargetSelector
{
    private static readonly string[] ProtectedNames = ["dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc", "systemd", "init", "sshd"];

    /// <summary>Why a process must not be hit without -Force; null when it may be.</summary>
    public static string? ProtectionOf(int pid, string name)
    {
        if (pid == 1) return "PID 1 (init)";
        if (pid == Environment.ProcessId) return "this PowerShell process";
        if (ProcessTable.Ancestry(Environment.ProcessId).Contains(pid)) return "a parent of this PowerShell process";
        if (ProtectedNames.Contains(name, StringComparer.Ordinal) || name.StartsWith("containerd-shim", StringComparison.Ordinal))
            return $"the container engine or system service '{name}'";
        if (name == "chaosps-agent" || (ProcessTable.Read(pid)?.CommandLine.Contains("chaosps-agent.dll watchdog", StringComparison.Ordinal) ?? false))
            return "ChaosPS's own watchdog";
        return null;
    }

    public static ChaosTarget FromProcess(ProcInfo p, Dictionary<long, int>? inodes = null, string? uri = null) => new()
    {
        Kind = "Process",
        Name = p.Name,
        ProcessId = p.Pid,
        CommandLine = p.CommandLine,
        Ports = ProcessTable.ListeningPorts(p.Pid, inodes),
        WorkerId = WorkerIdFromCommandLine(p.CommandLine),
        State = p.State.ToString(),
        StartStamp = p.StartStamp,
        Uri = uri,
        ProtectedReason = ProtectionOf(p.Pid, p.Name),
    };

    /// <summary>A target without the listening-port scan (cheap; for re-resolving).</summary>
    public static ChaosTarget FromProcessLite(ProcInfo p) => new()
    {
        Kind = "Process", Name = p.Name, ProcessId = p.Pid, CommandLine = p.CommandLine, WorkerId = WorkerIdFromCommandLine(p.CommandLine),
        State = p.State.ToString(), StartStamp = p.StartStamp,
    };

    private static string? WorkerIdFromCommandLine(string cmd)
    {
        var m = System.Text.RegularExpressions.Regex.Match(cmd, @"\bchaosps-testbed\.dll worker\b.*?--id[ =](\S+)");
        return m.Success ? m.Groups[1].Value : null;
    }

    private static string? TestbedIdFromCommandLine(string? cmd)
    {
        if (cmd is null) return null;
        var m = System.Text.RegularExpressions.Regex.Match(cmd, @"\bchaosps-testbed\.dll worker\b.*?--testbed[ =](\S+)");
        return m.Success ? m.Groups[1].Value : null;
    }

    /// <summary>
    /// Whether <paramref name="p"/> is the same worker as a crashed one, come back under a new pid: an embedded-target
    /// worker by its worker id within the same testbed (every system has a w1), any other process by its whole
    /// command line, else (no command line known) by name.
    /// </summary>
    public static bool IsSameWorker(ProcInfo p, string? workerId, string? commandLine, string? name)
    {
        if (workerId is not null)
            return p.Name == name && WorkerIdFromCommandLine(p.CommandLine) == workerId
                && TestbedIdFromCommandLine(p.CommandLine) == TestbedIdFromCommandLine(commandLine);
        if (commandLine is { Length: > 0 }) return p.CommandLine == commandLine;
        return name is not null && p.Name == name;
    }

    /// <summary>A process target by pid; null when there is no such process.</summary>
    public static ChaosTarget? Process(int pid, string? uri = null)
        => ProcessTable.Read(pid) is { } p && p.State is not 'Z' and not 'X' ? FromProcess(p, uri: uri) : null;

    /// <summary>Processes that match the query. Unknown explicit pids are reported through <paramref name="missing"/>.</summary>
    public static List<ChaosTarget> SelectProcesses(TargetQuery q, List<string> missing)
    {
        var nameMatchers = q.Name?.Select(Wildcard).ToList();
        var cmdMatcher = string.IsNullOrEmpty(q.CommandLine) ? null : Wildcard(q.CommandLine);
        var regex = string.IsNullOrEmpty(q.Regex) ? null : new Regex(q.Regex, RegexOptions.CultureInvariant);
        var ids = new HashSet<int>();
        foreach (var s in q.Id ?? [])
        {
            if (!int.TryParse(s, out var pid) || pid <= 0)
                throw ChaosException.InvalidArgument("InvalidProcessId", $"'{s}' is not a process id.", s);
            ids.Add(pid);
        }
        var inodes = ProcessTable.ListeningSocketInodes();
        var found = new List<ChaosTarget>();
        var seenIds = new HashSet<int>();
        var seenNames = new HashSet<int>();
        foreach (var p in ProcessTable.All())
        {
            if (p.Pid == Environment.ProcessId && q.Id is null && q.Port is null) continue; // never pick ourselves by pattern
            if (ids.Count > 0 && !ids.Contains(p.Pid)) continue;
            if (nameMatchers is not null)
            {
                int i = nameMatchers.FindIndex(m => m.IsMatch(p.Name));
                if (i < 0) continue;
                seenNames.Add(i);
            }
            if (cmdMatcher is not null && !cmdMatcher.IsMatch(p.CommandLine)) continue;
            if (regex is not null && !regex.IsMatch(p.Name) && !regex.IsMatch(p.CommandLine)) continue;
            int[]? ports = null;
            if (q.Port is { Length: > 0 })
            {
                ports = ProcessTable.ListeningPorts(p.Pid, inodes);
                if (!ports.Intersect(q.Port).Any()) continue;
            }
            seenIds.Add(p.Pid);
            found.Add(FromProcess(p, inodes));
        }
        foreach (var id in ids.Where(i => !seenIds.Contains(i))) missing.Add($"process {id}");
        if (q.Name is not null)
            for (int i = 0; i < q.Name.Length; i++)
                if (!seenNames.Contains(i) && !WildcardHasMeta(q.Name[i])) missing.Add($"process named '{q.Name[i]}'");
        if (q.Port is { Length: > 0 })
            foreach (var port in q.Port.Where(pt => !found.Any(t => t.Ports.Contains(pt)))) missing.Add($"process listening on port {port}");
        return found;
    }

    /// <summary>Containers that match the query (running and paused ones).</summary>
    public static async Task<List<ChaosTarget>> SelectContainersAsync(TargetQuery q, List<string> missing, CancellationToken ct)
    {
        using var client = await DockerEngine.ConnectAsync(q.DockerEndpoint, ct).ConfigureAwait(false);
        var list = await client.Containers.ListContainersAsync(new ContainersListParameters { All = false }, ct).ConfigureAwait(false);
        var nameMatchers = q.Name?.Select(Wildcard).ToList();
        var regex = string.IsNullOrEmpty(q.Regex) ? null : new Regex(q.Regex, RegexOptions.CultureInvariant);
        var labels = (q.Label ?? []).Select(l => l.Split('=', 2)).ToList();
        var found = new List<ChaosTarget>();
        var seenIds = new HashSet<string>();
        var seenNames = new HashSet<int>();
        foreach (var c in list)
        {
            var name = (c.Names?.FirstOrDefault() ?? c.ID).TrimStart('/');
            string? idHit = null;
            if (q.Id is { Length: > 0 })
            {
                idHit = q.Id.FirstOrDefault(i => c.ID.StartsWith(i, StringComparison.OrdinalIgnoreCase) || name.Equals(i, StringComparison.Ordinal));
                if (idHit is null) continue;
            }
            if (nameMatchers is not null)
            {
                int i = nameMatchers.FindIndex(m => m.IsMatch(name));
                if (i < 0) continue;
                seenNames.Add(i);
            }
            if (regex is not null && !regex.IsMatch(name)) continue;
            var cl = c.Labels ?? new Dictionary<string, string>();
            if (!labels.All(l => cl.TryGetValue(l[0], out var v) && (l.Length == 1 || v == l[1]))) continue;
            if (idHit is not null) seenIds.Add(idHit);
            found.Add(await InspectAsync(client, c.ID, q.DockerEndpoint, ct).ConfigureAwait(false) ?? throw new InvalidOperationException());
        }
        foreach (var id in (q.Id ?? []).Where(i => !seenIds.Contains(i))) missing.Add($"container '{id}'");
        if (q.Name is not null)
            for (int i = 0; i < q.Name.Length; i++)
                if (!seenNames.Contains(i) && !WildcardHasMeta(q.Name[i])) missing.Add($"container named '{q.Name[i]}'");
        return found;
    }

    /// <summary>A container target by id or name from the engine at <paramref name="endpoint"/>; null when there is none.</summary>
    public static async Task<ChaosTarget?> ContainerAsync(string id, string? endpoint, CancellationToken ct)
    {
        using var client = await DockerEngine.ConnectAsync(endpoint, ct).ConfigureAwait(false);
        return await InspectAsync(client, id, endpoint, ct).ConfigureAwait(false);
    }

    /// <summary>A container target by id or name; null when there is no such container.</summary>
    public static async Task<ChaosTarget?> InspectAsync(DockerClient client, string id, string? endpoint, CancellationToken ct)
    {
        ContainerInspectResponse r;
        try { r = await client.Containers.InspectContainerAsync(id, ct).ConfigureAwait(false); }
        catch (DockerContainerNotFoundException) { return null; }
        var labels = r.Config?.Labels ?? new Dictionary<string, string>();
        int? pid = r.State?.Pid is > 0 ? (int)r.State.Pid : null;
        return new ChaosTarget
        {
            Kind = "Container",
            Name = r.Name.TrimStart('/'),
            ContainerId = r.ID,
            ProcessId = pid,
            StartStamp = pid is { } p ? ProcessIdentity.StartStamp(p) : null,
            CommandLine = r.Path + (r.Args is { Count: > 0 } ? " " + string.Join(' ', r.Args) : ""),
            Labels = new Dictionary<string, string>(labels),
            WorkerId = labels.TryGetValue("chaosps.worker", out var w) ? w : null,
            Image = r.Config?.Image,
            State = r.State?.Status,
            DockerEndpoint = endpoint,
            ProtectedReason = labels.ContainsKey("chaosps.protected") ? "labelled chaosps.protected" : null,
        };
    }

    /// <summary>
    /// Picks <paramref name="count"/> targets, or <paramref name="percent"/>% of them (rounded up, at least one of a
    /// non-empty set), at random; the same seed over the same set picks the same targets. All when neither is given.
    /// </summary>
    public static List<T> Pick<T>(IReadOnlyList<T> all, int? count, double? percent, int? seed, Func<T, string> key)
    {
        if (count is null && percent is null) return all.ToList();
        int n = count ?? (int)Math.Ceiling(all.Count * percent!.Value / 100.0);
        n = Math.Clamp(n, 0, all.Count);
        var rng = seed is { } s ? new Random(s) : new Random();
        // Order by a stable key first so the seed, not the enumeration order of /proc or the engine, decides.
        return all.OrderBy(key, StringComparer.Ordinal).OrderBy(_ => rng.Next()).Take(n).ToList();
    }

    private static Regex Wildcard(string pattern)
        => new("^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace(@"\*", ".*").Replace(@"\?", ".") + "$",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant | RegexOptions.Singleline);

    private static bool WildcardHasMeta(string s) => s.IndexOfAny(['*', '?']) >= 0;
}
