using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using ChaosPS.Docker;
using Docker.DotNet;

namespace ChaosPS.PacketFaults;

/// <summary>
/// A network namespace to put a packet fault in: a container's (its main process from container inspect State.Pid),
/// a process's, or a named one (/run/netns/NAME). <see cref="Path"/> is what nsenter --net= enters; <see cref="NamespaceId"/>
/// is the kernel's name for it (net:[inode]), read from inside, so undo can check it enters the same namespace.
/// </summary>
public sealed partial class NetNamespaceTarget
{
    public string Display { get; init; } = "";
    public string Path { get; init; } = "";
    public string NamespaceId { get; init; } = "";
    /// <summary>The process whose namespace it is (container main process or -ProcessId); 0 for a named namespace.</summary>
    public int Pid { get; init; }
    public string? StartStamp { get; init; }
    /// <summary>True when it is the namespace of pid 1 (this machine's own network, its SSH included), or the one ChaosPS runs in.</summary>
    public bool IsRootNamespace { get; init; }
    /// <summary>Interfaces in the namespace (names, lo included).</summary>
    public IReadOnlyList<string> Interfaces { get; init; } = [];

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")]
    private static partial Regex NamespaceName();

    public static async Task<NetNamespaceTarget> ForProcessAsync(int pid, CancellationToken ct)
    {
        RequireLinux();
        if (pid <= 0) throw ChaosException.InvalidArgument("InvalidProcessId", $"-ProcessId must be a positive process id (got {pid}).", pid);
        var stamp = ProcessIdentity.StartStamp(pid);
        if (stamp is null || !File.Exists($"/proc/{pid}/ns/net"))
            throw new ChaosException("PacketFaultProcessNotFound", ChaosErrorCategory.ObjectNotFound, $"There is no process {pid} here.", pid);
        return await CompleteAsync($"process {pid}", $"/proc/{pid}/ns/net", pid, stamp, ct).ConfigureAwait(false);
    }

    public static async Task<NetNamespaceTarget> ForNamedAsync(string? name, CancellationToken ct)
    {
        RequireLinux();
        if (string.IsNullOrWhiteSpace(name) || name is "." or ".." || !NamespaceName().IsMatch(name))
            throw ChaosException.InvalidArgument("InvalidNetNamespaceName",
                $"'{name}' is not a network namespace name (letters, digits, _ . -; no '/'; as `ip netns list` shows them).", name);
        var path = "/run/netns/" + name;
        if (!File.Exists(path))
            throw new ChaosException("NetNamespaceNotFound", ChaosErrorCategory.ObjectNotFound,
                $"There is no network namespace '{name}' ({path} does not exist).", name, "List them with: ip netns list");
        return await CompleteAsync($"netns {name}", path, 0, null, ct).ConfigureAwait(false);
    }

    public static async Task<NetNamespaceTarget> ForContainerAsync(string? container, string? endpoint, CancellationToken ct)
    {
        RequireLinux();
        if (string.IsNullOrWhiteSpace(container))
            throw ChaosException.InvalidArgument("InvalidContainerName", "-Container is empty: name a container (name or id).", container);
        using var client = await DockerEngine.ConnectAsync(endpoint, ct).ConfigureAwait(false);
        global::Docker.DotNet.Models.ContainerInspectResponse c;
        try { c = await client.Containers.InspectContainerAsync(container, ct).ConfigureAwait(false); }
        catch (DockerContainerNotFoundException)
        {
            throw new ChaosException("ContainerNotFound", ChaosErrorCategory.ObjectNotFound, $"There is no container '{container}'.", container);
        }
        var display = $"container {c.Name?.TrimStart('/') ?? container}";
        if (c.State?.Running != true || c.State.Pid <= 0)
            throw new ChaosException("TargetNotRunning", ChaosErrorCategory.InvalidOperation, $"{display} is not running ({c.State?.Status}).", container);
        int pid = (int)c.State.Pid;
        if (Cgroups.InContainer(pid, c.ID) != true)
            throw new ChaosException("ContainerNetNamespaceNotVisible", ChaosErrorCategory.ResourceUnavailable,
                $"Cannot enter the network namespace of {display}: the engine's pid {pid} is not that container's process here (remote engine or another pid namespace).",
                container, "Run ChaosPS on the Docker host, in its pid namespace.");
        return await CompleteAsync(display, $"/proc/{pid}/ns/net", pid, ProcessIdentity.StartStamp(pid), ct).ConfigureAwait(false);
    }

