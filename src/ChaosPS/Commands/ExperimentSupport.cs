using System.Collections;
using System.Collections.ObjectModel;
using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Language;
using System.Management.Automation.Runspaces;
using System.Text.Json;
using System.Text.Json.Nodes;
using ChaosPS.Experiments;

namespace ChaosPS.Commands;

/// <summary>Reads experiment files and hashtables into the engine's JSON model, and builds the provider set.</summary>
internal static class ExperimentInput
{
    /// <summary>Reads a .json or .psd1 experiment file; returns the raw document and its format.</summary>
    public static (JsonObject Doc, string Format) ReadFile(PSCmdlet cmdlet, string path)
    {
        if (!File.Exists(path))
            throw new ExperimentException(new ExperimentIssue(ExperimentException.Ids.NotFound, ChaosErrorCategory.ObjectNotFound, path, "$", "the file does not exist"));
        if (path.EndsWith(".psd1", StringComparison.OrdinalIgnoreCase))
        {
            Collection<PSObject> data;
            try
            {
                data = cmdlet.InvokeCommand.InvokeScript("param($p) Microsoft.PowerShell.Utility\\Import-PowerShellDataFile -LiteralPath $p", true,
                    PipelineResultTypes.None, null, path);
            }
            catch (RuntimeException e)
            {
                throw new ExperimentException(new ExperimentIssue(ExperimentException.Ids.InvalidJson, ChaosErrorCategory.InvalidData, path, "$",
                    $"not a valid PowerShell data file: {e.Message}"));
            }
            if (data.Count != 1 || data[0]?.BaseObject is not IDictionary)
                throw new ExperimentException(new ExperimentIssue(ExperimentException.Ids.Invalid, ChaosErrorCategory.InvalidData, path, "$", "expected one hashtable (an experiment)"));
            return ((JsonObject)ToNode(data[0])!, "psd1");
        }
        return (ExperimentLoader.ReadJsonFile(path), "json");
    }

    /// <summary>A hashtable (or any PowerShell value) as JSON. Script blocks become their text (powershell provider).</summary>
    public static JsonNode? ToNode(object? value)
    {
        value = value is PSObject pso ? pso.BaseObject : value;
        switch (value)
        {
            case null: return null;
            case ScriptBlock sb:
                // A script block read from a .psd1 keeps its braces in its text; the provider runs the body.
                string text = sb.ToString().Trim();
                return JsonValue.Create(text.Length >= 2 && text[0] == '{' && text[^1] == '}' ? text[1..^1] : text);
            case IDictionary d:
                var o = new JsonObject();
                foreach (DictionaryEntry kv in d) o[Convert.ToString(kv.Key is PSObject kp ? kp.BaseObject : kv.Key, CultureInfo.InvariantCulture) ?? ""] = ToNode(kv.Value);
                return o;
            case string or ValueType or JsonNode: return JsonConvertible.ToNode(value);
            case IEnumerable e:
                var a = new JsonArray();
                foreach (var item in e) a.Add(ToNode(item));
                return a;
            default: return JsonConvertible.ToNode(value);
        }
    }

    public static Dictionary<string, object?>? Overrides(Hashtable? h)
    {
        if (h is null) return null;
        var d = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (DictionaryEntry kv in h) d[kv.Key.ToString()!] = ToNode(kv.Value);
        return d;
    }

    public static Dictionary<string, IActivityProvider> Providers(PSCmdlet cmdlet, PowerShellHost host)
    {
        var all = ExperimentRunner.BuiltIn();
        var module = cmdlet.MyInvocation.MyCommand.Module;
        var cmdlets = new Dictionary<string, CommandInfo>(StringComparer.OrdinalIgnoreCase);
        if (module is not null)
            foreach (var (name, info) in module.ExportedCmdlets) cmdlets[name] = info;
        all["chaosps"] = new ChaosPsProvider(host, cmdlets);
        all["powershell"] = new PowerShellScriptProvider(host);
        return all;
    }

    /// <summary>-Session: host name → open PSSession (New-PSSession -HostName ...). A value that is not a session is refused.</summary>
    public static Dictionary<string, PSSession> Sessions(Hashtable? h)
    {
        var d = new Dictionary<string, PSSession>(StringComparer.OrdinalIgnoreCase);
        if (h is null) return d;
        foreach (DictionaryEntry kv in h)
        {
            string name = Convert.ToString(kv.Key is PSObject kp ? kp.BaseObject : kv.Key, CultureInfo.InvariantCulture) ?? "";
            var value = kv.Value is PSObject vp ? vp.BaseObject : kv.Value;
            if (name.Length == 0 || value is not PSSession session)
                throw ChaosException.InvalidArgument("ChaosPS.InvalidExperimentSession",
                    $"-Session: '{name}' maps to {(value is null ? "nothing" : value.GetType().Name)}, not a PSSession; expected @{{ name = (New-PSSession -HostName ...) }}", name,
                    "Give a hashtable of host name = open PSSession; an activity's provider names one with host = 'name'.");
            d[name] = session;
        }
        return d;
    }

