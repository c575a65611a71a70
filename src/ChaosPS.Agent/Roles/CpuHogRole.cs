using ChaosPS.Stress;

namespace ChaosPS.Agent.Roles;

/// <summary>
/// `chaosps-agent cpu-hog --cores N --percent P ...`: N worker threads, each holding P% of one CPU by a closed-loop
/// <see cref="DutyCycle"/> on its own thread CPU clock, short spin slices and precise sleeps. The CPU the rest of the
/// process uses (runtime threads, the owner watch) is measured with the process CPU clock and taken off the workers'
/// share, so the process as a whole — what /proc shows — holds N × P%. No other thread of ours is busy: the main
/// thread waits. The hot methods are compiled fully optimised up front, so no tier-up compiles during the hold.
/// </summary>
public sealed class CpuHogRole : IAgentRole
{
    public string Name => "cpu-hog";

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var a = new StressorArgs(args);
        a.JoinCgroupIfAsked();
        using var life = a.Lifetime(ct);
        int cores = a.Int("cores", Environment.ProcessorCount);
        double p = Math.Clamp(a.Double("percent", 100), 0, 100) / 100.0;
        var group = new Group(cores);
        var threads = new List<Thread>();
        for (int i = 0; i < cores; i++)
        {
            int k = i;
            var t = new Thread(() => Burn(p, group, k, life.Token)) { IsBackground = true, Name = $"cpu-hog-{i}" };
            threads.Add(t);
        }
        group.Start();
        foreach (var t in threads) t.Start();
        StressorArgs.Say($"READY pid={Environment.ProcessId} cores={cores} percent={StressorArgs.F(p * 100)}");
        try { await Task.Delay(Timeout.Infinite, life.Token); } catch (OperationCanceledException) { }
        foreach (var t in threads) t.Join(1000);
        return 0;
    }

    /// <summary>What the workers share: the process CPU clock at the start and each worker's own CPU used since.</summary>
    private sealed class Group(int workers)
    {
        private readonly long[] _used = new long[workers];
        private long _proc0;
        public void Start() => _proc0 = LinuxIo.ProcessCpuNanoseconds();
        public void Report(int worker, long usedNs) => Volatile.Write(ref _used[worker], usedNs);

        /// <summary>One worker's share of the CPU the process used outside the workers since the start.</summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
        public long OverheadShare()
        {
            long sum = 0;
            for (int i = 0; i < _used.Length; i++) sum += Volatile.Read(ref _used[i]);
            return Math.Max(0, LinuxIo.ProcessCpuNanoseconds() - _proc0 - sum) / _used.Length;
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private static void Burn(double p, Group group, int index, CancellationToken ct)
    {
        double nsPerTick = 1e9 / System.Diagnostics.Stopwatch.Frequency;
        long ts0 = System.Diagnostics.Stopwatch.GetTimestamp();
        long cpuStart = LinuxIo.ThreadCpuNanoseconds();
        var duty = new DutyCycle(p, 0, cpuStart);
        double x = 1.0001;
        while (!ct.IsCancellationRequested)
        {
            long cpu = LinuxIo.ThreadCpuNanoseconds();
            group.Report(index, cpu - cpuStart);
            long wall = (long)((System.Diagnostics.Stopwatch.GetTimestamp() - ts0) * nsPerTick);
            long step = duty.Next(wall, cpu, p >= 1 ? 0 : group.OverheadShare());
            if (step > 0)
            {
                // Spin by the wall clock (cheap to read); the CPU clock is consulted again after the slice.
                long until = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(step / nsPerTick);
                do { for (int k = 0; k < 500; k++) x = x * 1.0000001 + 1e-9; }
                while (System.Diagnostics.Stopwatch.GetTimestamp() < until);
            }
            else LinuxIo.SleepNanoseconds(-step);
        }
        GC.KeepAlive(x);
    }
}
