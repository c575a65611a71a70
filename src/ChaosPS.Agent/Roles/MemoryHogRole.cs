using System.Collections.Concurrent;
using ChaosPS.Stress;

namespace ChaosPS.Agent.Roles;

/// <summary>
/// `chaosps-agent memory-hog --mode reach --target-used B | --mode add --bytes B [--floor B] ...`: holds anonymous
/// memory in 64 MB mappings, populated and touched so every page is resident. Reach mode re-reads the meter (host
/// /proc/meminfo, or the container's memory cgroup) five times a second and grows or shrinks to keep used memory at
/// the target, never letting available memory drop under the floor. oom_score_adj 1000: first to go on OOM.
/// </summary>
public sealed class MemoryHogRole : IAgentRole
{
    public string Name => "memory-hog";
    private const long Chunk = MemoryStress.Chunk;
    private readonly ConcurrentStack<(nint Ptr, long Len)> _chunks = new();
    private long _held;

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var a = new StressorArgs(args);
        try { File.WriteAllText("/proc/self/oom_score_adj", "1000"); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        a.JoinCgroupIfAsked();
        using var life = a.Lifetime(ct);
        bool reach = a.Get("mode") == "reach";
        long floor = a.Long("floor", 256L << 20);
        int meterPid = a.Int("meter-cgroup-of", 0);
        (long Used, long Available) Meter()
        {
            if (meterPid > 0 && ContainerScope.MemoryOf(meterPid) is { } m) return (m.Usage, Math.Min(m.Limit - m.Usage, HostStats.ReadMemory().Available));
            var h = HostStats.ReadMemory();
            return (h.Used, h.Available);
        }
        long Held() => Interlocked.Read(ref _held);

        long want = reach ? a.Long("target-used", 0) - Meter().Used : a.Long("bytes", 0);
        if (want > 0) Grow(want, () => Meter().Available - floor);
        StressorArgs.Say($"READY pid={Environment.ProcessId} held={Held()}");
        var lastSay = DateTime.UtcNow;
        while (!life.IsCancellationRequested)
        {
            try { await Task.Delay(200, life.Token); } catch (OperationCanceledException) { break; }
            var (used, avail) = Meter();
            if (avail < floor) Shrink(floor - avail);
            else if (reach)
            {
                long diff = a.Long("target-used", 0) - used;
                if (diff > Chunk) Grow(Math.Min(diff, 2L << 30), () => Meter().Available - floor);
                else if (diff < -Chunk) Shrink(-diff);
            }
            if (DateTime.UtcNow - lastSay > TimeSpan.FromMilliseconds(500))
            {
                StressorArgs.Say($"STATUS held={Held()} used={used} available={avail}");
                lastSay = DateTime.UtcNow;
            }
        }
        Shrink(long.MaxValue);
        return 0;
    }

    /// <summary>Maps and touches <paramref name="bytes"/> in chunks, on every CPU at once; stops early when headroom runs out.</summary>
    private void Grow(long bytes, Func<long> headroom)
    {
        int n = (int)Math.Ceiling(bytes / (double)Chunk);
        int stop = 0;
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, (i, state) =>
        {
            if (Volatile.Read(ref stop) == 1) { state.Stop(); return; }
            if (i % 8 == 0 && headroom() < Chunk) { Volatile.Write(ref stop, 1); state.Stop(); return; }
            long len = Math.Min(Chunk, bytes - (long)i * Chunk);
            var p = LinuxNative.Mmap(0, (nuint)len, LinuxNative.PROT_READ | LinuxNative.PROT_WRITE,
                LinuxNative.MAP_PRIVATE | LinuxNative.MAP_ANONYMOUS | LinuxNative.MAP_POPULATE, -1, 0);
            if (p == -1 || p == 0) { Volatile.Write(ref stop, 1); state.Stop(); return; }
            for (int off = 0; off < len; off += 4096) System.Runtime.InteropServices.Marshal.WriteByte(p, off, 0x5a); // touch every page: resident and dirty
            _chunks.Push((p, len));
            Interlocked.Add(ref _held, len);
        });
    }

    private void Shrink(long bytes)
    {
        long freed = 0;
        while (freed < bytes && _chunks.TryPop(out var c))
        {
            LinuxNative.Munmap(c.Ptr, (nuint)c.Len);
            Interlocked.Add(ref _held, -c.Len);
            freed += c.Len;
        }
    }
}
