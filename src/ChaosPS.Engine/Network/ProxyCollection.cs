namespace ChaosPS.Network;

/// <summary>
/// The proxies of this process, by name (toxiproxy's proxy collection). <see cref="Default"/> is the one the cmdlets
/// and Start-ChaosProxyServer share, so a proxy made with Start-ChaosProxy is visible to toxiproxy clients and back.
/// Proxies live as long as the process (they do not belong to a pipeline or a runspace).
/// </summary>
public sealed class ProxyCollection
{
    private readonly object _lock = new();
    private readonly SortedDictionary<string, ChaosProxy> _proxies = new(StringComparer.Ordinal);

    public static ProxyCollection Default { get; } = new();

    /// <summary>Default upstream connect timeout for new proxies.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Whether proxies may listen on non-loopback addresses (the API server's explicit switch).</summary>
    public bool AllowNonLoopback { get; set; }

    public IReadOnlyList<ChaosProxy> List() { lock (_lock) return [.. _proxies.Values]; }

    public ChaosProxy Get(string name)
    {
        lock (_lock) return _proxies.TryGetValue(name, out var p) ? p : throw ProxyException.ProxyNotFound(name);
    }

    public bool TryGet(string name, out ChaosProxy? proxy) { lock (_lock) return _proxies.TryGetValue(name, out proxy); }

    /// <summary>Creates and (when enabled) starts a proxy. Nothing is stored when it cannot listen.</summary>
    public ChaosProxy Create(string name, string listen, string upstream, bool enabled = true, TimeSpan? connectTimeout = null, bool? allowNonLoopback = null,
        string mode = "tcp")
    {
        mode = ProxyModes.Normalize(mode);
        if (string.IsNullOrEmpty(name)) throw ProxyException.BadRequest("missing required field: name", "MissingProxyName", "A proxy needs a name.");
        if (string.IsNullOrEmpty(upstream)) throw ProxyException.BadRequest("missing required field: upstream", "MissingUpstream", "A proxy needs an upstream host:port.");
        bool allow = allowNonLoopback ?? AllowNonLoopback;
        lock (_lock)
        {
            if (_proxies.ContainsKey(name))
                throw new ProxyException(409, "proxy already exists", "ProxyExists", ChaosErrorCategory.ResourceExists,
                    $"A chaos proxy named '{name}' already exists.", name, "Choose another -Name, or stop the existing proxy with Stop-ChaosProxy.");
            var p = new ChaosProxy(name, string.IsNullOrEmpty(listen) ? "127.0.0.1:0" : listen, upstream, connectTimeout ?? ConnectTimeout, allow, mode);
            ListenAddress.Resolve(p.Listen, allow); // bad or non-loopback address: error before anything exists
            if (enabled) p.Enable(); // throws (nothing stored) when the address is in use
            _proxies[name] = p;
            return p;
        }
    }

    public void Remove(string name)
    {
        ChaosProxy p;
        lock (_lock)
        {
            if (!_proxies.Remove(name, out p!)) throw ProxyException.ProxyNotFound(name);
        }
        p.Shutdown();
    }

    /// <summary>/reset: every proxy enabled again, every toxic removed, connections kept. Stops at the first failure.</summary>
    public void Reset()
    {
        foreach (var p in List())
        {
            p.RemoveAllToxics();
            p.Enable();
        }
    }

    public sealed record PopulateItem(string Name, string Listen, string Upstream, bool Enabled, string Mode = "tcp");

    /// <summary>
    /// /populate: validates every entry first (nothing is created when one lacks a name or upstream), then creates in
    /// order and stops at the first failure. An existing proxy with the same resolved listen and upstream is kept as is.
    /// </summary>
    public List<ChaosProxy> Populate(IReadOnlyList<PopulateItem> items, out ProxyException? failure)
    {
        failure = null;
        for (int i = 0; i < items.Count; i++)
        {
            if (string.IsNullOrEmpty(items[i].Name)) throw ProxyException.BadRequest($"missing required field: name at proxy {i + 1}", "MissingProxyName");
            if (string.IsNullOrEmpty(items[i].Upstream)) throw ProxyException.BadRequest($"missing required field: upstream at proxy {i + 1}", "MissingUpstream");
            ProxyModes.Normalize(items[i].Mode);
        }
        var done = new List<ChaosProxy>();
        foreach (var item in items)
        {
            try
            {
                if (TryGet(item.Name, out var existing) && existing is not null)
                {
                    if (ListenAddress.SameResolved(existing.Listen, string.IsNullOrEmpty(item.Listen) ? "127.0.0.1:0" : item.Listen) && existing.Upstream == item.Upstream
                        && existing.Mode == ProxyModes.Normalize(item.Mode))
                    {
                        done.Add(existing);
                        continue;
                    }
                    Remove(item.Name);
                }
                done.Add(Create(item.Name, item.Listen, item.Upstream, item.Enabled, mode: item.Mode));
            }
            catch (ProxyException e)
            {
                failure = e;
                break;
            }
        }
        return done;
    }

    /// <summary>Stops and removes every proxy (tests, module unload).</summary>
    public void Clear()
    {
        foreach (var p in List())
        {
            try { Remove(p.Name); } catch (ProxyException) { }
        }
    }
}