    private static async Task<NetNamespaceTarget> CompleteAsync(string display, string path, int pid, string? stamp, CancellationToken ct)
    {
        var id = await IdentityAsync(path, ct).ConfigureAwait(false)
            ?? throw new ChaosException("NetNamespaceNotEnterable", ChaosErrorCategory.PermissionDenied,
                $"Cannot enter the network namespace of {display} ({path}): nsenter failed (ChaosPS needs root, or CAP_SYS_ADMIN and CAP_NET_ADMIN).", display);
        // The host's own namespace: pid 1's; and the one ChaosPS itself runs in (where pid 1's cannot be read, in a
        // sandbox, it is the best witness, and faulting it would cut this session off as well).
        var root = await IdentityAsync("/proc/1/ns/net", ct).ConfigureAwait(false);
        var self = await IdentityAsync("/proc/self/ns/net", ct).ConfigureAwait(false);
        var links = await Shell.RunAsync("nsenter", [$"--net={path}", "ip", "-o", "link", "show"], null, ct).ConfigureAwait(false);
        var names = new List<string>();
        foreach (var line in links.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split(':', 3);
            if (f.Length < 3) continue;
            var n = f[1].Trim();
            int at = n.IndexOf('@');
            names.Add(at > 0 ? n[..at] : n);
        }
        return new NetNamespaceTarget
        {
            Display = $"{display} ({id})", Path = path, NamespaceId = id, Pid = pid, StartStamp = stamp,
            IsRootNamespace = id == root || id == self, Interfaces = names,
        };
    }

    /// <summary>net:[inode] of the namespace at <paramref name="path"/>, read from inside it; null when it cannot be entered.</summary>
    public static async Task<string?> IdentityAsync(string path, CancellationToken ct)
    {
        if (path.StartsWith("/proc/", StringComparison.Ordinal))
        {
            try { if (File.ResolveLinkTarget(path, false)?.Name is { } link && link.StartsWith("net:[", StringComparison.Ordinal)) return link; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        if (!File.Exists(path)) return null;
        var r = await Shell.RunAsync("nsenter", [$"--net={path}", "readlink", "/proc/self/ns/net"], null, ct).ConfigureAwait(false);
        return r.Code == 0 && r.Out.Trim().StartsWith("net:[", StringComparison.Ordinal) ? r.Out.Trim() : null;
    }

    private static void RequireLinux()
    {
        if (!OperatingSystem.IsLinux())
            throw new ChaosException("PacketFaultNotSupported", ChaosErrorCategory.NotImplemented, "Packet faults need Linux (network namespaces, tc, nftables).");
    }
}

/// <summary>Runs a program with arguments (no shell), optional stdin, and captures its output; never throws for a non-zero exit.</summary>
internal static class Shell
{
    public readonly record struct Result(int Code, string Out, string Err);

    /// <summary>The tool's full path: PATH first, then the sbin folders a minimal PATH (a scheduled task, the watchdog) may lack.</summary>
    internal static string Resolve(string file)
    {
        if (file.Contains('/')) return file;
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Concat(["/usr/sbin", "/sbin", "/usr/bin", "/bin"]);
        foreach (var d in dirs)
        {
            var full = System.IO.Path.Combine(d, file);
            if (File.Exists(full)) return full;
        }
        return file;
    }

    public static async Task<Result> RunAsync(string file, IEnumerable<string> args, string? stdin, CancellationToken ct, TimeSpan? timeout = null)
    {
        var psi = new ProcessStartInfo(Resolve(file))
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true,
            StandardOutputEncoding = Encoding.UTF8, StandardErrorEncoding = Encoding.UTF8,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Process p;
        try { p = Process.Start(psi)!; }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new ChaosException("PacketFaultToolMissing", ChaosErrorCategory.NotInstalled, $"Cannot run {file}: {e.Message}.", file,
                "Install it (Debian: apt-get install nftables iproute2 util-linux).");
        }
        using (p)
        {
            var o = p.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var e = p.StandardError.ReadToEndAsync(CancellationToken.None);
            if (stdin is not null) await p.StandardInput.WriteAsync(stdin).ConfigureAwait(false);
            p.StandardInput.Close();
            // A tool that hangs is killed: undo must not hang the watchdog.
            using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
            try { await p.WaitForExitAsync(limit.Token).ConfigureAwait(false); }
            catch (OperationCanceledException)
            {
                try { p.Kill(true); } catch (InvalidOperationException) { }
                throw new ChaosException("PacketFaultToolTimeout", ChaosErrorCategory.OperationTimeout, $"{file} {string.Join(' ', args)} did not finish in time.", file);
            }
            return new Result(p.ExitCode, await o.ConfigureAwait(false), await e.ConfigureAwait(false));
        }
    }
}
