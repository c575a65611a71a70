using System.Diagnostics;
using System.Formats.Tar;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Docker.DotNet;
using Docker.DotNet.Models;

namespace ChaosPS.Testbed;

/// <summary>
/// Builds the container image for the embedded testbed's workers without a registry: a root filesystem made of the
/// target program, the .NET runtime this session runs on, and the shared libraries those need (found with ldd),
/// imported through the Docker API (`docker import`). The tag is a hash of the contents, so an image is built once
/// per module build and reused after.
/// </summary>
public static class TestbedImage
{
    public const string Repository = "chaosps/testbed";

    public static async Task<string> EnsureAsync(DockerClient docker, string targetDll, IChaosReporter reporter, CancellationToken ct)
    {
        var appDir = Path.GetDirectoryName(targetDll)!;
        var runtimeDir = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd('/');
        var dotnetRoot = Path.GetFullPath(Path.Combine(runtimeDir, "..", "..", ".."));
        var host = Path.Combine(dotnetRoot, "dotnet");
        var fxr = Directory.Exists(Path.Combine(dotnetRoot, "host", "fxr"))
            ? Directory.GetDirectories(Path.Combine(dotnetRoot, "host", "fxr")).OrderByDescending(d => d).FirstOrDefault() : null;
        if (!File.Exists(host) || fxr is null)
            throw new ChaosException("RuntimeLayoutUnsupported", ChaosErrorCategory.NotInstalled,
                $"Building the target image needs a shared .NET installation (dotnet host + host/fxr) next to {runtimeDir}; none was found.",
                runtimeDir, "Run PowerShell on a shared .NET 10 runtime (e.g. the 'dotnet tool' PowerShell), or use -Runtime Process.");

        var tag = ContentTag(appDir, runtimeDir);
        var image = $"{Repository}:{tag}";
        var existing = await docker.Images.ListImagesAsync(new ImagesListParameters
        {
            Filters = new Dictionary<string, IDictionary<string, bool>> { ["reference"] = new Dictionary<string, bool> { [image] = true } },
        }, ct).ConfigureAwait(false);
        if (existing.Count > 0) return image;

        reporter.Progress(new ProgressInfo("Start-ChaosTestbed", $"Building image {image} (no registry: from the local .NET runtime)", ActivityId: 2));
        var tarPath = Path.Combine(Path.GetTempPath(), $"chaosps-testbed-{tag}-{Environment.ProcessId}.tar");
        try
        {
            WriteRootFs(tarPath, appDir, dotnetRoot, runtimeDir, fxr);
            await using var tar = File.OpenRead(tarPath);
            await docker.Images.CreateImageAsync(new ImagesCreateParameters { FromSrc = "-", Repo = Repository, Tag = tag },
                tar, null, new Progress<JSONMessage>(), ct).ConfigureAwait(false);
        }
        finally
        {
            File.Delete(tarPath);
            reporter.Progress(new ProgressInfo("Start-ChaosTestbed", "image built", Completed: true, ActivityId: 2));
        }
        return image;
    }

    private static string ContentTag(string appDir, string runtimeDir)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var f in Directory.EnumerateFiles(appDir, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(Path.GetRelativePath(appDir, f)));
            sha.AppendData(File.ReadAllBytes(f));
        }
        sha.AppendData(System.Text.Encoding.UTF8.GetBytes(runtimeDir));
        return Convert.ToHexString(sha.GetHashAndReset())[..16].ToLowerInvariant();
    }

    private static void WriteRootFs(string tarPath, string appDir, string dotnetRoot, string runtimeDir, string fxrDir)
    {
        using var fs = File.Create(tarPath);
        using var tar = new TarWriter(fs, TarEntryFormat.Pax, leaveOpen: false);
        var written = new HashSet<string>(StringComparer.Ordinal);
        void Dir(string path, UnixFileMode mode = (UnixFileMode)0b111_101_101)
        {
            if (!written.Add(path)) return;
            tar.WriteEntry(new PaxTarEntry(TarEntryType.Directory, path.TrimStart('/') + "/") { Mode = mode });
        }
        void FileAt(string source, string dest)
        {
            if (!written.Add(dest)) return;
            var parts = dest.TrimStart('/').Split('/');
            for (int i = 1; i < parts.Length; i++) Dir("/" + string.Join('/', parts[..i]));
            var real = new FileInfo(source).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? source;
            using var data = File.OpenRead(real);
            var mode = File.GetUnixFileMode(real);
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, dest.TrimStart('/')) { DataStream = data, Mode = mode });
        }
        foreach (var f in Directory.EnumerateFiles(appDir, "*", SearchOption.AllDirectories))
            FileAt(f, "/app/" + Path.GetRelativePath(appDir, f));
        FileAt(Path.Combine(dotnetRoot, "dotnet"), "/dotnet/dotnet");
        foreach (var f in Directory.EnumerateFiles(fxrDir))
            FileAt(f, $"/dotnet/host/fxr/{Path.GetFileName(fxrDir)}/{Path.GetFileName(f)}");
        var ver = Path.GetFileName(runtimeDir);
        foreach (var f in Directory.EnumerateFiles(runtimeDir, "*", SearchOption.AllDirectories))
            FileAt(f, $"/dotnet/shared/Microsoft.NETCore.App/{ver}/{Path.GetRelativePath(runtimeDir, f)}");
        var natives = new List<string> { Path.Combine(dotnetRoot, "dotnet") };
        natives.AddRange(Directory.EnumerateFiles(fxrDir, "*.so"));
        natives.AddRange(Directory.EnumerateFiles(runtimeDir, "*.so"));
        foreach (var lib in SharedLibraries(natives)) FileAt(lib, lib);
        Dir("/tmp", (UnixFileMode)0b1_111_111_111);
        Dir("/data", (UnixFileMode)0b111_111_111);
        Dir("/etc");
        written.Add("/etc/passwd");
        var passwd = new MemoryStream("root:x:0:0:root:/root:/bin/false\n"u8.ToArray());
        tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "etc/passwd") { DataStream = passwd, Mode = (UnixFileMode)0b110_100_100 });
    }

    /// <summary>The shared libraries (and the dynamic loader) the given binaries load, as ldd resolves them here.</summary>
    private static IEnumerable<string> SharedLibraries(IEnumerable<string> binaries)
    {
        var found = new SortedSet<string>(StringComparer.Ordinal);
        var psi = new ProcessStartInfo("ldd") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var b in binaries) psi.ArgumentList.Add(b);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("ldd could not be started");
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        foreach (var line in output.Split('\n'))
        {
            var t = line.Trim();
            string? path = null;
            int arrow = t.IndexOf("=> ", StringComparison.Ordinal);
            if (arrow >= 0) path = t[(arrow + 3)..].Split(' ')[0];
            else if (t.StartsWith('/')) path = t.Split(' ')[0];
            if (path is { Length: > 0 } && path.StartsWith('/') && File.Exists(path)) found.Add(path);
        }
        return found;
    }
}
