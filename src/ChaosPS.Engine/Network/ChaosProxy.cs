using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace ChaosPS.Network;

/// <summary>
/// A fault-injecting TCP proxy with toxiproxy's semantics: connections accepted and dialled on the relay loops (x64
/// Linux; elsewhere an async accept loop), a non-blocking upstream dial with a connect timeout (a slow upstream never
/// holds up other accepts), per-direction toxic chains applied to live links in creation order, and live metrics. Every control operation is a short critical section that never waits on I/O, so the
/// control plane cannot hang (toxiproxy#558).
/// </summary>
public sealed class ChaosProxy
{
    private readonly object _lock = new();
    private readonly List<ToxicSpec> _toxics = [];
    private readonly HashSet<Link> _links = [];
    private Socket? _listener;
    private RelayLoop.Listener? _relayListener;
    private CancellationTokenSource? _acceptCts;
    private long _nextLinkId;

    internal ChaosProxy(string name, string listen, string upstream, TimeSpan? connectTimeout, bool allowNonLoopback, string mode = "tcp")
    {
        Name = name;
        Mode = ProxyModes.Normalize(mode);
        Listen = listen;
        Upstream = upstream;
        ConnectTimeout = connectTimeout ?? TimeSpan.FromSeconds(5);
        AllowNonLoopback = allowNonLoopback;
    }

    public string Name { get; }
    /// <summary>The listen address: as given while the proxy never listened, the bound address once it did.</summary>
    public string Listen { get; private set; }
    public string Upstream { get; private set; }
    public bool Enabled { get; private set; }
    public TimeSpan ConnectTimeout { get; set; }
    public bool AllowNonLoopback { get; }
    /// <summary>tcp (bytes only) or http (HTTP/1.x parsed per request, so the http_* toxics can act on single requests).</summary>
    public string Mode { get; }
    public bool IsHttp => Mode == "http";
    /// <summary>The HTTP toxics in creation order (replaced as a whole under the lock; the request stages read it lock-free).</summary>
    internal volatile HttpRule[] HttpRules = [];
    private ToxicSpec? _httpStageSpec;
    public DateTimeOffset CreatedAt { get; } = DateTimeOffset.UtcNow;
    internal ProxyMetrics MetricsCore { get; } = new();
    internal object SyncRoot => _lock;
    /// <summary>Whether new links use the relay loop for toxic-free bytes (tests turn it off to cover the managed path alone).</summary>
    internal bool UseRelay { get; set; } = RelayLoop.Supported;
    /// <summary>The open links (tests look at their state).</summary>
    internal Link[] Links { get { lock (_lock) return [.. _links]; } }

    /// <summary>True while the listener is open (enabled and no refuse_connect partition).</summary>
    public bool Listening { get { lock (_lock) return _listener is not null; } }

    public IReadOnlyList<ToxicSpec> Toxics
    {
        get
        {
            lock (_lock)
                return _toxics.Where(t => t.Stream == "upstream").Concat(_toxics.Where(t => t.Stream == "downstream"))
                    .Concat(_toxics.Where(t => t.Stream == "both")).Select(t => t.Clone()).ToList();
        }
    }

    public int ActiveConnections { get { lock (_lock) return _links.Count; } }

    // ---------------------------------------------------------------- lifecycle

    /// <summary>Opens the listener (no-op when already enabled). Throws a 500 ProxyException naming the address when it cannot bind.</summary>
    public void Enable()
    {
        lock (_lock)
        {
            if (Enabled) return;
            if (!HasRefuse()) OpenListener();
            Enabled = true;
        }
    }

    /// <summary>Closes the listener and every connection; keeps the toxics.</summary>
    public void Disable()
    {
        List<Link> links;
        lock (_lock)
        {
            if (!Enabled) return;
            Enabled = false;
            CloseListener();
            links = [.. _links];
        }
        foreach (var l in links) l.Close("proxy disabled");
    }

