using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using ChaosPS.Faults;

namespace ChaosPS.Stress;

/// <summary>
/// A stressor running out of process (`chaosps-agent &lt;role&gt;`): started only after its fault is recorded, labelled
/// with the fault id on its command line, given its own deadline and its owner's pid so it exits by itself if every
/// other safety net fails, and registered as a kill-process undo step as soon as its pid is known.
/// The agent speaks a line protocol on stdout: "READY k=v ...", "STATUS k=v ...", "ERROR id message".
/// </summary>
public sealed class StressorProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly TaskCompletionSource<Dictionary<string, string>> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Dictionary<string, string> _lastStatus = new();

    /// <summary>How long a stressor may take to get ready (allocating 20 GB on a busy machine takes a while); the
    /// fault's deadline and the stressor's own include it until <see cref="Tighten"/> moves them once it is ready.</summary>
    public static readonly TimeSpan StartAllowance = TimeSpan.FromSeconds(120);

    /// <summary>Once the stressor is ready: the fault's recorded deadline becomes now + the hold + the ledger's grace.</summary>
    public static void Tighten(ActiveFault fault, TimeSpan hold)
    {
        fault.Record.Deadline = DateTimeOffset.UtcNow + hold + FaultLedger.DeadlineGrace;
        FaultLedger.Default.Rewrite(fault.Record);
    }

    public int Pid { get; }
    public Dictionary<string, string> LastStatus => _lastStatus;
    public bool HasExited => _process.HasExited;
    public string StandardError => string.Join('\n', _stderr);

    private StressorProcess(Process p)
    {
        _process = p;
        Pid = p.Id;
        p.OutputDataReceived += (_, e) => OnLine(e.Data);
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) { _stderr.Enqueue(e.Data); while (_stderr.Count > 50 && _stderr.TryDequeue(out string? _)) { } } };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        p.EnableRaisingEvents = true;
        p.Exited += (_, _) => _ready.TrySetException(new ChaosException("StressorExited", ChaosErrorCategory.InvalidResult,
            $"The stressor process {Pid} exited (code {SafeExitCode()}) before it was ready. {StandardError}".Trim(), Pid));
    }

    private int SafeExitCode() { try { return _process.ExitCode; } catch (InvalidOperationException) { return -1; } }

    private void OnLine(string? line)
    {
        if (line is null) return;
        if (line.StartsWith("READY", StringComparison.Ordinal)) { var kv = Parse(line); _lastStatus = kv; _ready.TrySetResult(kv); }
        else if (line.StartsWith("STATUS", StringComparison.Ordinal)) _lastStatus = Parse(line);
        else if (line.StartsWith("ERROR", StringComparison.Ordinal))
        {
            var parts = line.Split(' ', 3);
            _ready.TrySetException(new ChaosException(parts.Length > 1 ? parts[1] : "StressorFailed", ChaosErrorCategory.ResourceUnavailable,
                parts.Length > 2 ? parts[2] : line, Pid));
        }
    }

    public static Dictionary<string, string> Parse(string line)
    {
        var d = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var tok in line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            int eq = tok.IndexOf('=');
            if (eq > 0) d[tok[..eq]] = tok[(eq + 1)..];
        }
        return d;
    }

    /// <summary>
    /// Starts `chaosps-agent role args --fault ID --owner PID --owner-start STAMP --deadline UNIXMS` and adds its
    /// kill-process undo step to <paramref name="fault"/> at once. <paramref name="environment"/> adds variables to the
    /// stressor's environment (runtime settings a role needs).
    /// </summary>
    public static StressorProcess Start(ActiveFault fault, string role, IEnumerable<string> args, TimeSpan duration, TimeSpan? allowance = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var deadline = DateTimeOffset.UtcNow + duration + (allowance ?? StartAllowance) + TimeSpan.FromSeconds(10);
        var all = new List<string> { role };
        all.AddRange(args);
        all.AddRange(["--fault", fault.Id, "--owner", Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
            "--owner-start", ProcessIdentity.StartStamp(Environment.ProcessId) ?? "", "--deadline", deadline.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)]);
        var psi = HelperPrograms.StartInfo(HelperPrograms.Agent, all);
        psi.Environment["DOTNET_gcServer"] = "0";
        psi.Environment["CHAOSPS_FAULT_ID"] = fault.Id;
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        var p = Process.Start(psi) ?? throw new ChaosException("StressorStartFailed", ChaosErrorCategory.InvalidOperation, $"Could not start the {role} stressor.", role);
        fault.AddUndo(KillProcessUndo.Step(p.Id, $"kill {role} stressor {p.Id}"));
        return new StressorProcess(p);
    }

    /// <summary>Waits for the READY line (or an ERROR / early exit, which throw).</summary>
    public async Task<Dictionary<string, string>> WaitReadyAsync(TimeSpan timeout, CancellationToken ct)
    {
        var t = await Task.WhenAny(_ready.Task, Task.Delay(timeout, ct)).ConfigureAwait(false);
        if (t == _ready.Task) return await _ready.Task.ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();
        throw new ChaosException("StressorTimeout", ChaosErrorCategory.OperationTimeout, $"The stressor process {Pid} did not report ready within {DurationParser.Format(timeout)}. {StandardError}".Trim(), Pid);
    }

    public double StatusDouble(string key, double fallback = double.NaN)
        => _lastStatus.TryGetValue(key, out var v) && double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) ? d : fallback;

    /// <summary>Asks the stressor to stop (SIGTERM), then kills it if it lingers.</summary>
    public async Task StopAsync()
    {
        try
        {
            if (_process.HasExited) return;
            PosixSignals.Send(Pid, 15);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
        }
        catch (InvalidOperationException) { }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _process.Dispose();
    }
}