    public static ErrorRecord ToErrorRecord(ExperimentException e, ExperimentIssue issue)
        => ChaosCmdlet.ToErrorRecord(new ChaosException(issue.ErrorId, issue.Category, issue.ToString(), issue.Source, e.RecommendedAction));
}

/// <summary>
/// A runspace pool that imports this module, where the chaosps and powershell providers run their commands (from
/// the engine's worker threads, in parallel for background activities). Opened on first use.
/// </summary>
internal sealed class PowerShellHost(string modulePath, string workingDirectory, IReadOnlyDictionary<string, PSSession>? sessions = null) : IDisposable
{
    /// <summary>The caller's current folder: scripts of the powershell provider start there.</summary>
    public string WorkingDirectory { get; } = workingDirectory;

    /// <summary>Named hosts (Invoke-ChaosExperiment -Session): an activity whose provider says host = 'name' runs there.</summary>
    public IReadOnlyDictionary<string, PSSession> Sessions { get; } = sessions ?? new Dictionary<string, PSSession>(StringComparer.OrdinalIgnoreCase);

    /// <summary>The error id of an activity that names a host -Session does not give.</summary>
    public const string UnknownHostId = "ChaosPS.UnknownExperimentHost";

    /// <summary>Checks a provider's 'host' (one name) and 'sessions' (names; Start-LoadTest only) against -Session.</summary>
    public void ValidateHosts(JsonObject p, string path, ExperimentValidation v, bool allowSessions)
    {
        string activity = p.Parent is JsonObject a ? a["name"]?.ToString() ?? "?" : "?";
        string known = Sessions.Count == 0 ? "-Session gives no hosts" : "-Session names " + string.Join(", ", Sessions.Keys.Order(StringComparer.OrdinalIgnoreCase));
        if (p["host"] is { } h)
        {
            if (h.GetValueKind() != JsonValueKind.String || h.ToString().Length == 0)
                v.Add(ExperimentException.Ids.Invalid, path + ".host", $"activity '{activity}': expected 'host': the name of a host given by Invoke-ChaosExperiment -Session");
            else if (!Sessions.ContainsKey(h.ToString()))
                v.Add(UnknownHostId, path + ".host", $"activity '{activity}' names host '{h}', which is not known ({known})", ChaosErrorCategory.ObjectNotFound);
        }
        if (p["sessions"] is { } ss)
        {
            if (!allowSessions) { v.Add(ExperimentException.Ids.Invalid, path + ".sessions", $"activity '{activity}': 'sessions' is for a chaosps Start-LoadTest activity (the load over several hosts); use 'host' to run an activity on one host"); return; }
            if (p["host"] is not null) v.Add(ExperimentException.Ids.Invalid, path + ".sessions", $"activity '{activity}': give 'host' or 'sessions', not both");
            if (ss is not JsonArray arr || arr.Count == 0 || arr.Any(x => x is null || x.GetValueKind() != JsonValueKind.String))
                v.Add(ExperimentException.Ids.Invalid, path + ".sessions", $"activity '{activity}': expected 'sessions': a list of host names given by Invoke-ChaosExperiment -Session");
            else foreach (var x in arr)
                    if (!Sessions.ContainsKey(x!.ToString()))
                        v.Add(UnknownHostId, path + ".sessions", $"activity '{activity}' names host '{x}', which is not known ({known})", ChaosErrorCategory.ObjectNotFound);
        }
    }

    private readonly Dictionary<string, SemaphoreSlim> _hostGates = new(StringComparer.OrdinalIgnoreCase);
    private readonly HashSet<string> _checked = new(StringComparer.OrdinalIgnoreCase);
    private readonly string _version = typeof(PowerShellHost).Assembly.GetName().Version!.ToString(3);

