using System.Collections;
using System.Management.Automation;
using ChaosPS.Network;

namespace ChaosPS.Commands;

/// <summary>
/// The parameters Add-NetworkFault and Invoke-NetworkFault share: which proxy, which fault, its attributes. Engine types
/// appear only inside methods (the load-context rule); parameters are strings, numbers, TimeSpans and SizeSpec.
/// </summary>
public abstract class NetworkFaultCmdletBase : NetworkCmdletBase
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("ProxyName")]
    [ValidateNotBlank, ValidateChaosName]
    public string Proxy { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateSet("Latency", "Bandwidth", "SlowClose", "Timeout", "ResetPeer", "Slicer", "LimitData", "Down",
        "RefuseConnect", "ResetOnConnect", "Noop", "HttpStatus", "HttpDelay", "HttpSlowBody", "HttpReset", IgnoreCase = true)]
    public string Type { get; set; } = "";

    [Parameter]
    [ValidateSet("Upstream", "Downstream", "Both", IgnoreCase = true)]
    public string Stream { get; set; } = "Downstream";

    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double Toxicity { get; set; } = 1.0;

    [Parameter]
    public double? Percent { get; set; }

    [Parameter]
    public int? StatusCode { get; set; }

    [Parameter, DurationTransform(RequireUnit = true)]
    [ValidateDuration(AllowZero = true)]
    public TimeSpan? RetryAfter { get; set; }

    [Parameter]
    public long? BytesPerSecond { get; set; }

    [Parameter, SizeTransform(false)]
    [ValidateNotNull]
    public SizeSpec? AfterBytes { get; set; }

    [Parameter]
    [ValidateNotBlank]
    public string? Method { get; set; }

    [Parameter]
    [ValidateNotBlank]
    public string? Path { get; set; }

    [Parameter]
    [ValidateNotBlank, ValidateChaosName]
    public string? Name { get; set; }

    [Parameter, DurationTransform(RequireUnit = true)]
    [ValidateDuration(AllowZero = true)]
    public TimeSpan? Latency { get; set; }

    [Parameter, DurationTransform(RequireUnit = true)]
    [ValidateDuration(AllowZero = true)]
    public TimeSpan? Jitter { get; set; }

    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long? RateKBps { get; set; }

    [Parameter, DurationTransform(RequireUnit = true)]
    [ValidateDuration(AllowZero = true)]
    public TimeSpan? Delay { get; set; }

    [Parameter, DurationTransform(RequireUnit = true)]
    [ValidateDuration(AllowZero = true)]
    public TimeSpan? Timeout { get; set; }

    [Parameter]
    public long? AverageSize { get; set; }

    [Parameter]
    public long? SizeVariation { get; set; }

    [Parameter, SizeTransform(false)]
    [ValidateNotNull]
    public SizeSpec? Bytes { get; set; }

    [Parameter]
    [ValidateNotNull]
    public Hashtable? Attributes { get; set; }

    [Parameter]
    [ValidateNotBlank, ValidateHttpUri]
    public string? ToxiproxyUri { get; set; }

    /// <summary>Builds and validates the toxic; throws a terminating error before anything is changed.</summary>
    protected ToxicSpec BuildSpec()
    {
        try
        {
            var type = ToxicTypes.FromFriendly(Type);
            if (type == "down") return ToxicSpec.Down();
            var attrs = new Dictionary<string, long>(StringComparer.OrdinalIgnoreCase);
            if (Attributes is not null)
                foreach (DictionaryEntry kv in Attributes)
                {
                    var v = kv.Value is PSObject pso ? pso.BaseObject : kv.Value;
                    if (v is not (int or long or short or byte or uint) && !(v is double d && d == Math.Floor(d) && Math.Abs(d) < 9e18))
                        throw ProxyException.BadRequest($"attribute {kv.Key} must be an integer, got '{v}'", "InvalidToxicAttribute", null, kv.Key);
                    attrs[kv.Key.ToString()!] = Convert.ToInt64(v, System.Globalization.CultureInfo.InvariantCulture);
                    if (attrs[kv.Key.ToString()!] < 0)
                        throw ProxyException.BadRequest($"attribute {kv.Key} must not be negative, got {v}", "InvalidToxicAttribute", null, kv.Key);
                }
            void Set(string name, long? value, string param)
            {
                if (value is null) return;
                if (!ToxicTypes.Attributes(type).Contains(name))
                    throw ProxyException.BadRequest($"-{param} does not apply to a {Type} fault", "InvalidToxicAttribute",
                        $"-{param} does not apply to a {Type} fault (its settings: {(ToxicTypes.Attributes(type).Count == 0 ? "none" : string.Join(", ", ToxicTypes.Attributes(type)))}).", param);
                attrs[name] = value.Value;
            }
            static long? Ms(TimeSpan? t) => t is { } x ? (long)Math.Round(x.TotalMilliseconds) : null;
            Set("latency", Ms(Latency), "Latency");
            Set("jitter", Ms(Jitter), "Jitter");
            Set("rate", RateKBps, "RateKBps");
            Set("delay", type == "slicer" ? (Delay is { } dl ? (long)Math.Round(dl.TotalMicroseconds) : null) : Ms(Delay), "Delay");
            Set("timeout", Ms(Timeout), "Timeout");
            Set("average_size", AverageSize, "AverageSize");
            Set("size_variation", SizeVariation, "SizeVariation");
            Set("bytes", Bytes?.Bytes, "Bytes");
            var status = ToxicRegistry.Find("http_status")!.Attribute("status")!;
            if (StatusCode is { } sc && (sc < status.Min || sc > status.Max))
                throw ProxyException.BadRequest($"attribute status must be an HTTP status from 200 to 599, got {sc}", "InvalidHttpStatus",
                    $"-StatusCode {sc} cannot be a fault's answer; use a final status from 200 to 599 (e.g. 503, 429, 500, 404).", sc);
            if (BytesPerSecond is { } bps && bps < ToxicRegistry.Find("http_slow_body")!.Attribute("bytes_per_second")!.Min)
                throw ProxyException.BadRequest("attribute bytes_per_second must be at least 1", "InvalidToxicAttribute", "-BytesPerSecond must be at least 1.", BytesPerSecond);
            Set("status", StatusCode, "StatusCode");
            Set("retry_after", RetryAfter is { } ra ? (long)Math.Ceiling(ra.TotalSeconds) : null, "RetryAfter");
            Set("bytes_per_second", BytesPerSecond, "BytesPerSecond");
            Set("after_bytes", AfterBytes?.Bytes, "AfterBytes");
            var strings = new Dictionary<string, string>(StringComparer.Ordinal);
            bool http = ToxicTypes.IsHttp(type);
            foreach (var (name, value, param) in new[] { ("method", Method, "Method"), ("path", Path, "Path") })
            {
                if (value is null) continue;
                if (!http) throw ProxyException.BadRequest($"-{param} does not apply to a {Type} fault", "InvalidToxicAttribute",
                    $"-{param} applies to the HTTP faults only (HttpStatus, HttpDelay, HttpSlowBody, HttpReset).", param);
                strings[name] = value;
            }
            double toxicity = Toxicity;
            if (Percent is { } pct)
            {
                if (double.IsNaN(pct) || pct < 0 || pct > 100)
                    throw ProxyException.BadRequest($"percent must be between 0 and 100, got {pct}", "InvalidPercent", $"-Percent {pct} is not a percentage (0 to 100).", pct);
                if (!http) throw ProxyException.BadRequest("-Percent applies to the HTTP faults only", "InvalidPercent",
                    "-Percent applies to the HTTP faults (a share of requests); use -Toxicity (0..1, per connection) for the others.", pct);
                if (MyInvocation.BoundParameters.ContainsKey(nameof(Toxicity)))
                    throw ProxyException.BadRequest("give -Percent or -Toxicity, not both", "InvalidPercent", "Give either -Percent (0..100) or -Toxicity (0..1), not both.", pct);
                toxicity = pct / 100.0;
            }
            // The attributes a fault of this type cannot do without (the registry declares them; the API takes 0 instead).
            if (ToxicRegistry.Find(type) is { } definition)
                foreach (var a in definition.Attributes)
                    if (a.Required is { } req && !attrs.ContainsKey(a.Name))
                        throw ProxyException.BadRequest(req.ApiMessage, "InvalidToxicAttribute", req.Hint);
            var stream = Stream.ToLowerInvariant();
            return ToxicSpec.Create(type, stream, toxicity, attrs, Name, strings);
        }
        catch (ChaosException e)
        {
            ThrowChaosError(e);
            throw; // unreachable
        }
    }

    /// <summary>What a fault acts on, for -WhatIf: the stream and toxicity, or for an HTTP fault the share of which requests.</summary>
    protected static string Describe(ToxicSpec spec)
    {
        if (!ToxicTypes.IsHttp(spec.Type)) return $"{spec.Stream}, toxicity {spec.Toxicity}";
        string method = spec.StringAttr("method"), path = spec.StringAttr("path");
        var settings = string.Join(' ', spec.Attributes.Where(kv => kv.Value != 0 || kv.Key == "after_bytes").Select(kv => $"{kv.Key}={kv.Value}"));
        return $"{spec.Toxicity * 100:0.##}% of {(method is "" or "*" ? "all" : method)} requests to {(path is "" or "*" ? "any path" : path)}"
            + (settings.Length > 0 ? $", {settings}" : "");
    }

    protected string DescribeTarget() => $"proxy '{Proxy}'" + (string.IsNullOrEmpty(ToxiproxyUri) ? "" : $" at {ToxiproxyUri}");
}

/// <summary>Base of the network cmdlets: engine calls whose ChaosException becomes a non-terminating error.</summary>
public abstract class NetworkCmdletBase : ChaosCmdlet
{
    /// <summary>Runs engine work; on a ChaosException writes it as a non-terminating error and returns false.</summary>
    protected bool TryRun<T>(Func<IChaosReporter, CancellationToken, Task<T>> work, out T? result)
    {
        var (ok, value, error) = RunEngine<(bool, T?, ChaosException?)>(async (r, ct) =>
        {
            try { return (true, await work(r, ct).ConfigureAwait(false), null); }
            catch (ChaosException e) { return (false, default, e); }
        });
        if (!ok) WriteChaosError(error!);
        result = value;
        return ok;
    }

    protected bool TryRun(Func<IChaosReporter, CancellationToken, Task> work)
        => TryRun<object?>(async (r, ct) => { await work(r, ct).ConfigureAwait(false); return null; }, out _);

    /// <summary>The backend for -ToxiproxyUri (built-in proxies when empty); a bad URI is a terminating error.</summary>
    protected object BackendFor(string? uri)
    {
        try { return ProxyBackend.For(uri); }
        catch (ChaosException e) { ThrowChaosError(e); throw; }
    }
}
