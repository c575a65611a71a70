using System.Collections.Concurrent;
using ChaosPS.Stress;

namespace ChaosPS.Agent.Roles;

/// <summary>
/// `chaosps-agent memory-hog --mode reach --target-used B | --mode add --bytes B [--floor B] ...`: holds anonymous
/// memory in 64 MB mappings, populated by the kernel so every page is resident. Reach mode re-reads the meter (host
/// /proc/meminfo, or the container's memory cgroup) five times a second (at once again after a correction) and grows or shrinks to keep used memory at
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
        // Dead band of the hold: 0.4% of the basis (host memory or the container's limit), at most one chunk, so the
        // level stays well within a point of the target on a small machine too.
        long basisTotal = meterPid > 0 && ContainerScope.MemoryOf(meterPid) is { } lim && lim.Limit > 0 ? lim.Limit : HostStats.ReadMemory().Total;
        long band = Math.Clamp(basisTotal / 250, 4L << 20, Chunk);

        long want = reach ? a.Long("target-used", 0) - Meter().Used : a.Long("bytes", 0);
        var fill = System.Diagnostics.Stopwatch.StartNew();
        if (want > 0) Grow(want, () => Meter().Available - floor);
        StressorArgs.Say($"READY pid={Environment.ProcessId} held={Held()} fillSeconds={StressorArgs.F(fill.Elapsed.TotalSeconds)}");
        var lastSay = DateTime.UtcNow;
        long target = a.Long("target-used", 0);
        bool corrected = false;
        while (!life.IsCancellationRequested)
        {
            // Steady: the meter five times a second. Right after a correction: again at once (25 ms), because other
            // memory on the host may still be moving (a process growing or letting go of gigabytes takes a second or
            // more, and a grow measured at its start is short by what was freed meanwhile); back to 200 ms once in band.
            try { await Task.Delay(corrected ? 25 : 200, life.Token); } catch (OperationCanceledException) { break; }
            var (used, avail) = Meter();
            corrected = false;
            if (avail < floor) { Shrink(floor - avail); corrected = true; }
            else if (reach)
            {
                long diff = target - used;
                if (diff > band) { Grow(Math.Min(diff, 2L << 30), () => Meter().Available - floor); corrected = true; }
                else if (diff < -band) { Shrink(-diff); corrected = true; }
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

    /// <summary>0: not known yet, 1: madvise(MADV_POPULATE_WRITE) works (Linux 5.14+), -1: it does not (pages are touched instead).</summary>
    private static int _populateWrite;

    /// <summary>
    /// Maps <paramref name="bytes"/> in chunks, on every CPU at once, and makes every page resident in one kernel call per
    /// chunk (madvise(MADV_POPULATE_WRITE): the kernel faults the pages in, and says so when it cannot — a full memory
    /// cgroup — instead of leaving them unbacked as MAP_POPULATE would); stops early when headroom runs out.
    /// </summary>
    private void Grow(long bytes, Func<long> headroom)
    {
        int n = (int)Math.Ceiling(bytes / (double)Chunk);
        int stop = 0;
        Parallel.For(0, n, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, (i, state) =>
        {
            if (Volatile.Read(ref stop) == 1) { state.Stop(); return; }
            if (i % 8 == 0 && headroom() < Chunk) { Volatile.Write(ref stop, 1); state.Stop(); return; }
            long len = Math.Min(Chunk, bytes - (long)i * Chunk);
            var p = Populate(len);
            if (p == 0) { Volatile.Write(ref stop, 1); state.Stop(); return; }
            _chunks.Push((p, len));
            Interlocked.Add(ref _held, len);
        });
    }

    /// <summary>One resident, private, anonymous mapping of <paramref name="len"/> bytes, or 0 when the kernel refused.</summary>
    internal static nint Populate(long len)
    {
        const int Prot = LinuxIo.PROT_READ | LinuxIo.PROT_WRITE, Anon = LinuxIo.MAP_PRIVATE | LinuxIo.MAP_ANONYMOUS;
        if (Volatile.Read(ref _populateWrite) >= 0)
        {
            var m = LinuxIo.mmap(0, (nuint)len, Prot, Anon, -1, 0);
            if (m == -1 || m == 0) return 0;
            if (LinuxIo.madvise(m, (nuint)len, LinuxIo.MADV_POPULATE_WRITE) == 0) { Volatile.Write(ref _populateWrite, 1); return m; }
            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            LinuxIo.munmap(m, (nuint)len);
            if (errno != LinuxIo.EINVAL) return 0; // ENOMEM/EFAULT: no memory for it (a full cgroup); EINVAL: an old kernel
            Volatile.Write(ref _populateWrite, -1);
        }
        // Before Linux 5.14: MAP_POPULATE, then a write to every page (MAP_POPULATE does not fail when it cannot populate).
        var p = LinuxIo.mmap(0, (nuint)len, Prot, Anon | LinuxIo.MAP_POPULATE, -1, 0);
        if (p == -1 || p == 0) return 0;
        for (long off = 0; off < len; off += 4096) System.Runtime.InteropServices.Marshal.WriteByte(p, (int)off, 0x5a);
        return p;
    }

    private void Shrink(long bytes)
    {
        long freed = 0;
        while (freed < bytes && _chunks.TryPop(out var c))
        {
            LinuxIo.munmap(c.Ptr, (nuint)c.Len);
            Interlocked.Add(ref _held, -c.Len);
            freed += c.Len;
        }
    }
}