    /// <summary>
    /// Runs a script on a named host through its session (one pipeline at a time per session), after checking once that
    /// the host has this ChaosPS version loaded (it is imported there if it is in the host's module path). Output comes
    /// back deserialized; errors fail the activity unless they are a verdict (as in <see cref="InvokeAsync"/>).
    /// </summary>
    public async Task<List<PSObject>> InvokeRemoteAsync(string hostName, string script, object?[] args, CancellationToken ct, string what)
    {
        var session = Sessions[hostName];
        SemaphoreSlim gate;
        lock (_gate) { if (!_hostGates.TryGetValue(hostName, out gate!)) _hostGates[hostName] = gate = new SemaphoreSlim(1, 1); }
        await gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var rs = session.Runspace;
            if (rs.RunspaceStateInfo.State != RunspaceState.Opened)
                throw new ActivityFailedException($"{what}: ChaosPS.RemoteSessionNotOpen: the session to host '{hostName}' ({session.ComputerName}) is {rs.RunspaceStateInfo.State}, not Opened");
            bool check;
            lock (_gate) check = !_checked.Contains(hostName);
            if (check)
            {
                var info = (await RunOn(rs, RemoteLoad.CheckScript, [_version], ct, what, hostName).ConfigureAwait(false)).FirstOrDefault();
                string S(string n) => info?.Properties[n]?.Value?.ToString() ?? "";
                if (S("Loaded").Length == 0)
                    throw new ActivityFailedException($"{what}: ChaosPS.RemoteModuleMissing: host '{hostName}' does not have ChaosPS {_version}"
                        + (S("Available") is { Length: > 0 } av ? $" (it has: {av})" : "") + (S("ImportError") is { Length: > 0 } ie ? $"; importing it failed: {ie}" : "")
                        + "; copy it there: Copy-Item -ToSession $session -Recurse -Path (Get-Module ChaosPS).ModuleBase -Destination <a folder of its $env:PSModulePath>/ChaosPS/" + _version);
                if (S("Loaded") != _version)
                    throw new ActivityFailedException($"{what}: ChaosPS.RemoteModuleVersionMismatch: host '{hostName}' has ChaosPS {S("Loaded")} loaded; this machine runs {_version}");
                // The faults this session already owns are not the experiment's: only newer ones are restored at the end.
                await RunOn(rs, "$global:ChaosPSExperimentBaseline = @(ChaosPS\\Get-ChaosFault | Where-Object OwnerPid -eq $PID | ForEach-Object Id)", [], ct, what, hostName).ConfigureAwait(false);
                lock (_gate) _checked.Add(hostName);
            }
            return await RunOn(rs, script, args, ct, what, hostName).ConfigureAwait(false);
        }
        finally { gate.Release(); }
    }

    // Restores the faults this session's pwsh owns on its host that were not there before the experiment used it.
    private const string RestoreScript = """
        $base = @($global:ChaosPSExperimentBaseline)
        foreach ($f in @(ChaosPS\Get-ChaosFault | Where-Object { $_.OwnerPid -eq $PID -and $_.Id -notin $base })) {
            $ok = $true
            try { ChaosPS\Restore-ChaosFault -Id $f.Id -Confirm:$false -ErrorAction Stop | Out-Null } catch { $ok = $false }
            [pscustomobject]@{ Id = "$($f.Id)"; Kind = "$($f.Kind)"; Target = "$($f.Target)"; Start = $f.CreatedAt.UtcDateTime; Restored = $ok }
        }
        """;

    /// <summary>At the end of a run: what activities left in the ledgers of the hosts they ran on, restored there.</summary>
    public async Task<IReadOnlyList<ExperimentFault>> RestoreRemoteAsync()
    {
        List<string> used;
        lock (_gate) used = [.. _checked];
        var found = new List<ExperimentFault>();
        foreach (var h in used)
        {
            var rs = Sessions[h].Runspace;
            if (rs.RunspaceStateInfo.State != RunspaceState.Opened)
            {
                // The session is gone: the host's pwsh undoes its faults on exit, or its watchdog does.
                found.Add(new ExperimentFault { Id = "?", Kind = "remote", Target = $"host '{h}': session {rs.RunspaceStateInfo.State}; its faults are left to that host's watchdog", Start = DateTimeOffset.UtcNow, End = DateTimeOffset.UtcNow, Restored = true });
                continue;
            }
            using var cap = new CancellationTokenSource(TimeSpan.FromMinutes(2));
            var gate = _hostGates[h];
            await gate.WaitAsync(cap.Token).ConfigureAwait(false);
            try
            {
                foreach (var o in await RunOn(rs, RestoreScript, [], cap.Token, "restoring faults", h).ConfigureAwait(false))
                {
                    string S(string n) => o.Properties[n]?.Value?.ToString() ?? "";
                    found.Add(new ExperimentFault
                    {
                        Id = S("Id"), Kind = S("Kind"), Target = $"{S("Target")} on host '{h}'", Activity = "",
                        Start = o.Properties["Start"]?.Value is DateTime dt ? new DateTimeOffset(dt.ToUniversalTime()) : DateTimeOffset.UtcNow,
                        End = DateTimeOffset.UtcNow, Restored = string.Equals(S("Restored"), "True", StringComparison.OrdinalIgnoreCase),
                    });
                }
            }
            finally { gate.Release(); }
        }
        return found;
    }

    private static async Task<List<PSObject>> RunOn(Runspace rs, string script, object?[] args, CancellationToken ct, string what, string hostName)
    {
        using var ps = PowerShell.Create();
        ps.Runspace = rs;
        ps.AddScript(script);
        foreach (var a in args) ps.AddArgument(a);
        var outData = new PSDataCollection<PSObject>();
        using var reg = ct.Register(() => { try { ps.BeginStop(null, null); } catch (Exception) { } });
        try
        {
            var ar = ps.BeginInvoke<PSObject, PSObject>(null, outData);
            await Task.Factory.FromAsync(ar, ps.EndInvoke).ConfigureAwait(false);
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is PipelineStoppedException or OperationCanceledException)
        {
            throw new OperationCanceledException(ct);
        }
        catch (Exception e) when (e is RuntimeException or System.Management.Automation.Remoting.PSRemotingTransportException or InvalidRunspaceStateException)
        {
            string id = e is RuntimeException re ? re.ErrorRecord?.FullyQualifiedErrorId ?? "" : "ChaosPS.RemoteHostFailed";
            throw new ActivityFailedException($"{what} on host '{hostName}': {id}: {e.Message}", e);
        }
        ct.ThrowIfCancellationRequested();
        var failures = ps.Streams.Error.Where(r => !VerdictErrorIds.Any(id => r.FullyQualifiedErrorId.StartsWith(id + ",", StringComparison.Ordinal) || r.FullyQualifiedErrorId == id)).ToList();
        if (failures.Count > 0)
            throw new ActivityFailedException(string.Join(Environment.NewLine, failures.Select(r => $"{what} on host '{hostName}': {r.FullyQualifiedErrorId}: {r.Exception?.Message ?? r.ToString()}")));
        return outData.ToList();
    }

    /// <summary>
    /// A deserialized object (from a remote host) as plain values the journal and tolerances read like a local result:
    /// property bags become dictionaries, enums their names, lists lists.
    /// </summary>
    public static object? Plain(object? value, int depth = 0)
    {
        if (value is not PSObject o) return value is IDictionary or (IEnumerable and not string) && depth < 8 ? Plain(PSObject.AsPSObject(value), depth) : value;
        var b = o.BaseObject;
        if (depth >= 8) return o.ToString();
        if (o.TypeNames.Contains("Deserialized.System.Enum")) return o.ToString();
        switch (b)
        {
            case string or ValueType: return b;
            case IDictionary d:
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (DictionaryEntry kv in d) dict[Convert.ToString(kv.Key is PSObject kp ? kp.BaseObject : kv.Key, CultureInfo.InvariantCulture) ?? ""] = Plain(kv.Value, depth + 1);
                return dict;
            case IEnumerable e: return e.Cast<object?>().Select(x => Plain(x, depth + 1)).ToList();
            case PSCustomObject:
                var props = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var pp in o.Properties)
                {
                    if (pp.MemberType is not (PSMemberTypes.NoteProperty or PSMemberTypes.Property)) continue;
                    object? pv;
                    try { pv = pp.Value; } catch (Exception) { continue; }
                    props[pp.Name] = Plain(pv, depth + 1);
                }
                return props;
            default: return b;
        }
    }

    private RunspacePool? _pool;
    private readonly object _gate = new();

    private RunspacePool Pool
    {
        get
        {
            lock (_gate)
            {
                if (_pool is not null) return _pool;
                var iss = InitialSessionState.CreateDefault2();
                iss.ImportPSModule([modulePath]);
                iss.Variables.Add(new SessionStateVariableEntry("ErrorActionPreference", ActionPreference.Continue, ""));
                var pool = RunspaceFactory.CreateRunspacePool(iss);
                pool.SetMaxRunspaces(8);
                pool.Open();
                _pool = pool;
                return pool;
            }
        }
    }

    /// <summary>The error ids ChaosPS cmdlets write for a measured verdict (the result object is their TargetObject).</summary>
    internal static readonly string[] VerdictErrorIds = ["ChaosPS.ThresholdsFailed", "ChaosPS.NotGraceful", "ChaosPS.DegradationInconclusive", "ChaosPS.NotRecovered"];

    /// <summary>Opens the pool now, on the calling (pipeline) thread.</summary>
    public void Open() => _ = Pool;

    /// <summary>Runs commands built by <paramref name="build"/> with <paramref name="input"/> piped in; errors fail the activity.</summary>
    public async Task<List<PSObject>> InvokeAsync(Action<PowerShell> build, IEnumerable<object>? input, CancellationToken ct, string what)
    {
        using var ps = PowerShell.Create();
        ps.RunspacePool = Pool;
        build(ps);
        var inData = new PSDataCollection<object>();
        foreach (var i in input ?? []) inData.Add(i);
        inData.Complete();
        var outData = new PSDataCollection<PSObject>();
        using var reg = ct.Register(() => { try { ps.BeginStop(null, null); } catch (Exception) { } });
        try
        {
            var ar = ps.BeginInvoke(inData, outData);
            await Task.Factory.FromAsync(ar, ps.EndInvoke).ConfigureAwait(false);
        }
        catch (Exception e) when (ct.IsCancellationRequested && e is PipelineStoppedException or OperationCanceledException)
        {
            throw new OperationCanceledException(ct);
        }
        catch (RuntimeException e)
        {
            throw new ActivityFailedException($"{what}: {e.ErrorRecord?.FullyQualifiedErrorId}: {e.Message}", e);
        }
        ct.ThrowIfCancellationRequested();
        // An error record about a command's own result (Start-LoadTest's failed thresholds, Test-GracefulDegradation's
        // NotGraceful or Inconclusive, Wait-ChaosRecovery's NotRecovered) is a verdict for the tolerance to judge, not a
        // failure of the activity: also when a script judged that result itself and wrote an object of its own.
        var results = outData.Select(o => o.BaseObject).ToList();
        var failures = ps.Streams.Error.Where(r =>
        {
            var target = r.TargetObject is PSObject tp ? tp.BaseObject : r.TargetObject;
            return !(target is not null && results.Any(o => ReferenceEquals(o, target)))
                && !VerdictErrorIds.Any(id => r.FullyQualifiedErrorId.StartsWith(id + ",", StringComparison.Ordinal) || r.FullyQualifiedErrorId == id);
        }).ToList();
        if (failures.Count > 0)
            throw new ActivityFailedException(string.Join(Environment.NewLine, failures.Select(r => $"{what}: {r.FullyQualifiedErrorId}: {r.Exception?.Message ?? r.ToString()}")));
        return outData.ToList();
    }

    public void Dispose()
    {
        lock (_gate) { _pool?.Dispose(); _pool = null; }
    }
}

