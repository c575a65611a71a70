using System.Reflection;

namespace ChaosPS.Faults;

/// <summary>
/// Carries out one kind of undo step. Implementations are found by reflection in the engine, so the watchdog
/// (a separate process) can run every undo a cmdlet can. Throw <see cref="UndoTargetGoneException"/> when the thing
/// to restore no longer exists: the step then counts as done, with a warning.
/// </summary>
public interface IUndoHandler
{
    string Action { get; }
    Task UndoAsync(UndoStep step, CancellationToken ct);
}

/// <summary>The target of an undo step is gone (process exited, container removed): nothing left to restore.</summary>
public sealed class UndoTargetGoneException(string message) : Exception(message);

public static class UndoExecutor
{
    private static readonly Lazy<Dictionary<string, IUndoHandler>> Handlers = new(() =>
        typeof(IUndoHandler).Assembly.GetTypes()
            .Where(t => typeof(IUndoHandler).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false } && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (IUndoHandler)Activator.CreateInstance(t)!)
            .ToDictionary(h => h.Action, StringComparer.OrdinalIgnoreCase));

    public static bool IsKnown(string action) => Handlers.Value.ContainsKey(action);

    /// <summary>Runs one step. Returns null on success, a warning text when the target was already gone.</summary>
    public static async Task<string?> RunAsync(UndoStep step, CancellationToken ct)
    {
        if (!Handlers.Value.TryGetValue(step.Action, out var handler))
            throw new InvalidOperationException($"No undo handler for '{step.Action}'.");
        try
        {
            await handler.UndoAsync(step, ct).ConfigureAwait(false);
            return null;
        }
        catch (UndoTargetGoneException gone)
        {
            return gone.Message;
        }
    }
}

/// <summary>Sends a signal to a process identified by pid + start stamp (e.g. SIGCONT after a suspend).</summary>
public sealed class SignalUndo : IUndoHandler
{
    public string Action => "signal";

    public static UndoStep Step(int pid, string signal, string? description = null)
        => new("signal", description ?? $"send SIG{signal} to process {pid}",
            ("pid", pid.ToString()), ("signal", signal), ("start", ProcessIdentity.StartStamp(pid) ?? ""));

    public Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        int pid = int.Parse(step.Arg("pid"));
        var start = step.Args.GetValueOrDefault("start");
        if (!ProcessIdentity.IsAlive(pid, string.IsNullOrEmpty(start) ? null : start))
            throw new UndoTargetGoneException($"process {pid} is gone; nothing to {step}");
        if (!PosixSignals.Send(pid, PosixSignals.Parse(step.Arg("signal"))))
            throw new UndoTargetGoneException($"process {pid} exited before it could be signalled");
        return Task.CompletedTask;
    }
}

/// <summary>Kills a helper process ChaosPS started (a stressor, a hog) and waits until it is gone.</summary>
public sealed class KillProcessUndo : IUndoHandler
{
    public string Action => "kill-process";

    public static UndoStep Step(int pid, string? description = null)
        => new("kill-process", description ?? $"kill process {pid}", ("pid", pid.ToString()), ("start", ProcessIdentity.StartStamp(pid) ?? ""));

    public async Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        int pid = int.Parse(step.Arg("pid"));
        var start = step.Args.GetValueOrDefault("start");
        var stamp = string.IsNullOrEmpty(start) ? null : start;
        if (!ProcessIdentity.IsAlive(pid, stamp)) throw new UndoTargetGoneException($"process {pid} had already exited");
        PosixSignals.Send(pid, 9);
        for (int i = 0; i < 100 && ProcessIdentity.IsAlive(pid, stamp); i++) await Task.Delay(20, ct).ConfigureAwait(false);
    }
}

/// <summary>Deletes a file or folder ChaosPS created (fill files, temp data).</summary>
public sealed class DeletePathUndo : IUndoHandler
{
    public string Action => "delete-path";

    public static UndoStep Step(string path) => new("delete-path", $"delete {path}", ("path", path));

    public Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        var path = step.Arg("path");
        if (File.Exists(path)) File.Delete(path);
        else if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        else throw new UndoTargetGoneException($"{path} was already gone");
        return Task.CompletedTask;
    }
}

/// <summary>Sends an HTTP request (e.g. DELETE a toxic on a proxy's API) to undo a fault held by another process.</summary>
public sealed class HttpUndo : IUndoHandler
{
    private static readonly HttpClient Client = new() { Timeout = TimeSpan.FromSeconds(10) };
    public string Action => "http";

    public static UndoStep Step(string method, string uri, string? body = null, string? description = null)
    {
        var s = new UndoStep("http", description ?? $"{method} {uri}", ("method", method), ("uri", uri));
        if (body is not null) s.Args["body"] = body;
        return s;
    }

    public async Task UndoAsync(UndoStep step, CancellationToken ct)
    {
        using var req = new HttpRequestMessage(new HttpMethod(step.Arg("method")), step.Arg("uri"));
        if (step.Args.TryGetValue("body", out var body)) req.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        HttpResponseMessage resp;
        try { resp = await Client.SendAsync(req, ct).ConfigureAwait(false); }
        // Unreachable is not "gone": let the step fail so the record stays and the watchdog retries; a 404 is gone.
        catch (HttpRequestException e) { throw new InvalidOperationException($"{step.Arg("uri")} is not reachable ({e.Message}); will retry", e); }
        using (resp)
        {
            if (resp.StatusCode == System.Net.HttpStatusCode.NotFound) throw new UndoTargetGoneException($"{step.Arg("uri")} answered 404: already undone");
            resp.EnsureSuccessStatusCode();
        }
    }
}