    /// <summary>Changes listen and/or upstream; a different address restarts the proxy (dropping connections), like toxiproxy.</summary>
    public void Update(string? listen, string? upstream, bool? enabled)
    {
        bool restart;
        lock (_lock)
        {
            var newListen = listen is null ? Listen : ListenAddress.Normalize(listen, AllowNonLoopback);
            restart = (listen is not null && !ListenAddress.SameResolved(newListen, Listen)) || (upstream is not null && upstream != Upstream);
            if (restart && Enabled)
            {
                Disable();
                Listen = newListen;
                if (upstream is not null) Upstream = upstream;
                Enable();
            }
            else
            {
                if (listen is not null && !Enabled) Listen = newListen;
                if (upstream is not null) Upstream = upstream;
            }
        }
        if (enabled == true) Enable();
        else if (enabled == false) Disable();
    }

    private void OpenListener()
    {
        var ep = ListenAddress.Resolve(Listen, AllowNonLoopback);
        var s = new Socket(ep.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            ListenAddress.AllowTimeWaitReuse(s);
            // Accepted sockets inherit TCP_NODELAY from the listener on Linux (one setsockopt per proxy, not per connection).
            if (UseRelay) s.NoDelay = true;
            s.Bind(ep);
            s.Listen(1024);
        }
        catch (SocketException e)
        {
            s.Dispose();
            var (id, category, reason) = ListenErrors.Describe(e);
            throw new ProxyException(500, $"listen tcp {ListenAddress.Format(ep)}: bind: {reason}", id, category,
                $"Proxy '{Name}' cannot listen on {ListenAddress.Format(ep)}: {reason}.",
                Listen, "Choose another port (or port 0 for a free one), or stop what listens there.", e);
        }
        Listen = ListenAddress.Format((IPEndPoint)s.LocalEndPoint!);
        _listener = s;
        if (UseRelay)
        {
            // Accepted on a relay loop's thread, which dials and relays the connection too (no thread-pool hop).
            _relayListener = RelayLoop.Listener.Start(s, (client, loop) => _ = HandleAsync(client, loop));
            return;
        }
        _acceptCts = new CancellationTokenSource();
        var ct = _acceptCts.Token;
        _ = Task.Run(() => AcceptLoopAsync(s, ct));
    }

    private void CloseListener()
    {
        _relayListener?.Close(); // out of the loops' epoll sets before the socket is closed
        _relayListener = null;
        _acceptCts?.Cancel();
        _listener?.Dispose();
        _listener = null;
        _acceptCts = null;
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            Socket client;
            try { client = await listener.AcceptAsync(ct).ConfigureAwait(false); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
            {
                if (ct.IsCancellationRequested) return;
                if (e is SocketException { SocketErrorCode: SocketError.ConnectionAborted or SocketError.ConnectionReset }) continue;
                return;
            }
            _ = Task.Run(() => HandleAsync(client, null));
        }
    }

