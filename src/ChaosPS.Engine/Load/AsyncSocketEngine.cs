using System.Diagnostics;
using System.Net;

namespace ChaosPS.Load;

/// <summary>
/// The async raw-socket engine: one <see cref="IConnectionWorker"/> per connection, each a single async loop over its
/// own keep-alive socket (<see cref="ConnectionWorker"/>): <see cref="RawWorker"/> for plain http://, <see cref="TlsWorker"/> (SslStream) when some
/// request is https://. A 50 ms timer checks every worker for a request past -Timeout (no per-request timers).
/// </summary>
internal sealed class AsyncSocketEngine : ILoadEngine
{
    private readonly List<IConnectionWorker> _workers = [];
    private readonly bool _tls;
    private Timer? _timeouts;

    public AsyncSocketEngine(LoadRunContext run, EndPoint[] endpoints, int connections)
    {
        _tls = run.Options.UsesTls;
        if (_tls)
        {
            var tls = TlsWorker.OptionsFor(run.Options);
            for (int i = 0; i < connections; i++) _workers.Add(new TlsWorker(run, i, endpoints, tls));
        }
        else
            for (int i = 0; i < connections; i++) _workers.Add(new RawWorker(run, i, endpoints));
    }

    public string Name => _tls ? LoadEngineSelector.RawSocketTls : LoadEngineSelector.RawSocket;

    public Task[] Start()
    {
        var tasks = _workers.Select(w => Task.Run(w.RunAsync)).ToArray();
        _timeouts = new Timer(_ =>
        {
            long t = Stopwatch.GetTimestamp();
            foreach (var w in _workers) w.CheckTimeout(t);
        }, null, 50, 50);
        return tasks;
    }

    /// <summary>A hard stop closes every socket: the requests in flight end at once.</summary>
    public void Stop(bool hard)
    {
        if (hard) foreach (var w in _workers) w.Abort();
    }

    public void ReleaseIdle(int connection)
    {
        if (connection < _workers.Count) _workers[connection].CloseIdle();
    }

    public void Dispose()
    {
        foreach (var w in _workers) w.Dispose();
        _timeouts?.Dispose();
    }
}
