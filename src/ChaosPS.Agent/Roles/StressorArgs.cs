using System.Globalization;
using ChaosPS.Stress;

namespace ChaosPS.Agent.Roles;

/// <summary>
/// What every stressor role shares: `--key value` arguments, the line protocol on stdout, and the dead-man switch —
/// the stressor exits by itself when its owner (the pwsh that started it) is gone or its own deadline passes, even if
/// the watchdog and the cmdlet both failed.
/// </summary>
internal sealed class StressorArgs
{
    private readonly Dictionary<string, string> _a = new(StringComparer.Ordinal);

    public StressorArgs(string[] args)
    {
        for (int i = 0; i + 1 < args.Length; i += 2)
            if (args[i].StartsWith("--", StringComparison.Ordinal)) _a[args[i][2..]] = args[i + 1];
    }

    public string? Get(string k) => _a.TryGetValue(k, out var v) && v.Length > 0 ? v : null;
    public double Double(string k, double d) => Get(k) is { } v ? double.Parse(v, CultureInfo.InvariantCulture) : d;
    public long Long(string k, long d) => Get(k) is { } v ? long.Parse(v, CultureInfo.InvariantCulture) : d;
    public int Int(string k, int d) => (int)Long(k, d);

    private static readonly object WriteLock = new();

    /// <summary>Writes one protocol line; a closed pipe (owner gone) is ignored — the dead-man switch ends us.</summary>
    public static void Say(string line)
    {
        lock (WriteLock)
        {
            try { Console.Out.WriteLine(line); Console.Out.Flush(); } catch (IOException) { }
        }
    }

    public static string F(double v) => v.ToString("0.###", CultureInfo.InvariantCulture);

    /// <summary>Joins a container's cgroups first when --cgroup-of is given (before anything is allocated, so it is charged there).</summary>
    public void JoinCgroupIfAsked()
    {
        if (Get("cgroup-of") is { } pid) ContainerScope.Join(int.Parse(pid, CultureInfo.InvariantCulture), Environment.ProcessId);
    }

    /// <summary>A token cancelled when the role should end: SIGTERM/Ctrl+C, the owner's death, or the deadline.</summary>
    public CancellationTokenSource Lifetime(CancellationToken outer)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(outer);
        int owner = Int("owner", 0);
        var start = Get("owner-start");
        long deadlineMs = Long("deadline", 0);
        var t = new Thread(() =>
        {
            while (!cts.IsCancellationRequested)
            {
                string? why = null;
                if (owner > 0 && !ChaosPS.ProcessIdentity.IsAlive(owner, start)) why = $"owner {owner} is gone";
                else if (deadlineMs > 0 && DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() > deadlineMs) why = "deadline passed";
                if (why is not null)
                {
                    Console.Error.WriteLine($"stressor {Environment.ProcessId}: {why}; exiting");
                    try { cts.Cancel(); } catch (ObjectDisposedException) { }
                    // Belt and braces: if the role does not wind down promptly, leave anyway.
                    Thread.Sleep(3000);
                    Environment.Exit(0);
                }
                Thread.Sleep(250);
            }
        }) { IsBackground = true, Name = "deadman" };
        t.Start();
        return cts;
    }
}
