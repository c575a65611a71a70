using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace ChaosPS.Testbed;

/// <summary>One inference request as Invoke-ChaosInference reports it.</summary>
public sealed class InferenceResult
{
    public int Index { get; init; }
    public Uri Uri { get; init; } = new("http://127.0.0.1/");
    public int StatusCode { get; init; }
    public bool Success => StatusCode == 200 && Error is null;
    public string? Worker { get; init; }
    public int Attempts { get; init; }
    public bool Stream { get; init; }
    public int Tokens { get; init; }
    public string? Text { get; init; }
    /// <summary>Time to the first token: the first SSE event when streaming, the whole answer otherwise.</summary>
    public TimeSpan TimeToFirstToken { get; init; }
    public TimeSpan Duration { get; init; }
    public string? Error { get; init; }
}

/// <summary>Sends real inference requests (JSON or SSE) to a router or a worker.</summary>
public static class InferenceClient
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 1024, ConnectTimeout = TimeSpan.FromSeconds(5) })
    { Timeout = Timeout.InfiniteTimeSpan };

    public static async Task<InferenceResult> SendAsync(Uri baseUri, int index, string prompt, int maxTokens, bool stream, TimeSpan timeout, CancellationToken ct)
    {
        var uri = new Uri(baseUri, "/v1/infer");
        var body = JsonSerializer.Serialize(new { prompt, max_tokens = maxTokens, stream });
        using var req = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        var sw = Stopwatch.StartNew();
        try
        {
            using var resp = await Http.SendAsync(req, HttpCompletionOption.ResponseHeadersRead, cts.Token).ConfigureAwait(false);
            string? worker = resp.Headers.TryGetValues("X-ChaosPS-Worker", out var w) ? w.FirstOrDefault() : null;
            int attempts = resp.Headers.TryGetValues("X-ChaosPS-Attempts", out var a) && int.TryParse(a.FirstOrDefault(), out var n) ? n : 1;
            if (stream && resp.Content.Headers.ContentType?.MediaType == "text/event-stream")
            {
                using var reader = new StreamReader(await resp.Content.ReadAsStreamAsync(cts.Token).ConfigureAwait(false));
                var text = new StringBuilder();
                int tokens = 0;
                TimeSpan first = TimeSpan.Zero;
                bool done = false;
                while (await reader.ReadLineAsync(cts.Token).ConfigureAwait(false) is { } line)
                {
                    if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                    var data = line[6..];
                    if (data == "[DONE]") { done = true; break; }
                    if (tokens == 0) first = sw.Elapsed;
                    using var doc = JsonDocument.Parse(data);
                    if (text.Length > 0) text.Append(' ');
                    text.Append(doc.RootElement.GetProperty("token").GetString());
                    tokens++;
                }
                return new InferenceResult
                {
                    Index = index, Uri = UriRedaction.Redact(uri), StatusCode = (int)resp.StatusCode, Worker = worker, Attempts = attempts, Stream = true, Tokens = tokens,
                    Text = text.ToString(), TimeToFirstToken = first, Duration = sw.Elapsed,
                    Error = done ? null : $"the stream ended after {tokens} tokens without [DONE]",
                };
            }
            var content = await resp.Content.ReadAsStringAsync(cts.Token).ConfigureAwait(false);
            var elapsed = sw.Elapsed;
            string? error = null, answer = null;
            int count = 0;
            try
            {
                using var doc = JsonDocument.Parse(content);
                if (doc.RootElement.TryGetProperty("error", out var e)) error = e.TryGetProperty("message", out var m) ? m.GetString() : e.ToString();
                if (doc.RootElement.TryGetProperty("text", out var t)) answer = t.GetString();
                if (doc.RootElement.TryGetProperty("usage", out var u)) count = u.GetProperty("completion_tokens").GetInt32();
            }
            catch (JsonException) { error = $"not JSON: {content[..Math.Min(content.Length, 120)]}"; }
            if (error is null && !resp.IsSuccessStatusCode) error = $"HTTP {(int)resp.StatusCode}";
            return new InferenceResult
            {
                Index = index, Uri = UriRedaction.Redact(uri), StatusCode = (int)resp.StatusCode, Worker = worker, Attempts = attempts, Stream = stream,
                Tokens = count, Text = answer, TimeToFirstToken = elapsed, Duration = elapsed, Error = error,
            };
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is OperationCanceledException && !ct.IsCancellationRequested))
        {
            return new InferenceResult
            {
                Index = index, Uri = UriRedaction.Redact(uri), StatusCode = 0, Stream = stream, Duration = sw.Elapsed,
                Error = e is OperationCanceledException ? $"timed out after {DurationParser.Format(timeout)}" : e.InnerException?.Message ?? e.Message,
            };
        }
    }
}
