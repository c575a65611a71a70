using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using ChaosPS.Load;

namespace ChaosPS.Commands;

/// <summary>
/// Start-LoadTest over several generator hosts through PowerShell remoting (SSH or any PSSession): checks ChaosPS on
/// each host, measures each host's clock offset, splits the load, starts every host at one common instant, forwards
/// their progress, and merges their results with the one merge Merge-LoadTestResult uses (exact percentiles,
/// thresholds on the merged data). A host that fails mid-run leaves the others' results in a result marked Partial.
/// </summary>
internal sealed class RemoteLoad
{
    /// <summary>One generator host.</summary>
    internal sealed class Gen
    {
        public required string Label;
        public Runspace? Runspace;
        public int SessionId;
        public bool Owned;
        public double Weight;
        public PowerShell? Ps;
        public IAsyncResult? Async;
        public PSDataCollection<PSObject>? Output;
        public LoadHostResult Out = new();
    }

    // Loads ChaosPS of the wanted version on the host (if no ChaosPS is loaded there yet) and says what the host has.
    internal const string CheckScript = """
        param([string] $Version)
        $loaded = Get-Module ChaosPS
        $avail = @()
        $importError = ''
        if (-not $loaded) {
            # Scanning the module path is the slow part of the check: only when ChaosPS is not loaded yet.
            $avail = @(Get-Module -ListAvailable ChaosPS -ErrorAction SilentlyContinue)
            $pick = $avail | Where-Object { "$($_.Version)" -eq $Version } | Select-Object -First 1
            if ($pick) {
                try { Import-Module $pick.Path -ErrorAction Stop } catch { $importError = "$_" }
                $loaded = Get-Module ChaosPS
            }
        }
        [pscustomobject]@{
            Loaded = if ($loaded) { "$($loaded.Version)" } else { '' }
            LoadedFrom = if ($loaded) { "$($loaded.ModuleBase)" } else { '' }
            # Only of a loaded module: Get-Command -Module would auto-import whichever ChaosPS the host has.
            HasStartLoadTest = [bool]($loaded -and $loaded.ExportedCommands.ContainsKey('Start-LoadTest'))
            Available = @($avail | ForEach-Object { "$($_.Version) in $($_.ModuleBase)" }) -join '; '
            ImportError = $importError
            ModulePath = "$env:PSModulePath"
        }
        """;

    // Waits for the common start (ticks of the HOST's clock), then runs this host's share.
    private const string RunScript = """
        param([long] $StartTicks, [hashtable] $Parameters)
        # Poll the host's wall clock (short sleeps), so the start follows that clock even if it is stepped meanwhile.
        $start = [datetime]::new($StartTicks, 'Utc')
        while (($left = ($start - [datetime]::UtcNow).TotalMilliseconds) -gt 0) { Start-Sleep -Milliseconds ([int][math]::Ceiling([math]::Min($left, 20))) }
        Start-LoadTest @Parameters
        """;

    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(20);
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan MaxClockOffset = TimeSpan.FromSeconds(30);

    private readonly PSCmdlet _cmdlet;
    private readonly CancellationToken _stop;
    private readonly List<Gen> _gens;
    private readonly DateTime _called;

    public RemoteLoad(PSCmdlet cmdlet, CancellationToken stop, List<Gen> gens, DateTime called)
    {
        _cmdlet = cmdlet; _stop = stop; _gens = gens; _called = called;
    }

