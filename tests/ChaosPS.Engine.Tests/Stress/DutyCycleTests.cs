using ChaosPS.Stress;

namespace ChaosPS.Engine.Tests.Stress;

/// <summary>The CPU stressor's duty-cycle controller, driven by a simulated worker on fake clocks (no real time).</summary>
public class DutyCycleTests
{
    /// <summary>
    /// A simulated worker: spins get the CPU except for <paramref name="preempted"/> of the time, every sleep overshoots
    /// by timer slack and costs CPU on wake-up, and the rest of the process burns <paramref name="overheadFraction"/> of
    /// one CPU in the background. Returns the process's CPU (worker + rest) over a window after a warm-up, as a fraction
    /// of wall time — what /proc shows.
    /// </summary>
    private static (double Process, double Worker, long Steps) Simulate(double p, double preempted = 0.1, double overheadFraction = 0.02,
        long wakeCostNs = 15_000, long slackNs = 60_000, double seconds = 20, bool shareOverhead = true, Func<long, bool>? starved = null)
    {
        long wall = 0, cpu = 5_000_000, rest = 0; // the worker's CPU clock does not start at zero
        var duty = new DutyCycle(p, wall, cpu);
        long cpuStart = cpu;
        long warm = 2_000_000_000, w0 = 0, c0 = 0, r0 = 0, steps = 0;
        while (wall < seconds * 1e9)
        {
            if (w0 == 0 && wall >= warm) { w0 = wall; c0 = cpu; r0 = rest; }
            long step = duty.Next(wall, cpu, shareOverhead ? rest : 0);
            steps++;
            long dt;
            if (step > 0)
            {
                dt = step;
                bool starve = starved?.Invoke(wall) ?? false;
                cpu += starve ? 0 : (long)(step * (1 - preempted));
            }
            else
            {
                dt = -step + slackNs;
                cpu += wakeCostNs;
            }
            wall += dt;
            rest += (long)(dt * overheadFraction);
        }
        double window = wall - w0;
        return (((cpu - c0) + (rest - r0)) / window, (cpu - c0) / window, steps);
    }

    [Theory]
    [InlineData(0.25)]
    [InlineData(0.50)]
    [InlineData(0.75)]
    public void The_whole_process_converges_on_the_target_despite_preemption_wakeup_cost_and_runtime_threads(double p)
    {
        var (process, worker, steps) = Simulate(p);
        Assert.InRange(process, p - 0.001, p + 0.001);
        Assert.True(worker < p, "the worker leaves room for the rest of the process");
        // Slices, not a tight loop of clock reads: a 10 ms period and 2 ms slices mean at most a few thousand steps a second.
        Assert.True(steps / 20.0 < 5000, $"{steps / 20.0} controller steps a second");
    }

    [Fact]
    public void Ignoring_the_rest_of_the_process_overshoots_by_its_share()
    {
        // The bias the controller removes: a worker that only watches its own clock lets the process run 2 points high.
        var (process, _, _) = Simulate(0.5, overheadFraction: 0.02, shareOverhead: false);
        Assert.InRange(process, 0.5 + 0.015, 0.5 + 0.025);
    }

    [Fact]
    public void Full_load_always_spins_and_zero_always_sleeps()
    {
        var full = new DutyCycle(1, 0, 0);
        Assert.True(full.Next(1_000_000_000, 2_000_000_000) > 0, "100% spins even when ahead");
        var none = new DutyCycle(0, 0, 0);
        Assert.True(none.Next(1_000_000_000, 0) < 0);
        var (process, _, _) = Simulate(1, preempted: 0, overheadFraction: 0, wakeCostNs: 0);
        Assert.Equal(1.0, process, 3);
    }

    [Fact]
    public void A_starved_worker_catches_up_at_most_one_forgiven_debt_and_no_more()
    {
        // Starved (spins get no CPU) from 3 s to 5 s; afterwards it may repay at most MaxDebt, not the 2 s x p it lost.
        long lostWindowStart = 3_000_000_000, lostWindowEnd = 5_000_000_000;
        var duty = new DutyCycle(0.5, 0, 0);
        long wall = 0, cpu = 0, cpuAtEnd = -1;
        while (wall < 8_000_000_000)
        {
            if (cpuAtEnd < 0 && wall >= lostWindowEnd) cpuAtEnd = cpu;
            long step = duty.Next(wall, cpu);
            bool starve = wall >= lostWindowStart && wall < lostWindowEnd;
            if (step > 0) { wall += step; if (!starve) cpu += step; }
            else wall += -step;
        }
        double after = (cpu - cpuAtEnd) / 3e9;
        Assert.True(duty.ForgivenNs > 800_000_000, $"forgave {duty.ForgivenNs} ns");
        Assert.InRange(after, 0.5 - 0.002, 0.5 + DutyCycle.MaxDebtNs / 3e9 + 0.002);
    }

    [Fact]
    public void A_fraction_outside_0_to_1_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new DutyCycle(1.5, 0, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new DutyCycle(double.NaN, 0, 0));
    }
}
