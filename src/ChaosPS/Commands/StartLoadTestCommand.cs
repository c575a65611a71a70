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
    /// <summary>'Name: value' strings or a hashtable.</summary>
    [Parameter, ValidateNotNullOrEmpty] public object[]? Header { get; set; }
    /// <summary>A string, bytes, or an object (sent as JSON).</summary>
    [Parameter, ValidateNotNull] public object? Body { get; set; }
    [Parameter, ValidateNotBlank] public string? BodyFile { get; set; }
    [Parameter, ValidateNotBlank] public string? ContentType { get; set; }

    [Parameter, ValidateRange(0.0, 10_000_000.0)] public double? Rate { get; set; }
    [Parameter, ValidateRange(0, 100_000)] public int? Concurrency { get; set; }
    [Parameter, ValidateNotBlank] public string[]? Stage { get; set; }
    [Parameter, DurationTransform] public TimeSpan? Duration { get; set; }
    /// <summary>Requests to send in all (1 to 100 million); with -Duration, whichever ends first.</summary>
    [Parameter, ValidateRange(1L, 100_000_000L)] public long? Iterations { get; set; }
    [Parameter, DurationTransform] public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
    [Parameter, DurationTransform(RequireUnit = true)] public TimeSpan ThinkTime { get; set; }
    [Parameter, ValidateRange(1, 100_000)] public int Connections { get; set; }
    [Parameter, DurationTransform(RequireUnit = true)] public TimeSpan? LateThreshold { get; set; }

    [Parameter, ValidateSet("Auto", "Epoll", "Raw", "HttpClient")] public string Engine { get; set; } = "Auto";
    [Parameter] public SwitchParameter Http2 { get; set; }
    [Parameter] public SwitchParameter SkipCertificateCheck { get; set; }

    [Parameter, ValidateNotNullOrEmpty, ValidateRange(100, 599)] public int[]? ExpectStatus { get; set; }
    [Parameter, ValidateNotNullOrEmpty] public string[]? BodyContains { get; set; }
    [Parameter, ValidateNotNullOrEmpty] public string[]? BodyMatch { get; set; }
    /// <summary>JSON path → expected value, e.g. @{ '$.status' = 'ok' }.</summary>
    [Parameter, ValidateNotNullOrEmpty] public Hashtable? JsonPath { get; set; }

    [Parameter, ValidateNotBlank] public string[]? Threshold { get; set; }
    [Parameter] public SwitchParameter AbortOnFail { get; set; }
    [Parameter, ValidateNotBlank] public string? Name { get; set; }
    [Parameter] public SwitchParameter AsJob { get; set; }
    /// <summary>Allow a target that is not on this machine (127.0.0.0/8, ::1, localhost).</summary>
    [Parameter] public SwitchParameter AllowNonLoopback { get; set; }

    protected override void ProcessRecord()
    {
        LoadTestOptions o;
        try { o = BuildOptions(); o.Validate(); }
        catch (ChaosException e) { ThrowChaosError(e); return; }

        if (AsJob)
        {
            StartEngineJob($"LoadTest {o.Name}", async (r, ct) =>
            {
                var res = await new LoadTestRunner(o, r).RunAsync(ct).ConfigureAwait(false);
                // The job's error stream carries the same verdict error: Receive-Job leaves $? false on a failed run.
                if (!res.Passed) r.Error(ThresholdsFailed(o, res));
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
        if (!result.Passed) WriteError(ToErrorRecord(ThresholdsFailed(o, result)));
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
            Connections = Connections, AllowNonLoopback = AllowNonLoopback, Engine = Engine, Http2 = Http2, SkipCertificateCheck = SkipCertificateCheck, AbortOnFail = AbortOnFail,
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
