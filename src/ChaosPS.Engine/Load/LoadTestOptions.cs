using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace ChaosPS.Load;

/// <summary>One request to send (a run rotates through a list of them). Built and validated before any traffic.</summary>
public sealed class LoadRequest
{
    public string Name { get; set; } = "";
    public string Method { get; set; } = "GET";
    public Uri Uri { get; set; } = new("http://127.0.0.1/");
    public List<KeyValuePair<string, string>> Headers { get; set; } = [];
    public byte[]? Body { get; set; }

    /// <summary>The whole HTTP/1.1 request, serialised once, for the raw-socket path.</summary>
    internal byte[] Wire { get; private set; } = [];

    /// <summary>The request asks for <c>Connection: close</c>: its connection is closed after the response whatever the
    /// server answers (a client that sent close must not reuse the connection), so each such request opens a new one.</summary>
    public bool CloseConnection { get; private set; }

    internal void Serialise()
    {
        var sb = new StringBuilder();
        sb.Append(Method).Append(' ').Append(Uri.PathAndQuery).Append(" HTTP/1.1\r\n");
        bool host = false, ua = false, ctype = false;
        CloseConnection = Headers.Any(h => h.Key.Equals("Connection", StringComparison.OrdinalIgnoreCase)
            && h.Value.Split(',').Any(t => t.Trim().Equals("close", StringComparison.OrdinalIgnoreCase)));
        foreach (var (k, v) in Headers)
        {
            if (k.Equals("Host", StringComparison.OrdinalIgnoreCase)) host = true;
            if (k.Equals("User-Agent", StringComparison.OrdinalIgnoreCase)) ua = true;
            if (k.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) ctype = true;
            if (k.Equals("Content-Length", StringComparison.OrdinalIgnoreCase) || k.Equals("Connection", StringComparison.OrdinalIgnoreCase)) continue;
            sb.Append(k).Append(": ").Append(v).Append("\r\n");
        }
        if (!host) sb.Append("Host: ").Append(Uri.IsDefaultPort ? Uri.Host : $"{Uri.Host}:{Uri.Port}").Append("\r\n");
        if (!ua) sb.Append("User-Agent: ChaosPS-Load/0.1\r\n");
        if (CloseConnection) sb.Append("Connection: close\r\n");
        if (Body is { Length: > 0 })
        {
            if (!ctype) sb.Append("Content-Type: application/octet-stream\r\n");
            sb.Append("Content-Length: ").Append(Body.Length.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        }
        else if (Method is "POST" or "PUT" or "PATCH") sb.Append("Content-Length: 0\r\n");
        sb.Append("\r\n");
        var head = Encoding.ASCII.GetBytes(sb.ToString());
        if (Body is { Length: > 0 })
        {
            var all = new byte[head.Length + Body.Length];
            head.CopyTo(all, 0);
            Body.CopyTo(all, head.Length);
            Wire = all;
        }
        else Wire = head;
    }
}

/// <summary>A stage of a ramp: over <see cref="Duration"/>, move linearly to <see cref="Target"/> (rate or VUs).</summary>
public sealed record LoadStage(TimeSpan Duration, double Target)
{
    public override string ToString() => $"{DurationParser.Format(Duration)}:{Target.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>Parses '30s:100' (duration:target). Throws InvalidStage naming the bad token.</summary>
    public static LoadStage Parse(string text)
    {
        var s = (text ?? "").Trim();
        int colon = s.LastIndexOf(':');
        // A TimeSpan literal (00:00:30:100) is allowed too: the target is after the last colon.
        if (colon <= 0 || colon == s.Length - 1)
            throw ChaosException.InvalidArgument("InvalidStage", $"Stage '{text}' is not 'duration:target' (for example '30s:100').", text,
                "Write each stage as duration:target, such as '30s:100' or '2m:1000'.");
        var durText = s[..colon];
        var targetText = s[(colon + 1)..].Trim();
        if (!DurationParser.TryParse(durText, out var d, out var bad))
            throw ChaosException.InvalidArgument("InvalidStage", $"Stage '{text}': '{bad}' is not a duration (use 500ms, 30s, 5m, 1h).", text,
                "Write each stage as duration:target, such as '30s:100'.");
        if (!double.TryParse(targetText, NumberStyles.Float, CultureInfo.InvariantCulture, out var target) || target < 0 || double.IsNaN(target) || double.IsInfinity(target))
            throw ChaosException.InvalidArgument("InvalidStage", $"Stage '{text}': '{targetText}' is not a non-negative number.", text,
                "Write each stage as duration:target, such as '30s:100'.");
        if (d <= TimeSpan.Zero)
            throw ChaosException.InvalidArgument("InvalidStage", $"Stage '{text}': the duration must be greater than zero.", text);
        return new LoadStage(d, target);
    }
}

/// <summary>A check on every response. Kinds: Status (a set), Contains, Regex, JsonPath (path == expected).</summary>
public sealed class LoadCheck
{
    public string Name { get; set; } = "";
    public string Kind { get; set; } = "";
    public string? Text { get; set; }
    public string? JsonPath { get; set; }
    public string? Expected { get; set; }
    internal Regex? Regex { get; set; }
    internal byte[]? Needle { get; set; }
    internal bool NeedsBody => Kind is "Contains" or "Regex" or "JsonPath";
}

/// <summary>Everything Start-LoadTest needs; validated as a whole by <see cref="Validate"/> before any request.</summary>
public sealed class LoadTestOptions
{
    public List<LoadRequest> Requests { get; set; } = [];
    /// <summary>Open model: requests per second (starting level when stages are given). Null = closed model.</summary>
    public double? Rate { get; set; }
    /// <summary>Closed model: virtual users (starting level when stages are given).</summary>
    public int? Concurrency { get; set; }
    public List<LoadStage> Stages { get; set; } = [];
    public TimeSpan? Duration { get; set; }
    public long? Iterations { get; set; }
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);
    public TimeSpan ThinkTime { get; set; } = TimeSpan.Zero;
    /// <summary>Open model: connections used to send the scheduled requests (0 = choose from the peak rate).</summary>
    public int Connections { get; set; }
    /// <summary>Allow requests to hosts other than 127.0.0.0/8, ::1 and localhost.</summary>
    public bool AllowNonLoopback { get; set; }
    /// <summary>Auto (epoll fast path on Linux x64 / async raw sockets elsewhere, for https:// with OpenSSL where libssl.so.3 loads / SslStream elsewhere, the own HTTP/2 client for -Http2), Epoll, Raw (async raw sockets), HttpClient.</summary>
    public string Engine { get; set; } = "Auto";
    public bool Http2 { get; set; }
    /// <summary>HTTP/2: concurrent streams (requests in flight) per connection, as h2load's -m. Closed model: the
    /// -Concurrency virtual users share ceil(VUs / streams) connections; open model: -Connections connections with
    /// this many streams each.</summary>
    public int StreamsPerConnection { get; set; } = 1;
    /// <summary>Most streams per connection accepted (servers usually allow 100 to 128 at once; more wait for a free one).</summary>
    public const int MaxStreamsPerConnection = 1000;
    public bool SkipCertificateCheck { get; set; }
    /// <summary>Status codes that count as success (null = 200..399).</summary>
    public HashSet<int>? ExpectStatus { get; set; }
    public List<LoadCheck> Checks { get; set; } = [];
    public List<string> Thresholds { get; set; } = [];
    public bool AbortOnFail { get; set; }
    /// <summary>An open-model request sent this much after its intended time counts as late.</summary>
    public TimeSpan LateThreshold { get; set; } = TimeSpan.FromMilliseconds(10);
    public string Name { get; set; } = "load";

