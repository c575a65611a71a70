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
    /// <summary>The proxy's name (binds from Get-ChaosProxy / Start-ChaosProxy output by property name).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("ProxyName")]
    [ValidateNotBlank, ValidateChaosName]
    public string Proxy { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1)]
    [ValidateSet("Latency", "Bandwidth", "SlowClose", "Timeout", "ResetPeer", "Slicer", "LimitData", "Down",
        "RefuseConnect", "ResetOnConnect", "Noop", IgnoreCase = true)]
    public string Type { get; set; } = "";

    /// <summary>Upstream = client to server, Downstream = server to client (toxiproxy's default), Both = each way.</summary>
    [Parameter]
    [ValidateSet("Upstream", "Downstream", "Both", IgnoreCase = true)]
    public string Stream { get; set; } = "Downstream";

    /// <summary>Probability (0..1) that a connection is affected; decided per connection.</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double Toxicity { get; set; } = 1.0;

    /// <summary>The toxic's name; default &lt;type&gt;_&lt;stream&gt; (toxiproxy's default).</summary>
    [Parameter]
    [ValidateNotBlank, ValidateChaosName]
    public string? Name { get; set; }

    /// <summary>Latency: the delay added to each chunk.</summary>
    [Parameter, DurationTransform(RequireUnit = true)]
    [ValidateDuration(AllowZero = true)]
    public TimeSpan? Latency { get; set; }

    /// <summary>Latency: ± jitter (uniform).</summary>
    [Parameter, DurationTransform(RequireUnit = true)]
    [ValidateDuration(AllowZero = true)]
    public TimeSpan? Jitter { get; set; }

    /// <summary>Bandwidth: rate in KB/s (1 KB = 1000 bytes), per connection and direction.</summary>
    [Parameter]
    [ValidateRange(0, long.MaxValue)]
    public long? RateKBps { get; set; }

    /// <summary>SlowClose: delay before the close is passed on. Slicer: delay between pieces (microsecond resolution).</summary>
    [Parameter, DurationTransform(RequireUnit = true)]
    [ValidateDuration(AllowZero = true)]
    public TimeSpan? Delay { get; set; }

    /// <summary>Timeout: idle time before the connection is closed (0 = hold forever). ResetPeer: delay before the reset.</summary>
    [Parameter, DurationTransform(RequireUnit = true)]
    [ValidateDuration(AllowZero = true)]
    public TimeSpan? Timeout { get; set; }

    /// <summary>Slicer: average piece size in bytes (at least 1).</summary>
    [Parameter]
    public long? AverageSize { get; set; }

    /// <summary>Slicer: variation of the piece size in bytes (smaller than AverageSize).</summary>
    [Parameter]
    public long? SizeVariation { get; set; }

    /// <summary>LimitData: bytes passed before the connection is closed.</summary>
    [Parameter, SizeTransform(false)]
    [ValidateNotNull]
    public SizeSpec? Bytes { get; set; }

    /// <summary>Raw toxiproxy attributes (e.g. @{ latency = 500; jitter = 100 }), merged with the typed parameters.</summary>
    [Parameter]
    [ValidateNotNull]
    public Hashtable? Attributes { get; set; }

    /// <summary>Drive the toxiproxy server at this URI (e.g. http://127.0.0.1:8474) instead of the built-in proxies.</summary>
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
            if (type == "slicer" && !attrs.ContainsKey("average_size"))
                throw ProxyException.BadRequest("attribute average_size must be at least 1", "InvalidToxicAttribute", "A Slicer fault needs -AverageSize (bytes, at least 1).");
            if (type == "latency" && !attrs.ContainsKey("latency"))
                throw ProxyException.BadRequest("attribute latency is required", "InvalidToxicAttribute", "A Latency fault needs -Latency (e.g. 500ms).");
            if (type == "bandwidth" && !attrs.ContainsKey("rate"))
                throw ProxyException.BadRequest("attribute rate is required", "InvalidToxicAttribute", "A Bandwidth fault needs -RateKBps.");
            if (type == "limit_data" && !attrs.ContainsKey("bytes"))
                throw ProxyException.BadRequest("attribute bytes is required", "InvalidToxicAttribute", "A LimitData fault needs -Bytes.");
            var stream = Stream.ToLowerInvariant();
            return ToxicSpec.Create(type, stream, Toxicity, attrs, Name);
        }
        catch (ChaosException e)
        {
            ThrowChaosError(e);
            throw; // unreachable
        }
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
