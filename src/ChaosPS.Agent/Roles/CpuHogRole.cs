using ChaosPS.Stress;

namespace ChaosPS.Agent.Roles;

/// <summary>
/// `chaosps-agent cpu-hog --cores N --percent P ...`: N threads, each holding P% of one CPU. Each thread compares its
/// own CPU clock with P% of the wall time since it started and spins while it is behind, sleeps while it is ahead; a
/// debt larger than one 100 ms period is forgiven, so a starved thread does not burst at 100% for long afterwards.
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
        var threads = new List<Thread>();
        for (int i = 0; i < cores; i++)
        {
            var t = new Thread(() => Burn(p, life.Token)) { IsBackground = true, Name = $"cpu-hog-{i}" };
            threads.Add(t);
            t.Start();
        }
        StressorArgs.Say($"READY pid={Environment.ProcessId} cores={cores} percent={StressorArgs.F(p * 100)}");
        try { await Task.Delay(Timeout.Infinite, life.Token); } catch (OperationCanceledException) { }
        foreach (var t in threads) t.Join(1000);
        return 0;
    }

    private static void Burn(double p, CancellationToken ct)
    {
        const long Period = 100_000_000; // ns
        long wall0 = System.Diagnostics.Stopwatch.GetTimestamp();
        long cpu0 = LinuxNative.ThreadCpuNanoseconds();
        double nsPerTick = 1e9 / System.Diagnostics.Stopwatch.Frequency;
        double x = 1.0001;
        while (!ct.IsCancellationRequested)
        {
            long wall = (long)((System.Diagnostics.Stopwatch.GetTimestamp() - wall0) * nsPerTick);
            long cpu = LinuxNative.ThreadCpuNanoseconds() - cpu0;
            double debt = p * wall - cpu; // CPU time still owed, ns
            if (debt > Period) { cpu0 -= (long)(debt - Period); debt = Period; }
            if (debt > 0)
            {
                // Spin for the debt (at most 10 ms before looking again).
                long until = LinuxNative.ThreadCpuNanoseconds() + (long)Math.Min(debt, 10_000_000);
                while (LinuxNative.ThreadCpuNanoseconds() < until)
                    for (int k = 0; k < 2000; k++) x = x * 1.0000001 + 1e-9;
            }
            else if (p <= 0) Thread.Sleep(100);
            else
            {
                // Ahead: sleep until p * wall catches up with cpu.
                double aheadNs = -debt / p;
                Thread.Sleep(TimeSpan.FromTicks((long)Math.Clamp(aheadNs / 100, 10_000, 1_000_000)));
            }
        }
        GC.KeepAlive(x);
    }
}