    /// <summary>Opens an SSH runspace per -HostName, in parallel. Throws naming the first host that cannot be reached (all opened ones closed).</summary>
    public static List<Gen> Open(string[] hosts, string? user, string? keyFile, int port, Hashtable? sshOptions, CancellationToken stop)
    {
        var gens = hosts.Select(h => new Gen { Label = h, Owned = true }).ToList();
        var tasks = gens.Select(g => Task.Run(() =>
        {
            // SSHConnectionInfo is PowerShell 7's (this assembly compiles against PowerShell Standard 5.1).
            var ci = (RunspaceConnectionInfo)Activator.CreateInstance(SshConnectionInfoType,
                user, g.Label, keyFile, port, "powershell", (int)ConnectTimeout.TotalMilliseconds, sshOptions)!;
            var rs = RunspaceFactory.CreateRunspace(ci);
            g.Runspace = rs;
            rs.Open();
        })).ToArray();
        WaitAll(tasks, stop, ConnectTimeout + TimeSpan.FromSeconds(10));
        var failed = gens.Select((g, i) => (g, t: tasks[i])).Where(x => !x.t.IsCompletedSuccessfully || x.g.Runspace?.RunspaceStateInfo.State != RunspaceState.Opened).ToList();
        if (failed.Count > 0)
        {
            foreach (var g in gens) Close(g);
            if (stop.IsCancellationRequested) throw new PipelineStoppedException();
            var (fg, ft) = failed[0];
            var why = ft.Exception?.GetBaseException().Message ?? (ft.IsCompleted ? fg.Runspace?.RunspaceStateInfo.Reason?.Message : null) ?? $"no connection within {ConnectTimeout.TotalSeconds:0} s";
            throw new ChaosException("ChaosPS.RemoteHostUnreachable", ChaosErrorCategory.ConnectionError,
                $"Start-LoadTest: cannot open a PowerShell session over SSH to host '{fg.Label}': {why}" +
                (failed.Count > 1 ? $" (also unreachable: {string.Join(", ", failed.Skip(1).Select(f => f.g.Label))})" : ""), fg.Label,
                "Check that the host runs sshd with 'Subsystem powershell <pwsh> -sshs -NoLogo', that the key (-KeyFilePath) and user (-UserName) are right, and that New-PSSession -HostName works to it.");
        }
        return gens;
    }

    private static readonly Type SshConnectionInfoType =
        typeof(RunspaceConnectionInfo).Assembly.GetType("System.Management.Automation.Runspaces.SSHConnectionInfo", throwOnError: true)!;

    public static void Close(Gen g)
    {
        if (!g.Owned || g.Runspace is null) return;
        try { g.Runspace.Dispose(); } catch (Exception) { /* already broken */ }
    }

    private static void WaitAll(Task[] tasks, CancellationToken stop, TimeSpan limit)
    {
        // WaitAny, not WaitAll: a faulted task is a result to read, not an exception to throw here.
        var deadline = DateTime.UtcNow + limit;
        while (tasks.Any(t => !t.IsCompleted))
        {
            if (stop.IsCancellationRequested || DateTime.UtcNow > deadline) return;
            Task.WaitAny(tasks.Where(t => !t.IsCompleted).ToArray(), 200);
        }
    }

