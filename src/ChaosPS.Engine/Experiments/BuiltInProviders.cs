using System.Diagnostics;
using System.Globalization;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace ChaosPS.Experiments;

/// <summary>
/// Chaos Toolkit's http provider: {url, method (GET), headers, arguments, timeout (seconds or [connect, read]),
/// verify_tls (true), expected_status}. Output {status, headers, body}; body is parsed JSON when the response says
/// it is JSON, else text. A connection error or timeout fails the activity; any HTTP status is an output.
/// </summary>
public sealed class HttpActivityProvider : IActivityProvider
{
    public string Type => "http";

    public void Validate(JsonObject p, string path, ExperimentValidation v)
    {
        string? url = p["url"]?.ToString();
        if (string.IsNullOrEmpty(url)) v.Add(ExperimentException.Ids.MissingField, path + ".url", "expected 'url': an absolute http(s) URL");
        else if (!Uri.TryCreate(url, UriKind.Absolute, out var u) || u.Scheme is not ("http" or "https"))
            v.Add(ExperimentException.Ids.Invalid, path + ".url", $"'{url}' is not an absolute http(s) URL");
        if (p["method"] is { } m && (m.GetValueKind() != JsonValueKind.String || m.ToString().Length == 0))
            v.Add(ExperimentException.Ids.Invalid, path + ".method", "expected an HTTP method such as GET or POST");
        if (p["headers"] is { } h && h is not JsonObject) v.Add(ExperimentException.Ids.Invalid, path + ".headers", "expected an object of header: value");
        if (p["timeout"] is { } t && Json.Num(t) is null && !(t is JsonArray ta && ta.Count == 2 && ta.All(x => Json.Num(x) is not null)))
            v.Add(ExperimentException.Ids.Invalid, path + ".timeout", "expected seconds, or [connect, read] seconds");
        if (p["verify_tls"] is { } vt && vt.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
            v.Add(ExperimentException.Ids.Invalid, path + ".verify_tls", "expected true or false");
    }

    public Task<string> PlanAsync(JsonObject p, string path, CancellationToken ct)
        => Task.FromResult($"HTTP {(p["method"]?.ToString() ?? "GET").ToUpperInvariant()} {p["url"]}");

    public async Task<object?> RunAsync(ActivityCall call, CancellationToken ct)
    {
        var p = call.Provider;
        string method = (p["method"]?.ToString() ?? "GET").ToUpperInvariant();
        string url = p["url"]!.ToString();
        double connect = 30, read = 30;
        if (Json.Num(p["timeout"]) is { } t) connect = read = t;
        else if (p["timeout"] is JsonArray ta) { connect = Json.Num(ta[0])!.Value; read = Json.Num(ta[1])!.Value; }
        bool verify = p["verify_tls"] is not JsonValue vt || vt.GetValueKind() != JsonValueKind.False;

        using var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(connect), UseProxy = false, AllowAutoRedirect = true };
        if (!verify) handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
        using var client = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        using var req = new HttpRequestMessage(new HttpMethod(method), url);
        string? contentType = null;
        if (p["headers"] is JsonObject headers)
            foreach (var (k, hv) in headers)
            {
                string val = hv is JsonValue sv && sv.GetValueKind() == JsonValueKind.String ? sv.GetValue<string>() : hv?.ToJsonString() ?? "";
                if (k.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) contentType = val;
                else req.Headers.TryAddWithoutValidation(k, val);
            }
        if (p["arguments"] is { } args)
        {
            if (method is "GET" or "HEAD" or "DELETE" or "OPTIONS")
            {
                // Chaos Toolkit sends arguments as the query string for these methods.
                if (args is JsonObject qa && qa.Count > 0)
                {
                    var sb = new StringBuilder(url.Contains('?') ? "&" : "?");
                    sb.AppendJoin('&', qa.Select(kv => Uri.EscapeDataString(kv.Key) + "=" + Uri.EscapeDataString(kv.Value is JsonValue jv && jv.GetValueKind() == JsonValueKind.String ? jv.GetValue<string>() : kv.Value?.ToJsonString() ?? "")));
                    req.RequestUri = new Uri(url + sb);
                }
            }
            else if (contentType is not null && contentType.Contains("json", StringComparison.OrdinalIgnoreCase) || contentType is null && args is not JsonObject)
                req.Content = new StringContent(args is JsonValue s && s.GetValueKind() == JsonValueKind.String ? s.GetValue<string>() : args.ToJsonString(), Encoding.UTF8, contentType ?? "application/json");
            else if (args is JsonObject form && (contentType is null || contentType.Contains("form", StringComparison.OrdinalIgnoreCase)))
                req.Content = new FormUrlEncodedContent(form.Select(kv => new KeyValuePair<string, string>(kv.Key, kv.Value is JsonValue jv && jv.GetValueKind() == JsonValueKind.String ? jv.GetValue<string>() : kv.Value?.ToJsonString() ?? "")));
            else
                req.Content = new StringContent(args.ToJsonString(), Encoding.UTF8, contentType!);
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(TimeSpan.FromSeconds(connect + read));
        HttpResponseMessage resp;
        try
        {
            resp = await client.SendAsync(req, HttpCompletionOption.ResponseContentRead, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new ActivityFailedException($"HTTP {method} {url} timed out after {connect + read:0.###} s");
        }
        catch (HttpRequestException e)
        {
            throw new ActivityFailedException($"HTTP {method} {url} failed: {e.Message}", e);
        }
        using (resp)
        {
            var headersOut = new JsonObject();
            foreach (var h in resp.Headers.Concat(resp.Content.Headers)) headersOut[h.Key] = string.Join(", ", h.Value);
            string text = await resp.Content.ReadAsStringAsync(ct).ConfigureAwait(false);
            JsonNode? body = JsonValue.Create(text);
            if (resp.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.OrdinalIgnoreCase) == true)
            {
                try { body = JsonNode.Parse(text); } catch (JsonException) { }
            }
            int status = (int)resp.StatusCode;
            if (p["expected_status"] is { } es && Json.Num(es) is { } want && want != status)
                throw new ActivityFailedException($"HTTP {method} {url} answered {status}, expected {want}");
            return new JsonObject { ["status"] = status, ["headers"] = headersOut, ["body"] = body };
        }
    }
}

/// <summary>
/// Chaos Toolkit's process provider: {path, arguments (a string split like a shell would, or a list), timeout}.
/// Output {status: exit code, stdout, stderr}. A process that cannot start or runs past its timeout (it is killed)
/// fails the activity; a non-zero exit code is an output, judged by the tolerance.
/// </summary>
public sealed class ProcessActivityProvider : IActivityProvider
{
    public string Type => "process";