/// <summary>
/// The chaosps provider: {type: "chaosps", cmdlet: "Invoke-WorkerCrash", target: {Get-ChaosTarget parameters}, arguments: {...}}.
/// The target selector is resolved with Get-ChaosTarget and piped in; duration parameters are multiplied by -Scale;
/// -Confirm:$false is passed to cmdlets that ask. The cmdlets ledger their own faults, so a killed run is undone by the watchdog.
/// </summary>
internal sealed class ChaosPsProvider(PowerShellHost host, IReadOnlyDictionary<string, CommandInfo> cmdlets) : IActivityProvider
{
    public string Type => "chaosps";

    public void Validate(JsonObject p, string path, ExperimentValidation v)
    {
        string? name = p["cmdlet"]?.ToString();
        host.ValidateHosts(p, path, v, allowSessions: string.Equals(name, "Start-LoadTest", StringComparison.OrdinalIgnoreCase));
        if (string.IsNullOrEmpty(name)) { v.Add(ExperimentException.Ids.MissingField, path + ".cmdlet", "expected 'cmdlet': the name of a ChaosPS cmdlet, e.g. Invoke-WorkerCrash"); return; }
        if (!cmdlets.TryGetValue(name, out var info))
        {
            v.Add(ExperimentException.Ids.UnknownCmdlet, path + ".cmdlet", $"'{name}' is not a ChaosPS cmdlet: expected one of {string.Join(", ", cmdlets.Keys.Order())}");
            return;
        }
        if (name.EndsWith("-ChaosExperiment", StringComparison.OrdinalIgnoreCase))
            v.Add(ExperimentException.Ids.UnknownCmdlet, path + ".cmdlet", $"'{name}' cannot run inside an experiment");
        if (p["arguments"] is { } args)
        {
            if (args is not JsonObject ao) v.Add(ExperimentException.Ids.Invalid, path + ".arguments", $"expected an object of {name}'s parameter: value");
            else foreach (var (k, _) in ao)
                    if (Find(info, k) is null) v.Add(ExperimentException.Ids.Invalid, $"{path}.arguments.{k}", $"{name} has no parameter '{k}'");
        }
        if (p["input"] is { } inp && (inp.GetValueKind() != JsonValueKind.String || inp.ToString().Length == 0))
            v.Add(ExperimentException.Ids.Invalid, path + ".input", "expected the name of an earlier activity whose output is piped into the cmdlet");
        if (p["input"] is not null && p["target"] is not null)
            v.Add(ExperimentException.Ids.Invalid, path + ".input", "give 'target' or 'input', not both");
        if (p["target"] is { } target)
        {
            if (target is not JsonObject to) { v.Add(ExperimentException.Ids.Invalid, path + ".target", "expected a Get-ChaosTarget selector, e.g. {\"label\": \"app=web\", \"percent\": 50}"); return; }
            if (!cmdlets.TryGetValue("Get-ChaosTarget", out var gct)) return;
            foreach (var (k, _) in to)
                if (Find(gct, k) is null) v.Add(ExperimentException.Ids.Invalid, $"{path}.target.{k}", $"Get-ChaosTarget has no parameter '{k}' (selectors use its parameters: name, id, commandLine, regex, port, label, kind, count, percent, seed)");
            if (!info.Parameters.ContainsKey("Target"))
                v.Add(ExperimentException.Ids.Invalid, path + ".target", $"{name} takes no targets");
        }
    }