    public bool IsOpen => Rate.HasValue;

    internal List<ThresholdSpec> ParsedThresholds { get; private set; } = [];

    /// <summary>Total planned run time (stages, or -Duration, or unbounded when only -Iterations is given).</summary>
    public TimeSpan PlannedDuration
    {
        get
        {
            var stages = Stages.Count > 0 ? TimeSpan.FromTicks(Stages.Sum(s => s.Duration.Ticks)) : (TimeSpan?)null;
            if (stages is { } st && Duration is { } d) return d < st ? d : st;
            return stages ?? Duration ?? (Iterations.HasValue ? TimeSpan.FromDays(3650) : TimeSpan.FromSeconds(10));
        }
    }

    public double PeakLevel => Math.Max(IsOpen ? Rate!.Value : Concurrency ?? 0, Stages.Count > 0 ? Stages.Max(s => s.Target) : 0);

    /// <summary>-Http2 with the Auto engine: the engine's own HTTP/2 client (h2c by prior knowledge, TLS with ALPN h2).</summary>
    internal bool UseHttp2Engine => Http2 && Engine == "Auto";

    /// <summary>Some request is https://: the epoll engine runs TLS through libssl, the async raw engine through SslStream.</summary>
    internal bool UsesTls => Requests.Any(r => r.Uri.Scheme == Uri.UriSchemeHttps);