    /// <summary>
    /// One accepted connection: reset_on_connect, the dial, the link and its chains. <paramref name="loop"/> is the relay
    /// loop that accepted it (null: the managed accept loop); the link is relayed by the loop that dialled it.
    /// </summary>
    private async Task HandleAsync(Socket client, RelayLoop? loop)
    {
        if (loop is null) client.NoDelay = true; // a relay loop's listener has it, and accepted sockets inherit it
        Interlocked.Increment(ref MetricsCore.ConnectionsTotal);
        // reset_on_connect (ChaosPS): a "connection reset" partition, decided per connection by toxicity.
        ToxicSpec? resetOnConnect = null;
        lock (_lock)
            foreach (var t in _toxics)
                if (t.Type == ResetOnConnectToxic.Name) { resetOnConnect = t; break; }
        if (resetOnConnect is not null && (resetOnConnect.Toxicity >= 1 || Random.Shared.NextDouble() < resetOnConnect.Toxicity))
        {
            Interlocked.Increment(ref resetOnConnect.ActivationCount);
            Interlocked.Increment(ref MetricsCore.Refused);
            try { client.LingerState = new LingerOption(true, 0); } catch (SocketException) { }
            client.Dispose();
            return;
        }
        var (server, relay) = await DialAsync(loop).ConfigureAwait(false);
        if (server is null)
        {
            // toxiproxy closes the client when the upstream cannot be reached: the client sees EOF.
            Interlocked.Increment(ref MetricsCore.DialFailures);
            try { client.Shutdown(SocketShutdown.Both); } catch (SocketException) { }
            client.Dispose();
            return;
        }
        if (relay is null) server.NoDelay = true; // the relay's dial set TCP_NODELAY already
        var link = new Link(this, client, server, Interlocked.Increment(ref _nextLinkId), relay);
        lock (_lock)
        {
            if (!Enabled)
            {
                client.Dispose(); server.Dispose();
                return;
            }
            _links.Add(link);
            Interlocked.Increment(ref MetricsCore.ConnectionsActive);
            // Build the chains under the lock: a toxic added now can neither miss this link nor be applied twice (toxiproxy#148).
            HttpExchange? http = null;
            if (IsHttp)
            {
                http = new HttpExchange(this) { Down = link.Down };
                _httpStageSpec ??= new ToxicSpec { Name = "(http)", Type = "noop", Stream = "both", StreamAsSent = "both" };
            }
            // No toxics and tcp mode (the common case): no chain to build.
            if (http is not null || _toxics.Count > 0)
            foreach (bool up in new[] { true, false })
            {
                var toxics = _toxics.Where(t => t.AppliesTo(up) && ToxicTypes.RunsInChain(t.Type)).Select(t => LinkToxic.Create(t, link, up));
                // HTTP mode: the HTTP stage runs first in each direction, so the TCP toxics still act on what it passes.
                LinkToxic[] chain = http is null ? [.. toxics]
                    : [up ? new HttpRequestStage(_httpStageSpec!, link, http) : new HttpResponseStage(_httpStageSpec!, link, http), .. toxics];
                link.PipeFor(up).Chain = chain;
                if (http is not null) link.PipeFor(up).InlineStage = (IInlineHttpStage)chain[0];
                foreach (var lt in chain) lt.Started();
            }
        }
        link.Start();
    }

    /// <summary>The upstream socket (null when it cannot be reached in time) and the relay loop that dialled it (null: managed).</summary>
    private async Task<(Socket?, RelayLoop?)> DialAsync(RelayLoop? loop)
    {
        string upstream;
        lock (_lock) upstream = Upstream;
        // An IP literal upstream (the usual case) is parsed once and dialled without a lookup.
        if (UseRelay && _upstreamEndPoint is { } cached && ReferenceEquals(cached.Address, upstream))
        {
            var relay = loop ?? RelayLoop.Pick();
            try { return (await relay.ConnectAsync(cached.EndPoint, ConnectTimeout).ConfigureAwait(false), relay); }
            catch (Exception e) when (e is SocketException or OperationCanceledException) { return (null, null); }
        }
        using var cts = new CancellationTokenSource(ConnectTimeout);
        try
        {
            var (host, port) = ListenAddress.Split(upstream);
            if (UseRelay && IPAddress.TryParse(host, out var literal)) _upstreamEndPoint = new(upstream, new IPEndPoint(literal, port));
            IPAddress[] addresses;
            if (IPAddress.TryParse(host, out var ip)) addresses = [ip];
            else
            {
                if (loop is { IsCurrent: true }) await Task.Yield(); // a name lookup may block: not on a relay loop's thread
                addresses = await Dns.GetHostAddressesAsync(host, cts.Token).ConfigureAwait(false);
            }
            foreach (var a in addresses.OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1))
            {
                if (UseRelay)
                {
                    var relay = loop ?? RelayLoop.Pick();
                    try { return (await relay.ConnectAsync(new IPEndPoint(a, port), cts.Token).ConfigureAwait(false), relay); }
                    catch (Exception e) when (e is SocketException or OperationCanceledException)
                    {
                        if (cts.IsCancellationRequested) return (null, null);
                    }
                    continue;
                }
                var s = new Socket(a.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    await s.ConnectAsync(new IPEndPoint(a, port), cts.Token).ConfigureAwait(false);
                    return (s, null);
                }
                catch (Exception e) when (e is SocketException or OperationCanceledException)
                {
                    s.Dispose();
                    if (cts.IsCancellationRequested) return (null, null);
                }
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or FormatException or ChaosException) { }
        return (null, null);
    }