    private static ParameterMetadata? Find(CommandInfo info, string name)
    {
        if (info.Parameters.TryGetValue(name, out var m)) return m;
        return info.Parameters.Values.FirstOrDefault(pm => pm.Aliases.Contains(name, StringComparer.OrdinalIgnoreCase));
    }

    public async Task<string> PlanAsync(JsonObject p, string path, CancellationToken ct)
    {
        string name = p["cmdlet"]!.ToString();
        var relaxed = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        string args = p["arguments"] is JsonObject ao ? string.Join(' ', ao.Select(kv => $"-{kv.Key} {kv.Value?.ToJsonString(relaxed)}")) : "";
        if (p["input"]?.ToString() is { } from) args += $" (piped: the output of '{from}')";
        if (p["sessions"] is JsonArray hosts) args += $" -Session {string.Join(", ", hosts)}";
        if (p["host"]?.ToString() is { } onHost)
            return ($"on host '{onHost}': {name} {args}" + (p["target"] is JsonObject rsel ? $" on targets selected there by {rsel.ToJsonString(relaxed)}" : "")).Replace("  ", " ").TrimEnd();
        if (p["target"] is not JsonObject sel) return $"{name} {args}".TrimEnd();
        var targets = await ResolveAsync(sel, ct, name).ConfigureAwait(false);
        if (targets.Count == 0)
            throw new ExperimentException(new ExperimentIssue(ExperimentException.Ids.TargetNotFound, ChaosErrorCategory.ObjectNotFound, "", path + ".target",
                $"the selector {sel.ToJsonString()} matches no process or container (Get-ChaosTarget found nothing)"));
        return $"{name} {args} on targets selected by {sel.ToJsonString(relaxed)}, now {targets.Count}: {string.Join(", ", targets.Select(t => t.ToString()))}".Replace("  ", " ");
    }