    /// <summary>Checks everything before traffic; throws ChaosException naming the bad token.</summary>
    public void Validate()
    {
        if (Requests.Count == 0)
            throw ChaosException.InvalidArgument("NoRequest", "No request to send: give -Uri or -RequestFile.");
        if (Rate.HasValue == Concurrency.HasValue)
            throw ChaosException.InvalidArgument("InvalidModel",
                "Choose one workload model: -Rate N (open model, requests per second) or -Concurrency N (closed model, virtual users).",
                null, "Give exactly one of -Rate and -Concurrency.");
        if (Rate is < 0 || Concurrency is < 0 || Rate is { } rate && !double.IsFinite(rate))
            throw ChaosException.InvalidArgument("InvalidModel", "-Rate and -Concurrency must be finite and not negative.");
        if (Iterations is < 1 or > 100_000_000)
            throw ChaosException.InvalidArgument("InvalidIterations", $"-Iterations must be from 1 to 100000000; got {Iterations}.", Iterations);
        if (Connections is < 0 or > 100_000)
            throw ChaosException.InvalidArgument("InvalidConnections", $"-Connections must be from 1 to 100000; got {Connections}.", Connections);
        InputRules.Duration(Duration, "Duration");
        InputRules.Duration(Timeout, "Timeout");
        InputRules.Duration(ThinkTime, "ThinkTime", allowZero: true);
        InputRules.Duration(LateThreshold, "LateThreshold");
        if (ExpectStatus is not null) foreach (var code in ExpectStatus) InputRules.StatusCode(code, "ExpectStatus");
        if (PeakLevel <= 0)
            throw ChaosException.InvalidArgument("InvalidModel", "The load never rises above zero: give a positive -Rate/-Concurrency or a stage with a positive target.");
        if (!IsOpen && PeakLevel > 100_000)
            throw ChaosException.InvalidArgument("InvalidModel", $"{PeakLevel} virtual users is more than this generator supports (100000).");
        if (StreamsPerConnection is < 1 or > MaxStreamsPerConnection)
            throw ChaosException.InvalidArgument("ChaosPS.InvalidStreamsPerConnection",
                $"-StreamsPerConnection must be from 1 to {MaxStreamsPerConnection}; got {StreamsPerConnection}.", StreamsPerConnection,
                "Give the number of HTTP/2 streams each connection keeps in flight, such as 10 (h2load's -m).");
        if (StreamsPerConnection > 1 && !Http2)
            throw ChaosException.InvalidArgument("ChaosPS.StreamsPerConnectionNeedsHttp2",
                $"-StreamsPerConnection {StreamsPerConnection} multiplexes HTTP/2 streams; HTTP/1.1 sends one request at a time per connection.", StreamsPerConnection,
                "Add -Http2, or leave -StreamsPerConnection out and raise -Concurrency/-Connections for HTTP/1.1.");
        if (StreamsPerConnection > 1 && Engine == "HttpClient")
            throw ChaosException.InvalidArgument("InvalidEngine",
                "-StreamsPerConnection needs the engine's own HTTP/2 client (-Engine Auto); HttpClient chooses its own streams per connection.", StreamsPerConnection);
        if (Engine is "Raw" or "Epoll" && Http2)
            throw ChaosException.InvalidArgument("InvalidEngine", $"The {Engine} engine speaks HTTP/1.1 only; use -Engine HttpClient or Auto for HTTP/2.");
        if (Engine == "Epoll" && !EpollEngine.Supported)
            throw ChaosException.InvalidArgument("InvalidEngine", "The Epoll engine needs Linux on x64; use -Engine Raw or Auto.");
        if (Engine == "Epoll" && UsesTls && !EpollEngine.TlsSupported)
            throw ChaosException.InvalidArgument("InvalidEngine", "The Epoll engine runs https:// through the system's OpenSSL 3 (libssl.so.3), which is not available here; use -Engine Raw or Auto (TLS over SslStream).");
        foreach (var r in Requests)
        {
            if (!r.Uri.IsAbsoluteUri || (r.Uri.Scheme != Uri.UriSchemeHttp && r.Uri.Scheme != Uri.UriSchemeHttps))
                throw ChaosException.InvalidArgument("InvalidUri", $"'{UriRedaction.Redact(r.Uri.ToString())}' is not an absolute http:// or https:// URI.", UriRedaction.Redact(r.Uri.ToString()));
            InputRules.HttpUri(r.Uri, "Uri", loopbackOnly: !AllowNonLoopback);
            InputRules.HttpMethod(r.Method);
            if (string.IsNullOrEmpty(r.Name)) r.Name = $"{r.Method} {r.Uri.AbsolutePath}";
            r.Serialise();
        }
        if (Timeout <= TimeSpan.Zero)
            throw ChaosException.InvalidArgument("InvalidTimeout", "-Timeout must be greater than zero.");
        ParsedThresholds = Thresholds.SelectMany(ThresholdSpec.ParseMany).ToList();
        foreach (var c in Checks)
        {
            if (c.Kind == "Regex" && c.Regex is null)
            {
                try { c.Regex = new Regex(c.Text ?? "", RegexOptions.CultureInvariant); }
                catch (ArgumentException e)
                {
                    throw ChaosException.InvalidArgument("InvalidCheck", $"Body regex '{c.Text}' does not parse: {e.Message}", c.Text);
                }
            }
            if (c.Kind == "Contains") c.Needle = Encoding.UTF8.GetBytes(c.Text ?? "");
        }
    }