    /// <summary>The parsed upstream, while it is an IP literal (keyed by the string it was parsed from).</summary>
    private volatile UpstreamEndPoint? _upstreamEndPoint;
    private sealed record UpstreamEndPoint(string Address, IPEndPoint EndPoint);

    internal void LinkClosed(Link link)
    {
        lock (_lock)
        {
            if (_links.Remove(link)) Interlocked.Decrement(ref MetricsCore.ConnectionsActive);
        }
    }

    // ---------------------------------------------------------------- toxics

    private bool HasRefuse() => _toxics.Any(t => t.Type == RefuseConnectToxic.Name);

    public ToxicSpec AddToxic(ToxicSpec spec)
    {
        lock (_lock)
        {
            if (_toxics.Any(t => t.Name == spec.Name))
                throw new ProxyException(409, "toxic already exists", "ToxicExists", ChaosErrorCategory.ResourceExists,
                    $"Proxy '{Name}' already has a toxic named '{spec.Name}'.", spec.Name, "Give the fault another -Name, or remove the existing one first.");
            if (ToxicTypes.IsHttp(spec.Type) && !IsHttp)
                throw ProxyException.BadRequest($"toxic type {spec.Type} needs a proxy in http mode; proxy {Name} is in tcp mode", "HttpFaultNeedsHttpMode",
                    $"A {spec.Type} fault acts on HTTP requests, and proxy '{Name}' relays plain TCP.", Name);
            spec.FillDefaults();
            ToxicTypes.Validate(spec.Type, spec.Toxicity, spec.Attrs, spec.StringAttrs);
            spec.Selector = new RequestSelector();
            _toxics.Add(spec);
            if (spec.Type == RefuseConnectToxic.Name) { if (Enabled) CloseListener(); }
            else if (ToxicTypes.IsHttp(spec.Type)) RebuildHttpRules();
            else if (!ToxicTypes.IsConnectionLevel(spec.Type))
            {
                foreach (var link in _links)
                    foreach (bool up in new[] { true, false })
                    {
                        if (!spec.AppliesTo(up)) continue;
                        var pipe = link.PipeFor(up);
                        var lt = LinkToxic.Create(spec, link, up);
                        pipe.Chain = [.. pipe.Chain, lt];
                        lt.Started();
                    }
            }
            return spec.Clone();
        }
    }

    public ToxicSpec UpdateToxic(string name, double? toxicity, IReadOnlyDictionary<string, long>? attributes,
        IReadOnlyDictionary<string, string>? strings = null)
    {
        lock (_lock)
        {
            var spec = _toxics.FirstOrDefault(t => t.Name == name) ?? throw ProxyException.ToxicNotFound(Name, name);
            var attrs = new Dictionary<string, long>(spec.Attrs);
            if (attributes is not null) foreach (var (k, v) in attributes) attrs[k] = v;
            var strs = new Dictionary<string, string>(spec.StringAttrs);
            if (strings is not null) foreach (var (k, v) in strings) strs[k] = v;
            var tox = toxicity ?? spec.Toxicity;
            ToxicTypes.Validate(spec.Type, tox, attrs, strs);
            spec.Toxicity = tox;
            foreach (var (k, v) in attrs) spec.Attrs[k] = v;
            foreach (var (k, v) in strs) spec.StringAttrs[k] = v;
            spec.Version++;
            if (ToxicTypes.IsHttp(spec.Type)) RebuildHttpRules();
            foreach (var link in _links)
                foreach (var lt in link.Up.Chain.Concat(link.Down.Chain))
                    if (ReferenceEquals(lt.Spec, spec)) lt.Updated();
            return spec.Clone();
        }
    }

    public void RemoveToxic(string name)
    {
        lock (_lock)
        {
            var spec = _toxics.FirstOrDefault(t => t.Name == name) ?? throw ProxyException.ToxicNotFound(Name, name);
            RemoveLocked(spec);
        }
    }

