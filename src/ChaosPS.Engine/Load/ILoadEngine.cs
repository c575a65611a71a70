namespace ChaosPS.Load;

/// <summary>
/// One way of sending a run's requests (<see cref="HttpClientEngine"/>, <see cref="AsyncSocketEngine"/>,
/// <see cref="EpollEngine"/>). An engine gets the run's <see cref="LoadRunContext"/> when it is made and talks to the run
/// only through it: it asks for work (NextAsync, or TryClaimOpen/TryClaimClosed without waiting, then ThinkAsync),
/// reports each request (Complete, Fail with a kind from Classify, Record for a timing, InFlight and BytesOut), and
/// reads the run's settings (Options, NeedsBody, TimeoutTicks, StopRequested, StoppingHard).
/// <see cref="LoadEngineSelector"/> picks the engine for a run.
/// </summary>
internal interface ILoadEngine : IDisposable
{
    /// <summary>The engine as the result names it (Epoll, RawSocket, RawSocket/TLS, HttpClient, HttpClient/HTTP2).</summary>
    string Name { get; }

    /// <summary>Opens the connections and starts sending; the tasks end when the run has no more work for them.</summary>
    Task[] Start();

    /// <summary>The run stops: a soft stop lets requests in flight finish (the engine sees StopRequested); a hard stop
    /// aborts them now (the run has set StoppingHard and cancelled its stop token before it calls this).</summary>
    void Stop(bool hard);

    /// <summary>Closed model, ramping down: virtual user <paramref name="connection"/> is above the current level and
    /// waits; an engine that keeps a connection per user may close it if it is idle.</summary>
    void ReleaseIdle(int connection);
}