    public void Validate(JsonObject p, string path, ExperimentValidation v)
    {
        if (string.IsNullOrEmpty(p["path"]?.ToString())) v.Add(ExperimentException.Ids.MissingField, path + ".path", "expected 'path': the program to run");
        if (p["arguments"] is { } a && !(a is JsonArray || a.GetValueKind() == JsonValueKind.String))
            v.Add(ExperimentException.Ids.Invalid, path + ".arguments", "expected a string or a list of strings");
        if (p["timeout"] is { } t && (Json.Num(t) is not { } s || s <= 0))
            v.Add(ExperimentException.Ids.Invalid, path + ".timeout", "expected seconds greater than 0");
    }

    public Task<string> PlanAsync(JsonObject p, string path, CancellationToken ct)
        => Task.FromResult($"run {p["path"]} {string.Join(' ', Arguments(p))}".TrimEnd());

    internal static List<string> Arguments(JsonObject p) => p["arguments"] switch
    {
        JsonArray a => a.Select(x => x is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : x?.ToJsonString() ?? "").ToList(),
        JsonValue s when s.GetValueKind() == JsonValueKind.String => Split(s.GetValue<string>()),
        _ => [],
    };

    /// <summary>Splits a command line like a POSIX shell (quotes and backslash escapes; no expansion).</summary>
    internal static List<string> Split(string line)
    {
        var result = new List<string>();
        var cur = new StringBuilder();
        bool any = false; char quote = '\0';
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (quote == '\'') { if (c == '\'') quote = '\0'; else cur.Append(c); continue; }
            if (quote == '"')
            {
                if (c == '"') quote = '\0';
                else if (c == '\\' && i + 1 < line.Length && line[i + 1] is '"' or '\\' or '$' or '`') cur.Append(line[++i]);
                else cur.Append(c);
                continue;
            }
            if (char.IsWhiteSpace(c)) { if (any) { result.Add(cur.ToString()); cur.Clear(); any = false; } continue; }
            any = true;
            if (c is '\'' or '"') quote = c;
            else if (c == '\\' && i + 1 < line.Length) cur.Append(line[++i]);
            else cur.Append(c);
        }
        if (any) result.Add(cur.ToString());
        return result;
    }

    public async Task<object?> RunAsync(ActivityCall call, CancellationToken ct)
    {
        var p = call.Provider;
        var psi = new ProcessStartInfo(p["path"]!.ToString())
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
        };
        foreach (var a in Arguments(p)) psi.ArgumentList.Add(a);
        using var proc = new Process { StartInfo = psi };
        try { proc.Start(); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            throw new ActivityFailedException($"could not start '{psi.FileName}': {e.Message}", e);
        }
        proc.StandardInput.Close();
        var stdout = proc.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var stderr = proc.StandardError.ReadToEndAsync(CancellationToken.None);
        double? timeout = Json.Num(p["timeout"]);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (timeout is { } t) cts.CancelAfter(TimeSpan.FromSeconds(t));
        try
        {
            await proc.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { proc.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            await proc.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            if (ct.IsCancellationRequested) throw;
            throw new ActivityFailedException($"'{psi.FileName}' ran past its timeout of {timeout!.Value.ToString(CultureInfo.InvariantCulture)} s and was killed");
        }
        return new JsonObject { ["status"] = proc.ExitCode, ["stdout"] = await stdout.ConfigureAwait(false), ["stderr"] = await stderr.ConfigureAwait(false) };
    }
}
