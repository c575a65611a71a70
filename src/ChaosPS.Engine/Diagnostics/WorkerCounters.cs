using System.Diagnostics.Tracing;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Tracing;

namespace ChaosPS.Diagnostics;

/// <summary>Runtime counters of one .NET worker over a sampling window (Get-WorkerDiagnostics).</summary>
public sealed class WorkerCounters
{
    public int ProcessId { get; init; }
    public string Name { get; init; } = "";
    public TimeSpan Window { get; init; }
    /// <summary>How many counter intervals were received.</summary>
    public int Samples { get; set; }
    /// <summary>Mean CPU use of the process over the window, % of all cores (System.Runtime cpu-usage).</summary>
    public double? CpuPercent { get; set; }
    public double? WorkingSetMB { get; set; }
    /// <summary>GC heap size at the end of the window (MB).</summary>
    public double? GcHeapMB { get; set; }
    /// <summary>Allocation rate over the window (MB/s, from alloc-rate increments).</summary>
    public double? AllocationRateMBPerSecond { get; set; }
    /// <summary>Exceptions thrown per second over the window.</summary>
    public double? ExceptionsPerSecond { get; set; }
    /// <summary>Mean thread-pool queue length.</summary>
    public double? ThreadPoolQueueLength { get; set; }
    public double? ThreadPoolThreadCount { get; set; }
    public double? Gen0Collections { get; set; }
    public double? Gen2Collections { get; set; }
    /// <summary>Every counter seen: name → mean (gauges) or total over the window (rates).</summary>
    public Dictionary<string, double> Counters { get; } = new(StringComparer.Ordinal);
    public DateTimeOffset At { get; init; }
}

public static partial class WorkerDiagnostics
{
    /// <summary>
    /// Samples the System.Runtime EventCounters of a .NET process over <paramref name="window"/> through an EventPipe
    /// session (<paramref name="interval"/> between counter reports).
    /// </summary>
    public static async Task<WorkerCounters> SampleCountersAsync(int pid, TimeSpan window, TimeSpan interval, CancellationToken ct)
    {
        if (!IsDotnet(pid)) throw NotDotnet(pid);
        var name = ProcessTable.Read(pid)?.Name ?? "process";
        var providers = new[]
        {
            new EventPipeProvider("System.Runtime", EventLevel.Informational, 0,
                new Dictionary<string, string> { ["EventCounterIntervalSec"] = Math.Max(1, interval.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture) }),
        };
        var gauges = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var sums = new Dictionary<string, double>(StringComparer.Ordinal);
        var lastGauge = new Dictionary<string, double>(StringComparer.Ordinal);
        int samples = 0;
        var gate = new object();
        EventPipeSession session;
        try
        {
            session = new DiagnosticsClient(pid).StartEventPipeSession(providers, requestRundown: false);
        }
        catch (Exception e) when (e is ServerNotAvailableException or ServerErrorException or UnsupportedCommandException or TimeoutException or IOException)
        {
            throw new ChaosException("DiagnosticsFailed", ChaosErrorCategory.InvalidOperation, $"Starting an EventPipe session in process {pid} failed: {e.Message}", pid);
        }
        using (session)
        {
            var source = new EventPipeEventSource(session.EventStream);
            source.Dynamic.All += e =>
            {
                if (e.EventName != "EventCounters") return;
                if (e.PayloadValue(0) is not IDictionary<string, object> outer || outer["Payload"] is not IDictionary<string, object> p) return;
                var counter = p.TryGetValue("Name", out var n) ? n?.ToString() ?? "" : "";
                lock (gate)
                {
                    if (counter == "cpu-usage") samples++;
                    if (p.TryGetValue("Increment", out var inc))
                        sums[counter] = sums.GetValueOrDefault(counter) + Convert.ToDouble(inc, System.Globalization.CultureInfo.InvariantCulture);
                    else if (p.TryGetValue("Mean", out var mean))
                    {
                        var v = Convert.ToDouble(mean, System.Globalization.CultureInfo.InvariantCulture);
                        if (!gauges.TryGetValue(counter, out var list)) gauges[counter] = list = [];
                        list.Add(v);
                        lastGauge[counter] = v;
                    }
                }
            };
            var processing = Task.Run(() => { try { source.Process(); } catch (Exception) { /* session ended */ } });
            try { await Task.Delay(window, ct).ConfigureAwait(false); }
            finally
            {
                try { await session.StopAsync(CancellationToken.None).ConfigureAwait(false); } catch (Exception) { /* the process may have exited */ }
                await Task.WhenAny(processing, Task.Delay(5000, CancellationToken.None)).ConfigureAwait(false);
                source.Dispose();
            }
        }
        var secs = Math.Max(window.TotalSeconds, 0.001);
        var r = new WorkerCounters { ProcessId = pid, Name = name, Window = window, At = DateTimeOffset.UtcNow };
        lock (gate)
        {
            r.Samples = samples;
            foreach (var (k, v) in gauges) r.Counters[k] = v.Average();
            foreach (var (k, v) in sums) r.Counters[k] = v;
            double? Mean(string k) => gauges.TryGetValue(k, out var l) && l.Count > 0 ? l.Average() : null;
            double? Last(string k) => lastGauge.TryGetValue(k, out var v) ? v : null;
            double? Sum(string k) => sums.TryGetValue(k, out var v) ? v : null;
            r.CpuPercent = Mean("cpu-usage");
            r.WorkingSetMB = Last("working-set");
            r.GcHeapMB = Last("gc-heap-size");
            r.AllocationRateMBPerSecond = Sum("alloc-rate") is { } a ? a / secs / (1024 * 1024) : null;
            r.ExceptionsPerSecond = Sum("exception-count") is { } x ? x / secs : null;
            r.ThreadPoolQueueLength = Mean("threadpool-queue-length");
            r.ThreadPoolThreadCount = Mean("threadpool-thread-count");
            r.Gen0Collections = Sum("gen-0-gc-count");
            r.Gen2Collections = Sum("gen-2-gc-count");
        }
        if (r.Samples == 0 && r.Counters.Count == 0)
            throw new ChaosException("NoCounters", ChaosErrorCategory.InvalidResult,
                $"Process {pid} sent no System.Runtime counters in {DurationParser.Format(window)}.", pid, "Sample over a longer -Duration (at least two counter intervals).");
        return r;
    }
}