    private Task<List<PSObject>> ResolveAsync(JsonObject sel, CancellationToken ct, string what)
        => host.InvokeAsync(ps =>
        {
            ps.AddCommand("ChaosPS\\Get-ChaosTarget");
            foreach (var (k, v) in sel) ps.AddParameter(k, Plain(v));
        }, null, ct, $"{what}: Get-ChaosTarget");

    public async Task<object?> RunAsync(ActivityCall call, CancellationToken ct)
    {
        var p = call.Provider;
        string name = p["cmdlet"]!.ToString();
        var info = cmdlets[name];
        if (p["host"]?.ToString() is { } onHost) return await RunRemoteAsync(call, name, info, onHost, ct).ConfigureAwait(false);
        List<object>? input = null;
        if (p["input"]?.ToString() is { } from)
        {
            var (found, value) = call.OutputOf(from);
            if (!found) throw new ActivityFailedException($"{name}: 'input' names '{from}', but no activity of that name has succeeded before this one");
            input = value is System.Collections.IList list ? list.Cast<object>().ToList() : value is null ? [] : [value];
        }
        List<PSObject>? targets = null;
        if (p["target"] is JsonObject sel)
        {
            targets = await ResolveAsync(sel, ct, name).ConfigureAwait(false);
            if (targets.Count == 0) throw new ActivityFailedException($"{name}: the selector {sel.ToJsonString()} matches no process or container now");
        }
        var output = await host.InvokeAsync(ps =>
        {
            ps.AddCommand("ChaosPS\\" + name);
            if (p["arguments"] is JsonObject ao)
                foreach (var (k, v) in ao)
                {
                    var meta = Find(info, k)!;
                    object? value = Scaled(name, meta, Plain(v), call.Scale);
                    // A script-block parameter (e.g. Test-GracefulDegradation -Stress) takes its text from JSON.
                    if (meta.ParameterType == typeof(ScriptBlock) && value is string text) value = ScriptBlock.Create(text);
                    ps.AddParameter(meta.Name, value);
                }
            if (info.Parameters.ContainsKey("Confirm") && p["arguments"]?["Confirm"] is null && p["arguments"]?["confirm"] is null) ps.AddParameter("Confirm", false);
            // The background load over several named hosts: Start-LoadTest -Session merges their results into one.
            if (p["sessions"] is JsonArray hosts) ps.AddParameter("Session", hosts.Select(h => host.Sessions[h!.ToString()]).ToArray());
        }, targets?.Cast<object>() ?? input, ct, name).ConfigureAwait(false);
        var objects = output.Select(o => o.BaseObject).ToList();
        return objects.Count switch { 0 => null, 1 => objects[0], _ => objects };
    }