    /// <summary>Checks ChaosPS (same version as here) on every host and measures clock offsets. Throws naming the host(s) that are not ready.</summary>
    public void Prepare(string version)
    {
        var problems = new ConcurrentDictionary<Gen, ChaosException>();
        var tasks = _gens.Select(g => Task.Run(() =>
        {
            try { Check(g, version); }
            catch (ChaosException e) { problems[g] = e; }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                problems[g] = new ChaosException("ChaosPS.RemoteHostFailed", ChaosErrorCategory.ConnectionError,
                    $"Start-LoadTest: host '{g.Label}' failed while checking ChaosPS: {e.GetBaseException().Message}", g.Label);
            }
        })).ToArray();
        WaitAll(tasks, _stop, CheckTimeout);
        if (_stop.IsCancellationRequested) throw new PipelineStoppedException();
        foreach (var (g, t) in _gens.Zip(tasks))
            if (!t.IsCompleted) problems[g] = new ChaosException("ChaosPS.RemoteHostTimeout", ChaosErrorCategory.OperationTimeout,
                $"Start-LoadTest: host '{g.Label}' did not answer the ChaosPS check within {CheckTimeout.TotalSeconds:0} s.", g.Label);
        if (problems.IsEmpty) return;
        var ordered = _gens.Where(problems.ContainsKey).Select(g => problems[g]).ToList();
        foreach (var e in ordered.Take(ordered.Count - 1)) _cmdlet.WriteError(ChaosCmdlet.ToErrorRecord(e));
        throw ordered[^1];
    }

    private void Check(Gen g, string version)
    {
        var rs = g.Runspace!;
        if (rs.RunspaceStateInfo.State != RunspaceState.Opened)
            throw new ChaosException("ChaosPS.RemoteSessionNotOpen", ChaosErrorCategory.ResourceUnavailable,
                $"Start-LoadTest: the session to host '{g.Label}' is {rs.RunspaceStateInfo.State}, not Opened.", g.Label, "Open a new session (New-PSSession -HostName ...).");
        if (rs.RunspaceAvailability != RunspaceAvailability.Available)
            throw new ChaosException("ChaosPS.RemoteSessionBusy", ChaosErrorCategory.ResourceBusy,
                $"Start-LoadTest: the session to host '{g.Label}' is busy ({rs.RunspaceAvailability}).", g.Label, "Give each generator host its own idle session.");
        using (var ps = PowerShell.Create())
        {
            ps.Runspace = rs;
            ps.AddScript(CheckScript).AddArgument(version);
            var res = ps.Invoke();
            var info = res.FirstOrDefault() ?? throw new ChaosException("ChaosPS.RemoteHostFailed", ChaosErrorCategory.InvalidResult,
                $"Start-LoadTest: host '{g.Label}' gave no answer to the ChaosPS check{(ps.Streams.Error.Count > 0 ? ": " + ps.Streams.Error[0] : "")}.", g.Label);
            string S(string n) => info.Properties[n]?.Value?.ToString() ?? "";
            var loaded = S("Loaded");
            var avail = S("Available");
            var firstPath = S("ModulePath").Split(':', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault() ?? "<a folder of $env:PSModulePath>";
            var copy = $"Copy the module there over the session: Copy-Item -ToSession $session -Recurse -Path (Get-Module ChaosPS).ModuleBase -Destination '{firstPath}/ChaosPS/{version}'";
            if (loaded.Length == 0)
                throw new ChaosException("ChaosPS.RemoteModuleMissing", ChaosErrorCategory.NotInstalled,
                    $"Start-LoadTest: host '{g.Label}' does not have ChaosPS {version}" +
                    (avail.Length > 0 ? $" (it has: {avail})" : " (no ChaosPS in its $env:PSModulePath)") +
                    (S("ImportError") is { Length: > 0 } ie ? $"; importing it failed: {ie}" : "") + ".", g.Label, copy);
            if (loaded != version)
                throw new ChaosException("ChaosPS.RemoteModuleVersionMismatch", ChaosErrorCategory.InvalidOperation,
                    $"Start-LoadTest: host '{g.Label}' has ChaosPS {loaded} loaded (from {S("LoadedFrom")}); this machine runs {version}. Every generator must run the same version.",
                    g.Label, "Remove the other version from that session (Remove-Module ChaosPS) or open a new session; " + copy);
            if (!string.Equals(S("HasStartLoadTest"), "True", StringComparison.OrdinalIgnoreCase))
                throw new ChaosException("ChaosPS.RemoteModuleMissing", ChaosErrorCategory.NotInstalled,
                    $"Start-LoadTest: host '{g.Label}' loaded ChaosPS {loaded} from {S("LoadedFrom")} but it has no Start-LoadTest.", g.Label, copy);
            g.Out.ModuleVersion = loaded;
        }
        // Clock offset: the host's UtcNow against the middle of the round trip; the fastest of three probes.
        TimeSpan best = TimeSpan.MaxValue, offset = TimeSpan.Zero;
        for (int i = 0; i < 3; i++)
        {
            using var ps = PowerShell.Create();
            ps.Runspace = rs;
            ps.AddScript("[datetime]::UtcNow.Ticks");
            var t0 = DateTime.UtcNow;
            var r = ps.Invoke();
            var t1 = DateTime.UtcNow;
            if (r.Count == 0) continue;
            var remote = new DateTime(Convert.ToInt64(r[0].BaseObject, CultureInfo.InvariantCulture), DateTimeKind.Utc);
            if (t1 - t0 < best) { best = t1 - t0; offset = remote - (t0 + (t1 - t0) / 2); }
        }
        if (best == TimeSpan.MaxValue)
            throw new ChaosException("ChaosPS.RemoteHostFailed", ChaosErrorCategory.InvalidResult, $"Start-LoadTest: host '{g.Label}' did not tell its time.", g.Label);
        if (offset.Duration() > MaxClockOffset)
            throw new ChaosException("ChaosPS.RemoteClockSkew", ChaosErrorCategory.InvalidOperation,
                $"Start-LoadTest: host '{g.Label}' has a clock {offset.TotalSeconds:0.0} s off this machine's (more than {MaxClockOffset.TotalSeconds:0} s); its per-second figures would not line up.",
                g.Label, "Synchronise the host's clock (chrony/systemd-timesyncd) and try again.");
        g.Out.ClockOffset = offset;
        g.Out.RoundTrip = best;
    }

    /// <summary>Starts every host at one instant, waits (progress forwarded; Ctrl+C stops every host), and merges.</summary>
    public LoadTestResult Run(Func<Gen, Hashtable> parametersOf, string name, IReadOnlyList<string> thresholds, TimeSpan? deadlineAfterStart)
    {
        var lead = TimeSpan.FromMilliseconds(Math.Max(300, 4 * _gens.Max(g => g.Out.RoundTrip.TotalMilliseconds)));
        var startAt = DateTime.UtcNow + lead;
        var progress = new ConcurrentQueue<(int Index, ProgressRecord Record)>();
        try
        {
            for (int i = 0; i < _gens.Count; i++)
            {
                var g = _gens[i];
                int index = i;
                var ps = PowerShell.Create();
                ps.Runspace = g.Runspace;
                ps.AddScript(RunScript).AddArgument((startAt + g.Out.ClockOffset).Ticks).AddArgument(parametersOf(g));
                ps.Streams.Progress.DataAdded += (_, e) =>
                {
                    if (ps.Streams.Progress[e.Index] is { } rec) progress.Enqueue((index, rec));
                };
                g.Ps = ps;
                g.Output = new PSDataCollection<PSObject>();
                g.Async = ps.BeginInvoke<PSObject, PSObject>(null, g.Output);
            }
            var deadline = deadlineAfterStart is { } d ? startAt + d : DateTime.MaxValue;
            bool stopped = false;
            while (_gens.Any(g => !g.Async!.IsCompleted))
            {
                WaitHandle.WaitAny(_gens.Where(g => !g.Async!.IsCompleted).Select(g => g.Async!.AsyncWaitHandle).Take(60).ToArray(), 250);
                stopped |= !Forward(progress, startAt);
                if (_stop.IsCancellationRequested || stopped) { StopAll(); throw new PipelineStoppedException(); }
                if (DateTime.UtcNow > deadline)
                    foreach (var g in _gens.Where(g => !g.Async!.IsCompleted))
                    {
                        g.Out.Error = $"host '{g.Label}' did not finish its run within {(deadline - startAt).TotalSeconds:0} s of the start; stopped it.";
                        g.Out.Status = "Stopped";
                        try { g.Ps!.BeginStop(null, null); } catch (Exception) { }
                    }
            }
            Forward(progress, startAt);
            foreach (var g in _gens) Collect(g);
        }
        finally
        {
            foreach (var g in _gens)
            {
                if (g.Async is { IsCompleted: false }) { try { g.Ps!.Stop(); } catch (Exception) { } }
                g.Ps?.Dispose();
            }
        }
        try { _cmdlet.WriteProgress(new ProgressRecord(1, $"Start-LoadTest {name}", "done") { RecordType = ProgressRecordType.Completed }); } catch (PipelineStoppedException) { }

        var done = _gens.Where(g => g.Out.Status == "Completed").ToList();
        foreach (var g in _gens.Where(g => g.Out.Status != "Completed"))
            _cmdlet.WriteError(ChaosCmdlet.ToErrorRecord(new ChaosException("ChaosPS.RemoteHostFailed", ChaosErrorCategory.ConnectionError,
                $"Start-LoadTest: generator host '{g.Label}' failed: {g.Out.Error}" + (done.Count > 0 ? " The result covers the other hosts only (Partial)." : ""), g.Out,
                "See the host's entry in the result's Hosts; the other hosts' figures are kept.")));
        if (done.Count == 0)
            throw new ChaosException("ChaosPS.AllHostsFailed", ChaosErrorCategory.ConnectionError,
                $"Start-LoadTest: no generator host completed its run ({string.Join("; ", _gens.Select(g => $"{g.Label}: {g.Out.Error}"))}).", _gens.Select(g => g.Out).ToList());
        var merged = LoadResultMerge.Merge(done.Select(g => g.Out.Result!).ToList(), thresholds, name);
        merged.Partial = done.Count < _gens.Count;
        merged.Hosts = _gens.Select(g => g.Out).ToList();
        // A partial run is missing evidence: it never passes, whatever its thresholds say about the hosts that finished.
        if (merged.Partial) { merged.Passed = false; merged.Verdict = "Failed"; }
        if (merged.Partial)
            merged.Generator.Notes = (merged.Generator.Notes == "ok" ? "" : merged.Generator.Notes + "; ") +
                $"PARTIAL: {_gens.Count - done.Count} of {_gens.Count} hosts failed ({string.Join(", ", _gens.Where(g => g.Out.Status != "Completed").Select(g => g.Label))})";
        return merged;
    }

    private readonly Dictionary<int, ProgressRecord> _latest = [];

    private void StopAll()
    {
        var stops = _gens.Where(g => g.Async is { IsCompleted: false }).Select(g =>
        {
            try { return Task.Factory.FromAsync(g.Ps!.BeginStop(null, null), g.Ps.EndStop); } catch (Exception) { return Task.CompletedTask; }
        }).ToArray();
        try { Task.WaitAll(stops, TimeSpan.FromSeconds(15)); } catch (AggregateException) { }
        try { _cmdlet.Host.UI.WriteLine($"Start-LoadTest stopped on {_gens.Count} host(s): {string.Join(", ", _gens.Select(g => g.Label))}."); } catch (Exception) { }
    }

    /// <summary>Writes queued per-host progress under one parent record; false when the pipeline was stopped.</summary>
    private bool Forward(ConcurrentQueue<(int Index, ProgressRecord Record)> q, DateTime startAt)
    {
        try
        {
            var last = new Dictionary<int, ProgressRecord>();
            while (q.TryDequeue(out var x)) last[x.Index] = _latest[x.Index] = x.Record;
            if (last.Count == 0) return true;
            int doneHosts = _gens.Count(g => g.Async!.IsCompleted);
            // Combined figures from each host's latest status line ("... | N req/s | p95 X ms | errors N (...)"): req/s and
            // errors add up; the p95 shown is the worst host's (the exact merged one comes with the result).
            double rps = 0, worstP95 = 0; long errors = 0;
            foreach (var r in _latest.Values)
            {
                var text = r.StatusDescription ?? "";
                if (System.Text.RegularExpressions.Regex.Match(text, @"(\d+) req/s") is { Success: true } m1) rps += double.Parse(m1.Groups[1].Value, CultureInfo.InvariantCulture);
                if (System.Text.RegularExpressions.Regex.Match(text, @"p95 ([\d.]+) ms") is { Success: true } m2) worstP95 = Math.Max(worstP95, double.Parse(m2.Groups[1].Value, CultureInfo.InvariantCulture));
                if (System.Text.RegularExpressions.Regex.Match(text, @"errors (\d+)") is { Success: true } m3) errors += long.Parse(m3.Groups[1].Value, CultureInfo.InvariantCulture);
            }
            _cmdlet.WriteProgress(new ProgressRecord(1, $"Start-LoadTest on {_gens.Count} hosts",
                $"{(DateTime.UtcNow - startAt).TotalSeconds:0} s | {rps:0} req/s | worst host p95 {worstP95:0.##} ms | errors {errors} | {doneHosts} of {_gens.Count} hosts done"));
            foreach (var (i, r) in last)
                _cmdlet.WriteProgress(new ProgressRecord(10 + i, $"{_gens[i].Label}: {r.Activity}", string.IsNullOrEmpty(r.StatusDescription) ? "running" : r.StatusDescription)
                { ParentActivityId = 1, PercentComplete = r.PercentComplete, SecondsRemaining = r.SecondsRemaining, RecordType = r.RecordType });
            return true;
        }
        catch (PipelineStoppedException) { return false; }
    }

    private void Collect(Gen g)
    {
        var o = g.Out;
        o.HostName = g.Label;
        o.SessionId = g.SessionId;
        Exception? failure = null;
        try { g.Ps!.EndInvoke(g.Async!); }
        catch (Exception e) { failure = e; }
        var result = g.Output!.FirstOrDefault(p => p?.Properties["MergeState"]?.Value is string { Length: > 0 });
        var errors = g.Ps!.Streams.Error.Where(e => !(e.FullyQualifiedErrorId ?? "").StartsWith("ChaosPS.ThresholdsFailed", StringComparison.Ordinal)).ToList();
        if (o.Status == "Stopped") { o.Result = null; return; }
        if (result is null || failure is not null && g.Runspace!.RunspaceStateInfo.State != RunspaceState.Opened)
        {
            o.Status = "Failed";
            var state = g.Runspace!.RunspaceStateInfo;
            o.Error = failure?.GetBaseException().Message ?? (errors.Count > 0 ? errors[0].ToString() : null) ?? "it returned no result";
            if (state.State != RunspaceState.Opened) o.Error = $"the session broke ({state.State}{(state.Reason is null ? "" : ": " + state.Reason.Message)}); {o.Error}";
            return;
        }
        foreach (var e in errors)
            _cmdlet.WriteWarning($"Start-LoadTest: host '{g.Label}': {e}");
        LoadTestResult r;
        try { r = LoadResultInput.From(result); }
        catch (ChaosException e) { o.Status = "Failed"; o.Error = e.Message; return; }
        o.Status = "Completed";
        o.Result = r;
        o.Requests = r.Requests; o.Failed = r.Failed; o.RequestsPerSecond = r.RequestsPerSecond;
        o.ErrorsByKind = r.ErrorsByKind; o.Latency = r.Latency; o.Generator = r.Generator;
        if (r.StartTime != default) o.StartLatency = (DateTime.SpecifyKind(r.StartTime, DateTimeKind.Utc) - o.ClockOffset) - _called;
    }

    /// <summary>Splits an integer total by weights (largest remainder); every share at least <paramref name="min"/> or null when impossible.</summary>
    public static long[]? Split(long total, double[] fractions, long min)
    {
        var exact = fractions.Select(f => total * f).ToArray();
        var shares = exact.Select(x => (long)Math.Floor(x)).ToArray();
        long left = total - shares.Sum();
        foreach (var i in Enumerable.Range(0, shares.Length).OrderByDescending(i => exact[i] - shares[i]).Take((int)left)) shares[i]++;
        return shares.Any(s => s < min) ? null : shares;
    }
}