    /// <summary>Removes every toxic (what /reset does), keeping connections open.</summary>
    public void RemoveAllToxics()
    {
        lock (_lock)
            foreach (var t in _toxics.ToList()) RemoveLocked(t);
    }

    /// <summary>Publishes the HTTP toxics (under the lock): the live spec for counters, a copy for settings.</summary>
    private void RebuildHttpRules() => HttpRules = _toxics.Where(t => ToxicTypes.IsHttp(t.Type)).Select(t => new HttpRule(t, t.Clone())).ToArray();

    private void RemoveLocked(ToxicSpec spec)
    {
        _toxics.Remove(spec);
        if (ToxicTypes.IsHttp(spec.Type)) { RebuildHttpRules(); return; }
        if (spec.Type == RefuseConnectToxic.Name && Enabled && !HasRefuse() && _listener is null) OpenListener();
        foreach (var link in _links.ToList())
            foreach (bool up in new[] { true, false })
            {
                var pipe = link.PipeFor(up);
                var mine = pipe.Chain.Where(lt => ReferenceEquals(lt.Spec, spec)).ToList();
                if (mine.Count == 0) continue;
                pipe.Chain = pipe.Chain.Where(lt => !ReferenceEquals(lt.Spec, spec)).ToArray();
                foreach (var lt in mine) lt.RemovedFromChain(); // may close the link (timeout); never blocks
            }
    }

    public ToxicSpec GetToxic(string name)
    {
        lock (_lock) return (_toxics.FirstOrDefault(t => t.Name == name) ?? throw ProxyException.ToxicNotFound(Name, name)).Clone();
    }

    public bool HasToxic(string name) { lock (_lock) return _toxics.Any(t => t.Name == name); }

    /// <summary>Stops the proxy for good: listener and connections closed, toxics discarded.</summary>
    internal void Shutdown()
    {
        Disable();
        lock (_lock) _toxics.Clear();
    }

    // ---------------------------------------------------------------- views

    public ChaosProxyInfo Snapshot()
    {
        var m = MetricsCore;
        var toxics = Toxics;
        lock (_lock)
        {
            return new ChaosProxyInfo
            {
                Name = Name, Listen = Listen, Upstream = UriRedaction.Redact(Upstream)!, Enabled = Enabled, Listening = _listener is not null,
                Mode = Mode,
                HttpRequests = IsHttp ? Interlocked.Read(ref m.HttpRequests) : null,
                HttpAnswered = IsHttp ? Interlocked.Read(ref m.HttpAnswered) : null,
                ActiveConnections = _links.Count,
                ConnectionsTotal = Interlocked.Read(ref m.ConnectionsTotal),
                DialFailures = Interlocked.Read(ref m.DialFailures),
                RefusedConnections = Interlocked.Read(ref m.Refused),
                Resets = Interlocked.Read(ref m.Resets),
                BytesUpstream = Interlocked.Read(ref m.BytesUpstream),
                BytesDownstream = Interlocked.Read(ref m.BytesDownstream),
                ToxicActivations = toxics.Sum(t => t.ActivationCount),
                Toxics = toxics.Select(t => NetworkFaultInfo.From(Name, t, null)).ToList(),
                ConnectTimeout = ConnectTimeout,
                CreatedAt = CreatedAt,
            };
        }
    }