    // Runs on the named host: the target selector is resolved there (its processes), the output of an earlier activity is
    // piped in, script-block parameters are rebuilt from their text, and the cmdlet ledgers its faults in that host's ledger.
    private const string RemoteScript = """
        param([string] $ChaosPSCmdlet, [hashtable] $ChaosPSArguments, [hashtable] $ChaosPSSelector, [string[]] $ChaosPSScriptParameters, $ChaosPSInput, [bool] $ChaosPSHasInput)
        foreach ($k in @($ChaosPSScriptParameters)) { if ($ChaosPSArguments[$k] -is [string]) { $ChaosPSArguments[$k] = [scriptblock]::Create($ChaosPSArguments[$k]) } }
        if ($ChaosPSSelector) {
            $t = @(ChaosPS\Get-ChaosTarget @ChaosPSSelector)
            if ($t.Count -eq 0) { throw "the selector matches no process or container on this host now" }
            $t | & "ChaosPS\$ChaosPSCmdlet" @ChaosPSArguments
        }
        elseif ($ChaosPSHasInput) { $ChaosPSInput | & "ChaosPS\$ChaosPSCmdlet" @ChaosPSArguments }
        else { & "ChaosPS\$ChaosPSCmdlet" @ChaosPSArguments }
        """;

    private async Task<object?> RunRemoteAsync(ActivityCall call, string name, CommandInfo info, string onHost, CancellationToken ct)
    {
        var p = call.Provider;
        var args = new Hashtable(StringComparer.OrdinalIgnoreCase);
        var scriptParams = new List<string>();
        if (p["arguments"] is JsonObject ao)
            foreach (var (k, v) in ao)
            {
                var meta = Find(info, k)!;
                args[meta.Name] = Scaled(name, meta, Plain(v), call.Scale);
                if (meta.ParameterType == typeof(ScriptBlock)) scriptParams.Add(meta.Name);
            }
        if (info.Parameters.ContainsKey("Confirm") && !args.ContainsKey("Confirm")) args["Confirm"] = false;
        object? input = null;
        bool hasInput = false;
        if (p["input"]?.ToString() is { } from)
        {
            var (found, value) = call.OutputOf(from);
            if (!found) throw new ActivityFailedException($"{name}: 'input' names '{from}', but no activity of that name has succeeded before this one");
            input = value; hasInput = true;
        }
        var selector = p["target"] is JsonObject sel ? (Hashtable?)Plain(sel) : null;
        var output = await host.InvokeRemoteAsync(onHost, RemoteScript, [name, args, selector, scriptParams.ToArray(), input, hasInput], ct, name).ConfigureAwait(false);
        var objects = output.Select(o => PowerShellHost.Plain(o)).ToList();
        return objects.Count switch { 0 => null, 1 => objects[0], _ => objects };
    }

    private static object? Plain(JsonNode? n)
    {
        var v = JsonConvertible.ToPlain(n);
        return v is Dictionary<string, object?> d ? new Hashtable(d, StringComparer.OrdinalIgnoreCase) : v;
    }

    /// <summary>Durations, -Stage and recovery windows are multiplied by -Scale (the rules: ExperimentScale).</summary>
    private static object? Scaled(string cmdlet, ParameterMetadata meta, object? value, double scale)
        => ExperimentScale.Argument(cmdlet, meta.Name, meta.ParameterType, value, scale);

    public bool ScalesWork(JsonObject provider) => true;
}

/// <summary>The powershell provider (psd1/hashtable experiments): {type: "powershell", script: "..." or { ... }, arguments: {...}}.
/// A script whose param block declares $Scale receives the run's -Scale.</summary>
internal sealed class PowerShellScriptProvider(PowerShellHost host) : IActivityProvider
{
    public string Type => "powershell";

