using System.Collections;
using System.Collections.Concurrent;
using System.Management.Automation;
using System.Text;
using ChaosPS.Load;

namespace ChaosPS.Commands;

/// <summary>
/// Drives HTTP load at a target: open model (-Rate, requests per second, latency from each request's intended send
/// time) or closed model (-Concurrency virtual users), with -Stage ramps, checks, k6-style thresholds and streaming
/// metrics. Blocks with live progress and returns a LoadTestResult; -AsJob runs it in the background.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "LoadTest", DefaultParameterSetName = "Uri")]
[OutputType(typeof(LoadTestResult))]
public sealed class StartLoadTestCommand : ChaosCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = "Uri", ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = "File")]
    [Alias("RouterUri", "Url")]
    [ValidateNotBlank]
    public string? Uri { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = "File")]
    [ValidateNotBlank]
    public string? RequestFile { get; set; }

    [Parameter, ValidateNotNullOrEmpty] public string Method { get; set; } = "GET";
    [Parameter, ValidateNotNullOrEmpty] public object[]? Header { get; set; }
    [Parameter, ValidateNotNull] public object? Body { get; set; }
    [Parameter, ValidateNotBlank] public string? BodyFile { get; set; }
    [Parameter, ValidateNotBlank] public string? ContentType { get; set; }

    [Parameter, ValidateRange(0.0, 10_000_000.0)] public double? Rate { get; set; }
    [Parameter, ValidateRange(0, 100_000)] public int? Concurrency { get; set; }
    [Parameter, ValidateNotBlank] public string[]? Stage { get; set; }
    [Parameter, DurationTransform] public TimeSpan? Duration { get; set; }
    [Parameter, ValidateRange(1L, 100_000_000L)] public long? Iterations { get; set; }
    [Parameter, DurationTransform] public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
    [Parameter, DurationTransform(RequireUnit = true)] public TimeSpan ThinkTime { get; set; }
    [Parameter, ValidateRange(1, 100_000)] public int Connections { get; set; }
    [Parameter, DurationTransform(RequireUnit = true)] public TimeSpan? LateThreshold { get; set; }

    [Parameter, ValidateSet("Auto", "Epoll", "Raw", "HttpClient")] public string Engine { get; set; } = "Auto";
    [Parameter] public SwitchParameter Http2 { get; set; }
    [Parameter] public int StreamsPerConnection { get; set; } = 1;
    [Parameter] public SwitchParameter SkipCertificateCheck { get; set; }

    [Parameter, ValidateNotNullOrEmpty, ValidateRange(100, 599)] public int[]? ExpectStatus { get; set; }
    [Parameter, ValidateNotNullOrEmpty] public string[]? BodyContains { get; set; }
    [Parameter, ValidateNotNullOrEmpty] public string[]? BodyMatch { get; set; }
    [Parameter, ValidateNotNullOrEmpty] public Hashtable? JsonPath { get; set; }

    [Parameter, ValidateNotBlank] public string[]? Threshold { get; set; }
    [Parameter] public SwitchParameter AbortOnFail { get; set; }
    [Parameter, ValidateNotBlank] public string? Name { get; set; }
    [Parameter] public SwitchParameter AsJob { get; set; }
    [Parameter] public SwitchParameter AllowNonLoopback { get; set; }

    [Parameter, ValidateNotNullOrEmpty] public System.Management.Automation.Runspaces.PSSession[]? Session { get; set; }
    [Parameter, ValidateNotNullOrEmpty, ValidateNotBlank] public string[]? HostName { get; set; }
    [Parameter, ValidateNotBlank] public string? UserName { get; set; }
    [Parameter, ValidateNotBlank] public string? KeyFilePath { get; set; }
    [Parameter, ValidateRange(1, 65535)] public int Port { get; set; }
    [Parameter, ValidateNotNullOrEmpty] public Hashtable? SshOption { get; set; }
    [Parameter, ValidateNotNullOrEmpty] public double[]? Weight { get; set; }

    protected override void ProcessRecord()
    {
        LoadTestOptions o;
        try { o = BuildOptions(); o.Validate(); }
        catch (ChaosException e) { ThrowChaosError(e); return; }

        if (Session is null && HostName is null)
        {
            var stray = new[] { nameof(UserName), nameof(KeyFilePath), nameof(Port), nameof(SshOption), nameof(Weight) }.FirstOrDefault(MyInvocation.BoundParameters.ContainsKey);
            if (stray is not null)
                ThrowChaosError(ChaosException.InvalidArgument("ChaosPS.HostOptionWithoutHosts",
                    $"-{stray} applies to a run over several hosts; give -HostName (or -Session for -Weight) too.", stray));
        }
        else
        {
            try { RunOnHosts(o); }
            catch (ChaosException e) { ThrowChaosError(e); }
            return;
        }
        if (AsJob)
        {
            StartEngineJob($"LoadTest {o.Name}", async (r, ct) =>
            {
                var res = await new LoadTestRunner(o, r).RunAsync(ct).ConfigureAwait(false);
                // The job's error stream carries the same verdict error: Receive-Job leaves $? false on a failed run.
                if (res.Verdict == "Failed") r.Error(ThresholdsFailed(o, res));
                return res;
            });
            return;
        }
        var reporter = new QueueReporter();
        var runner = new LoadTestRunner(o, reporter);
        var task = Task.Run(() => runner.RunAsync(Stopping));
        bool stopped = false;
        while (!task.Wait(200))
            stopped |= !reporter.Drain(this);
        stopped |= !reporter.Drain(this);
        LoadTestResult result;
        try { result = task.GetAwaiter().GetResult(); }
        catch (ChaosException e) { ThrowChaosError(e); return; }
        if (stopped || Stopping.IsCancellationRequested)
        {
            // Ctrl+C: the pipeline no longer takes objects; print the partial result and keep it in $LoadTestResult.
            try
            {
                SessionState.PSVariable.Set("global:LoadTestResult", result);
                Host.UI.WriteLine($"Start-LoadTest stopped: partial result (also in $LoadTestResult): {result}");
            }
            catch (Exception) { /* host gone */ }
            throw new PipelineStoppedException();
        }
        try { WriteProgress(new ProgressRecord(1, $"Start-LoadTest {o.Name}", "done") { RecordType = ProgressRecordType.Completed }); } catch (PipelineStoppedException) { }
        WriteObject(result);
        if (result.Verdict == "Failed") WriteError(ToErrorRecord(ThresholdsFailed(o, result)));
    }

    private static readonly HashSet<string> HostOnlyParameters = new(StringComparer.OrdinalIgnoreCase)
    {
        nameof(Session), nameof(HostName), nameof(UserName), nameof(KeyFilePath), nameof(Port), nameof(SshOption), nameof(Weight), nameof(AsJob),
        nameof(Rate), nameof(Concurrency), nameof(Connections), nameof(Iterations), nameof(Stage), nameof(Name), nameof(BodyFile), nameof(RequestFile),
        "Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ProgressAction", "ErrorVariable", "WarningVariable",
        "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable",
    };

    /// <summary>-Session/-HostName: the same test split over several generator hosts, one merged result.</summary>
    private void RunOnHosts(LoadTestOptions o)
    {
        var called = DateTime.UtcNow;
        if (Session is not null && HostName is not null)
            throw ChaosException.InvalidArgument("ChaosPS.SessionAndHostName", "Give either -Session or -HostName, not both.", null);
        if (AsJob)
            throw ChaosException.InvalidArgument("ChaosPS.MultiHostAsJob", "-AsJob does not combine with -Session/-HostName; the hosts already run in the background of this call.", null,
                "Run it in a job yourself: Start-ThreadJob { Start-LoadTest ... -Session $using:s }.");
        if (Session is not null)
        {
            foreach (var s in Session)
                if (s is null) throw ChaosException.InvalidArgument("ChaosPS.InvalidSession", "-Session holds a null entry.", null);
            var dup = Session.GroupBy(s => s.InstanceId).FirstOrDefault(g => g.Count() > 1);
            if (dup is not null)
                throw ChaosException.InvalidArgument("ChaosPS.DuplicateSession", $"-Session names the session to '{dup.First().ComputerName}' (Id {dup.First().Id}) twice; a session runs one generator.", dup.First());
        }
        foreach (var h in HostName ?? [])
            if (h.StartsWith('-') || h.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
                throw ChaosException.InvalidArgument("ChaosPS.InvalidHostName", $"-HostName '{h}' is not a host name (no spaces, control characters or a leading '-').", h);
        if (HostName is null && new[] { nameof(UserName), nameof(KeyFilePath), nameof(Port), nameof(SshOption) }.FirstOrDefault(MyInvocation.BoundParameters.ContainsKey) is { } sshOnly)
            throw ChaosException.InvalidArgument("ChaosPS.HostOptionWithoutHosts", $"-{sshOnly} is for -HostName (a -Session already carries its connection).", sshOnly);
        if (UserName is not null && (UserName.StartsWith('-') || UserName.Any(ch => char.IsWhiteSpace(ch) || char.IsControl(ch) || ch is '@' or '/' or '*' or '?') || UserName.Length > 256))
            throw ChaosException.InvalidArgument("ChaosPS.InvalidUserName", $"-UserName '{UserName}' is not a user name.", UserName);
        if (KeyFilePath is not null && !File.Exists(SessionState.Path.GetUnresolvedProviderPathFromPSPath(KeyFilePath)))
            throw new ChaosException("ChaosPS.KeyFileNotFound", ChaosErrorCategory.ObjectNotFound, $"-KeyFilePath '{KeyFilePath}' does not exist.", KeyFilePath);
        foreach (DictionaryEntry e in SshOption ?? new Hashtable())
        {
            var k = e.Key?.ToString() ?? ""; var v = e.Value is PSObject pv ? pv.BaseObject : e.Value;
            if (k.Length == 0 || !k.All(char.IsAsciiLetterOrDigit) || v is null || v is not (string or int or long or bool) || v.ToString()!.Any(char.IsControl) || v.ToString()!.Length == 0)
                throw ChaosException.InvalidArgument("ChaosPS.InvalidSshOption", $"-SshOption '{k}' = '{e.Value}' is not an ssh option (a name of letters and digits, a text, number or boolean value).", SshOption);
        }
        int n = Session?.Length ?? HostName!.Length;
        double[] weights = Weight ?? Enumerable.Repeat(1.0, n).ToArray();
        if (weights.Length != n)
            throw ChaosException.InvalidArgument("ChaosPS.InvalidWeight", $"-Weight has {weights.Length} values for {n} hosts; give one per host, in the same order.", Weight);
        if (weights.Any(w => !(w > 0) || double.IsInfinity(w)) || double.IsInfinity(weights.Sum()))
            throw ChaosException.InvalidArgument("ChaosPS.InvalidWeight", "-Weight values must be finite numbers greater than 0.", Weight);
        var fractions = weights.Select(w => w / weights.Sum()).ToArray();
        long[]? vus = null, conns = null, iters = null;
        if (o.Concurrency is { } c && c > 0)
            vus = RemoteLoad.Split(c, fractions, 1) ?? throw ChaosException.InvalidArgument("ChaosPS.TooFewForHosts",
                $"-Concurrency {c} cannot give each of {n} hosts at least one virtual user with these weights.", c);
        if (MyInvocation.BoundParameters.ContainsKey(nameof(Connections)))
            conns = RemoteLoad.Split(Connections, fractions, 1) ?? throw ChaosException.InvalidArgument("ChaosPS.TooFewForHosts",
                $"-Connections {Connections} cannot give each of {n} hosts at least one connection with these weights.", Connections);
        if (Iterations is { } it)
            iters = RemoteLoad.Split(it, fractions, 1) ?? throw ChaosException.InvalidArgument("ChaosPS.TooFewForHosts",
                $"-Iterations {it} cannot give each of {n} hosts at least one request with these weights.", it);
        byte[]? body = BodyFile is not null ? o.Requests[0].Body : null;
        string? requestFile = RequestFile is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(RequestFile);
        var version = MyInvocation.MyCommand.Module?.Version?.ToString() ?? typeof(StartLoadTestCommand).Assembly.GetName().Version!.ToString(3);

        List<RemoteLoad.Gen> gens;
        if (Session is not null)
            gens = Session.Select(s => new RemoteLoad.Gen { Label = s.ComputerName, Runspace = s.Runspace, SessionId = s.Id }).ToList();
        else
        {
            WriteVerbose($"Opening SSH sessions to {string.Join(", ", HostName!)}");
            gens = RemoteLoad.Open(HostName!, UserName, KeyFilePath is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(KeyFilePath), Port, SshOption, Stopping);
        }
        // Two sessions to one computer: tell them apart in messages and the breakdown.
        foreach (var grp in gens.GroupBy(g => g.Label).Where(g => g.Count() > 1))
        {
            int k = 0;
            foreach (var g in grp) g.Label = $"{g.Label}#{++k}";
        }
        for (int i = 0; i < gens.Count; i++) { gens[i].Weight = weights[i]; gens[i].Out.Weight = weights[i]; gens[i].Out.Share = o.IsOpen ? o.Rate!.Value * fractions[i] : vus?[i] ?? 0; }
        try
        {
            var remote = new RemoteLoad(this, Stopping, gens, called);
            WriteVerbose($"Checking ChaosPS {version} on {gens.Count} hosts");
            remote.Prepare(version);
            foreach (var g in gens) WriteVerbose($"{g.Label}: ChaosPS {g.Out.ModuleVersion}, clock offset {g.Out.ClockOffset.TotalMilliseconds:0.0} ms, round trip {g.Out.RoundTrip.TotalMilliseconds:0.0} ms");
            Hashtable ParametersOf(RemoteLoad.Gen g)
            {
                int i = gens.IndexOf(g);
                var p = new Hashtable(StringComparer.OrdinalIgnoreCase);
                foreach (var (k, v) in MyInvocation.BoundParameters)
                {
                    if (HostOnlyParameters.Contains(k)) continue;
                    var value = v is PSObject ps ? ps.BaseObject : v;
                    p[k] = value is SwitchParameter sw ? sw.IsPresent : value;
                }
                p[nameof(Name)] = o.Name;
                if (o.Rate is { } r) p[nameof(Rate)] = r * fractions[i];
                if (vus is not null) p[nameof(Concurrency)] = (int)vus[i];
                else if (Concurrency is { } c0) p[nameof(Concurrency)] = c0;
                if (conns is not null) p[nameof(Connections)] = (int)conns[i];
                if (iters is not null) p[nameof(Iterations)] = iters[i];
                if (body is not null) p[nameof(Body)] = body;
                if (requestFile is not null) p[nameof(RequestFile)] = requestFile;
                if (o.Stages.Count > 0)
                    p[nameof(Stage)] = o.Stages.Select(s => new LoadStage(s.Duration, o.IsOpen ? s.Target * fractions[i] : Math.Round(s.Target * fractions[i])).ToString()).ToArray();
                return p;
            }
            TimeSpan? deadline = Iterations is null ? o.PlannedDuration + Timeout + TimeSpan.FromSeconds(60) : null;
            var result = remote.Run(ParametersOf, o.Name, o.Thresholds, deadline);
            WriteObject(result);
            // (A partial result is not Passed either; its RemoteHostFailed error was written already.)
            if (result.Thresholds.Any(t => !t.Passed)) WriteError(ToErrorRecord(ThresholdsFailed(o, result)));
        }
        finally
        {
            foreach (var g in gens) RemoteLoad.Close(g);
        }
    }

    /// <summary>The verdict error of a run whose thresholds failed (TargetObject = the result).</summary>
    private static ChaosException ThresholdsFailed(LoadTestOptions o, LoadTestResult result) =>
        new("ChaosPS.ThresholdsFailed", ChaosErrorCategory.InvalidResult,
            $"Start-LoadTest {o.Name}: thresholds failed: {string.Join("; ", result.Thresholds.Where(t => !t.Passed).Select(t => t.Text))}", result,
            VerdictAction);

    private LoadTestOptions BuildOptions()
    {
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var h in Header ?? [])
        {
            var v = h is PSObject p ? p.BaseObject : h;
            if (v is IDictionary d)
                foreach (DictionaryEntry e in d) headers.Add(LoadTestOptions.MakeHeader(e.Key?.ToString() ?? "", e.Value?.ToString() ?? ""));
            else headers.Add(LoadTestOptions.ParseHeader(v?.ToString() ?? ""));
        }
        if (ContentType is not null) InputRules.ContentType(ContentType);
        if (ContentType is not null) headers.Add(LoadTestOptions.MakeHeader("Content-Type", ContentType));
        byte[]? body = null;
        if (BodyFile is not null)
        {
            var path = SessionState.Path.GetUnresolvedProviderPathFromPSPath(BodyFile);
            if (!File.Exists(path)) throw new ChaosException("BodyFileNotFound", ChaosErrorCategory.ObjectNotFound, $"Body file '{BodyFile}' does not exist.", BodyFile);
            body = File.ReadAllBytes(path);
        }
        else if (Body is not null)
        {
            var b = Body is PSObject pb ? pb.BaseObject : Body;
            switch (b)
            {
                case byte[] bytes: body = bytes; break;
                case string s: body = Encoding.UTF8.GetBytes(s); break;
                case ScriptBlock:
                    throw ChaosException.InvalidArgument("InvalidBody", "-Body is a script block; give a string, bytes, a hashtable or an object (sent as JSON). Run the script block first: -Body (& { ... }).", Body);
                default:
                    try { body = Encoding.UTF8.GetBytes(Newtonsoft.Json.JsonConvert.SerializeObject(ToPlain(b))); }
                    catch (Newtonsoft.Json.JsonException e)
                    {
                        throw ChaosException.InvalidArgument("InvalidBody", $"-Body cannot be sent as JSON: {e.Message}", Body, "Give a string, bytes, a hashtable or a plain object.");
                    }
                    if (!headers.Any(x => x.Key.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))) headers.Add(new("Content-Type", "application/json"));
                    break;
            }
        }
        var method = Method.ToUpperInvariant();
        if (body is not null && method == "GET" && !MyInvocation.BoundParameters.ContainsKey(nameof(Method))) method = "POST";
        var o = new LoadTestOptions
        {
            Rate = Rate, Concurrency = Concurrency, Duration = Duration, Iterations = Iterations, Timeout = Timeout, ThinkTime = ThinkTime,
            Connections = Connections, AllowNonLoopback = AllowNonLoopback, Engine = Engine, Http2 = Http2, StreamsPerConnection = StreamsPerConnection, SkipCertificateCheck = SkipCertificateCheck, AbortOnFail = AbortOnFail,
            Thresholds = Threshold?.ToList() ?? [],
        };
        if (LateThreshold is { } lt) o.LateThreshold = lt;
        // -Stage alone means ramping virtual users from 0 (as k6's --stage).
        if (Stage is { Length: > 0 } && Rate is null && Concurrency is null) o.Concurrency = 0;
        foreach (var s in Stage ?? []) o.Stages.Add(LoadStage.Parse(s));
        System.Uri? baseUri = Uri is null ? null : LoadTestOptions.ParseUri(Uri);
        if (RequestFile is not null)
            o.Requests = LoadTestOptions.ReadRequestFile(SessionState.Path.GetUnresolvedProviderPathFromPSPath(RequestFile), baseUri, method, headers);
        else
        {
            var r = new LoadRequest { Method = method, Uri = baseUri!, Body = body };
            r.Headers.AddRange(headers);
            o.Requests = [r];
        }
        if (ExpectStatus is { Length: > 0 })
        {
            o.ExpectStatus = [.. ExpectStatus];
            o.Checks.Add(new LoadCheck { Name = $"status in {string.Join(",", ExpectStatus)}", Kind = "Status" });
        }
        foreach (var c in BodyContains ?? []) o.Checks.Add(new LoadCheck { Name = $"body contains '{c}'", Kind = "Contains", Text = c });
        foreach (var c in BodyMatch ?? []) o.Checks.Add(new LoadCheck { Name = $"body matches /{c}/", Kind = "Regex", Text = c });
        foreach (DictionaryEntry e in JsonPath ?? new Hashtable())
        {
            var expected = e.Value is bool bv ? (bv ? "true" : "false") : Convert.ToString(e.Value, System.Globalization.CultureInfo.InvariantCulture);
            o.Checks.Add(new LoadCheck { Name = $"{e.Key} == {expected}", Kind = "JsonPath", JsonPath = e.Key?.ToString(), Expected = expected });
        }
        o.Name = Name ?? (o.Requests.Count == 1 ? $"{o.Requests[0].Method} {o.Requests[0].Uri}" : Path.GetFileName(RequestFile) ?? "load");
        return o;
    }

    private static object? ToPlain(object? v) => v switch
    {
        PSObject p when p.BaseObject is PSCustomObject => p.Properties.ToDictionary(x => x.Name, x => ToPlain(x.Value)),
        PSObject p => ToPlain(p.BaseObject),
        IDictionary d => d.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString()!, e => ToPlain(e.Value)),
        string s => s,
        IEnumerable e => e.Cast<object?>().Select(ToPlain).ToList(),
        _ => v,
    };

    /// <summary>Queues reports from engine threads; the pipeline thread drains them.</summary>
    private sealed class QueueReporter : IChaosReporter
    {
        private readonly ConcurrentQueue<Action<Cmdlet>> _q = new();
        public void Progress(ProgressInfo p) => _q.Enqueue(c => c.WriteProgress(PipelineReporter.ToRecord(p)));
        public void Warning(string message) => _q.Enqueue(c => c.WriteWarning(message));
        public void Verbose(string message) => _q.Enqueue(c => c.WriteVerbose(message));
        public void Error(ChaosException error) => _q.Enqueue(c => c.WriteError(ToErrorRecord(error)));
        public void Output(object value) => _q.Enqueue(c => c.WriteObject(value));

        /// <summary>Writes what is queued; false when the pipeline has been stopped.</summary>
        public bool Drain(Cmdlet c)
        {
            bool ok = true;
            while (_q.TryDequeue(out var a))
            {
                if (!ok) continue;
                try { a(c); } catch (PipelineStoppedException) { ok = false; }
            }
            return ok;
        }
    }
}