    private static readonly Regex HeaderName = new(@"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$", RegexOptions.CultureInvariant);

    /// <summary>Parses 'Name: value' (or 'Name=value'); throws InvalidHeader naming the bad text.</summary>
    public static KeyValuePair<string, string> ParseHeader(string text)
    {
        int i = text.IndexOf(':');
        if (i <= 0) i = text.IndexOf('=');
        if (i <= 0)
            throw ChaosException.InvalidArgument("InvalidHeader", $"Header '{text}' is not 'Name: value'.", text, "Write headers as 'Name: value' or pass a hashtable.");
        return MakeHeader(text[..i].Trim(), text[(i + 1)..].Trim(), text);
    }

    public static KeyValuePair<string, string> MakeHeader(string name, string value, string? original = null)
    {
        if (!HeaderName.IsMatch(name))
            throw ChaosException.InvalidArgument("InvalidHeader", $"Header name '{name}' contains characters not allowed in an HTTP header name.", original ?? name);
        if (value.Contains('\r') || value.Contains('\n'))
            throw ChaosException.InvalidArgument("InvalidHeader", $"The value of header '{name}' contains a line break.", original ?? name);
        return new(name, value);
    }

    /// <summary>Parses a URI for -Uri, with a clear error.</summary>
    public static Uri ParseUri(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var u) || (u.Scheme != Uri.UriSchemeHttp && u.Scheme != Uri.UriSchemeHttps) || string.IsNullOrEmpty(u.Host))
            throw ChaosException.InvalidArgument("InvalidUri", $"'{text}' is not an absolute http:// or https:// URI.", text,
                "Give a full URI such as http://127.0.0.1:8080/health.");
        return u;
    }

    /// <summary>Reads a request list: JSON lines ({"name","method","uri","headers":{},"body"|"json"}) or CSV (name,method,uri,body).</summary>
    public static List<LoadRequest> ReadRequestFile(string path, Uri? defaultUri, string defaultMethod, IList<KeyValuePair<string, string>> defaultHeaders)
    {
        if (!File.Exists(path))
            throw new ChaosException("RequestFileNotFound", ChaosErrorCategory.ObjectNotFound, $"Request file '{path}' does not exist.", path);
        var list = new List<LoadRequest>();
        var lines = File.ReadAllLines(path);
        bool csv = path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase);
        string[]? header = null;
        for (int n = 0; n < lines.Length; n++)
        {
            var line = lines[n].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            try
            {
                if (csv)
                {
                    var cells = SplitCsv(line);
                    if (header is null) { header = cells.Select(c => c.Trim().ToLowerInvariant()).ToArray(); continue; }
                    string? Cell(string name) { int i = Array.IndexOf(header, name); return i >= 0 && i < cells.Count ? cells[i] : null; }
                    list.Add(Build(Cell("name"), Cell("method"), Cell("uri") ?? Cell("url"), null, Cell("body"), null, defaultUri, defaultMethod, defaultHeaders));
                }
                else
                {
                    var o = Newtonsoft.Json.Linq.JObject.Parse(line);
                    var headers = new List<KeyValuePair<string, string>>();
                    if (o["headers"] is Newtonsoft.Json.Linq.JObject h)
                        foreach (var p in h.Properties()) headers.Add(MakeHeader(p.Name, p.Value.ToString()));
                    string? json = o["json"] is { } j ? j.ToString(Newtonsoft.Json.Formatting.None) : null;
                    list.Add(Build((string?)o["name"], (string?)o["method"], (string?)o["uri"] ?? (string?)o["url"], headers, (string?)o["body"], json, defaultUri, defaultMethod, defaultHeaders));
                }
            }
            catch (ChaosException) { throw; }
            catch (Exception e)
            {
                throw ChaosException.InvalidArgument("InvalidRequestFile", $"{path} line {n + 1}: {e.Message}", line);
            }
        }
        if (list.Count == 0) throw ChaosException.InvalidArgument("InvalidRequestFile", $"{path} holds no requests.", path);
        return list;
    }

    private static LoadRequest Build(string? name, string? method, string? uri, List<KeyValuePair<string, string>>? headers, string? body, string? json,
        Uri? defaultUri, string defaultMethod, IList<KeyValuePair<string, string>> defaultHeaders)
    {
        Uri u = uri is { Length: > 0 } ? (defaultUri is not null && !uri.Contains("://") ? new Uri(defaultUri, uri) : ParseUri(uri))
            : defaultUri ?? throw ChaosException.InvalidArgument("InvalidRequestFile", "A request has no uri and no -Uri was given.");
        var r = new LoadRequest { Name = name ?? "", Method = (method ?? (body is null && json is null ? defaultMethod : "POST")).ToUpperInvariant(), Uri = u };
        r.Headers.AddRange(defaultHeaders);
        if (headers is not null) r.Headers.AddRange(headers);
        if (json is not null)
        {
            r.Body = Encoding.UTF8.GetBytes(json);
            if (!r.Headers.Any(h => h.Key.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))) r.Headers.Add(new("Content-Type", "application/json"));
        }
        else if (body is not null) r.Body = Encoding.UTF8.GetBytes(body);
        return r;
    }

    private static List<string> SplitCsv(string line)
    {
        var cells = new List<string>();
        var sb = new StringBuilder();
        bool q = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (q)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { sb.Append('"'); i++; }
                else if (c == '"') q = false;
                else sb.Append(c);
            }
            else if (c == '"') q = true;
            else if (c == ',') { cells.Add(sb.ToString()); sb.Clear(); }
            else sb.Append(c);
        }
        cells.Add(sb.ToString());
        return cells;
    }

    internal static bool IsLoopback(Uri u) => Loopback.AddressOf(u) is not null;
}