    public void Validate(JsonObject p, string path, ExperimentValidation v)
    {
        if (v.Format == "json")
        {
            v.Add(ExperimentException.Ids.UnsupportedProvider, path + ".type", "the powershell provider is for .psd1 and hashtable experiments; a JSON experiment stays runnable by Chaos Toolkit (use process, http or chaosps)", ChaosErrorCategory.NotImplemented);
            return;
        }
        host.ValidateHosts(p, path, v, allowSessions: false);
        string? script = p["script"]?.ToString();
        if (string.IsNullOrWhiteSpace(script)) { v.Add(ExperimentException.Ids.MissingField, path + ".script", "expected 'script': a script block or its text"); return; }
        Parser.ParseInput(script, out _, out var errors);
        if (errors.Length > 0) v.Add(ExperimentException.Ids.Invalid, path + ".script", $"the script does not parse: {errors[0].Message} (line {errors[0].Extent.StartLineNumber})");
        if (p["arguments"] is { } a && a is not JsonObject) v.Add(ExperimentException.Ids.Invalid, path + ".arguments", "expected an object of parameter: value");
    }

    /// <summary>A script that declares a Scale parameter gets the run's -Scale (unless its arguments give one): its work is scaled.</summary>
    public bool ScalesWork(JsonObject p)
    {
        var sb = Parser.ParseInput(p["script"]?.ToString() ?? "", out _, out _);
        return sb.ParamBlock?.Parameters.Any(x => x.Name.VariablePath.UserPath.Equals("Scale", StringComparison.OrdinalIgnoreCase)) == true
            && !(p["arguments"] is JsonObject a0 && a0.Any(kv => kv.Key.Equals("Scale", StringComparison.OrdinalIgnoreCase)));
    }

    public Task<string> PlanAsync(JsonObject p, string path, CancellationToken ct)
    {
        string s = p["script"]!.ToString().Trim().ReplaceLineEndings(" ");
        return Task.FromResult((p["host"]?.ToString() is { } onHost ? $"on host '{onHost}': " : "") + "PowerShell { " + (s.Length > 80 ? s[..77] + "..." : s) + " }");
    }

    public async Task<object?> RunAsync(ActivityCall call, CancellationToken ct)
    {
        var p = call.Provider;
        string script = p["script"]!.ToString();
        // A script that declares a Scale parameter gets the run's -Scale (unless its arguments give one).
        bool wantsScale = ScalesWork(p);
        if (p["host"]?.ToString() is { } onHost)
        {
            // On the named host the script starts in the session's own folder; its output comes back deserialized.
            var remoteArgs = Arguments(p);
            if (wantsScale) remoteArgs["Scale"] = call.Scale;
            var remote = await host.InvokeRemoteAsync(onHost, "param($ChaosPSArguments)\n& {\n" + script + "\n} @ChaosPSArguments", [remoteArgs], ct, call.Name).ConfigureAwait(false);
            var plain = remote.Select(o => PowerShellHost.Plain(o)).ToList();
            return plain.Count switch { 0 => null, 1 => plain[0], _ => plain };
        }
        var output = await host.InvokeAsync(ps =>
        {
            // The script starts in the caller's current folder; its arguments are splatted (one pipeline: the pool needs that).
            ps.AddScript("param($ChaosPSArguments) Microsoft.PowerShell.Management\\Set-Location -LiteralPath '" + host.WorkingDirectory.Replace("'", "''") + "'\n& {\n"
                + p["script"]!.ToString() + "\n} @ChaosPSArguments");
            var args = new Hashtable(StringComparer.OrdinalIgnoreCase);
            if (p["arguments"] is JsonObject ao)
                foreach (var (k, v) in ao)
                {
                    var plain = JsonConvertible.ToPlain(v);
                    args[k] = plain is Dictionary<string, object?> d ? new Hashtable(d, StringComparer.OrdinalIgnoreCase) : plain;
                }
            if (wantsScale) args["Scale"] = call.Scale;
            ps.AddParameter("ChaosPSArguments", args);
        }, null, ct, call.Name).ConfigureAwait(false);
        var objects = output.Select(o => o.BaseObject is PSCustomObject ? (object)ToDict(o) : o.BaseObject).ToList();
        return objects.Count switch { 0 => null, 1 => objects[0], _ => objects };
    }

    private static Hashtable Arguments(JsonObject p)
    {
        var args = new Hashtable(StringComparer.OrdinalIgnoreCase);
        if (p["arguments"] is JsonObject ao)
            foreach (var (k, v) in ao)
            {
                var plain = JsonConvertible.ToPlain(v);
                args[k] = plain is Dictionary<string, object?> d ? new Hashtable(d, StringComparer.OrdinalIgnoreCase) : plain;
            }
        return args;
    }

    private static Dictionary<string, object?> ToDict(PSObject o) => o.Properties.ToDictionary(pp => pp.Name, object? (pp) => pp.Value is PSObject inner && inner.BaseObject is PSCustomObject ? ToDict(inner) : pp.Value is PSObject po ? po.BaseObject : pp.Value);
}