    /// <summary>toxiproxy's proxy object: name, listen, upstream, enabled, toxics (when asked).</summary>
    public void WriteJson(Utf8JsonWriter w, bool withToxics = true)
    {
        string listen, upstream; bool enabled;
        lock (_lock) { listen = Listen; upstream = Upstream; enabled = Enabled; }
        w.WriteStartObject();
        w.WriteString("name", Name);
        w.WriteString("listen", listen);
        w.WriteString("upstream", upstream);
        w.WriteBoolean("enabled", enabled);
        if (IsHttp) w.WriteString("mode", Mode); // a ChaosPS field: absent in tcp mode, so those objects stay toxiproxy's exactly
        if (withToxics)
        {
            w.WriteStartArray("toxics");
            foreach (var t in Toxics) t.WriteJson(w);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }
}

/// <summary>The proxy modes: tcp (toxiproxy's byte relay) and http (HTTP/1.x aware, for the http_* toxics).</summary>
public static class ProxyModes
{
    public static string Normalize(string? mode)
    {
        var m = (mode ?? "").Trim().ToLowerInvariant();
        if (m is "" or "tcp") return "tcp";
        if (m == "http") return "http";
        throw ProxyException.BadRequest($"mode must be tcp or http, got '{mode}'", "InvalidProxyMode", $"'{mode}' is not a proxy mode; use Tcp or Http.", mode);
    }
}

/// <summary>Parsing and checking of host:port addresses (loopback only unless allowed).</summary>
public static class ListenAddress
{
    public static (string Host, int Port) Split(string address)
    {
        int i = address.LastIndexOf(':');
        if (i < 0) throw new ProxyException(500, $"listen tcp: address {address}: missing port in address", "InvalidAddress", ChaosErrorCategory.InvalidArgument,
            $"'{address}' has no port; use host:port, e.g. 127.0.0.1:8080.", address);
        var host = address[..i].Trim('[', ']');
        if (!int.TryParse(address[(i + 1)..], out var port) || port < 0 || port > 65535)
            throw new ProxyException(500, $"listen tcp: address {address}: invalid port", "InvalidAddress", ChaosErrorCategory.InvalidArgument, $"'{address}' has no valid port.", address);
        return (host, port);
    }

    /// <summary>Resolves a listen address; hosts other than loopback need <paramref name="allowNonLoopback"/>.</summary>
    public static IPEndPoint Resolve(string address, bool allowNonLoopback)
    {
        if (string.IsNullOrEmpty(address)) address = "127.0.0.1:0";
        var (host, port) = Split(address);
        IPAddress ip;
        if (host is "" or "localhost") ip = IPAddress.Loopback;
        else if (!IPAddress.TryParse(host, out ip!))
        {
            try { ip = Dns.GetHostAddresses(host).OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).First(); }
            catch (Exception e) when (e is SocketException or InvalidOperationException)
            {
                throw new ProxyException(500, $"listen tcp: lookup {host}: no such host", "InvalidAddress", ChaosErrorCategory.InvalidArgument,
                    $"Cannot resolve '{host}'.", address, null, e);
            }
        }
        if (!allowNonLoopback && !Loopback.IsHost(ip.ToString())) // the resolved address, so a name that means loopback passes
            throw new ProxyException(403, $"listen address {address} is not a loopback address; it needs an explicit opt-in (-AllowNonLoopback)",
                "NonLoopbackListen", ChaosErrorCategory.PermissionDenied,
                $"Listening on {address} would expose the proxy beyond this machine.", address,
                "Listen on 127.0.0.1 or ::1, or pass -AllowNonLoopback if you mean it.");
        return new IPEndPoint(ip, port);
    }

    public static string Normalize(string address, bool allowNonLoopback) { Resolve(address, allowNonLoopback); return address; }

    public static bool SameResolved(string a, string b)
    {
        try
        {
            var x = Resolve(a, true); var y = Resolve(b, true);
            return x.Address.Equals(y.Address) && (x.Port == y.Port);
        }
        catch (ChaosException) { return false; }
    }

    /// <summary>
    /// Sets plain SO_REUSEADDR (rebinding over TIME_WAIT connections, so a re-enabled proxy gets its port back). .NET's
    /// ReuseAddress option also sets SO_REUSEPORT on Unix, which would let two proxies share a port: not wanted.
    /// </summary>
    public static void AllowTimeWaitReuse(Socket s)
    {
        if (OperatingSystem.IsLinux()) s.SetRawSocketOption(1, 2, BitConverter.GetBytes(1));
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD()) s.SetRawSocketOption(0xffff, 4, BitConverter.GetBytes(1));
    }

    public static string Format(IPEndPoint ep) => ep.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{ep.Address}]:{ep.Port}" : $"{ep.Address}:{ep.Port}";
}
