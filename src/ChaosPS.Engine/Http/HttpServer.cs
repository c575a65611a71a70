using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;

namespace ChaosPS.Http;

/// <summary>What differs between the servers built on <see cref="HttpServer"/>: limits, chunked request bodies,
/// the idle timeout, the listener's socket options and the shape of the server's own error answers.</summary>
public sealed class HttpServerOptions
{
    /// <summary>Request line plus headers; more is answered 431.</summary>
    public int MaxHeaderBytes { get; init; } = 32 * 1024;

    /// <summary>A larger body (declared or, chunked, received) is answered 413.</summary>
    public int MaxBodyBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Accept Transfer-Encoding: chunked request bodies; when false they are answered 411.</summary>
    public bool ChunkedRequestBodies { get; init; }

    /// <summary>Close a connection that sends no (complete) request for this long; null: never.</summary>
    public TimeSpan? IdleTimeout { get; init; }

    public int Backlog { get; init; } = 4096;

    /// <summary>Socket options set before bind; null: SO_REUSEADDR.</summary>
    public Action<Socket>? ConfigureListener { get; init; }

    /// <summary>How long <see cref="HttpServer.StopAsync"/> lets requests in flight finish before it closes their connections.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>The body of the server's own answers (400, 411, 413, 431, and 500 when a handler throws before it
    /// answered): status and message in, content type and bytes out. Null: {"error":{"type":...,"message":...}}.</summary>
    public Func<int, string, (string ContentType, byte[] Body)>? ErrorBody { get; init; }
}

/// <summary>
/// A small HTTP/1.1 server on raw sockets: keep-alive, pipelined requests, Content-Length and (optionally) chunked
/// request bodies, whole or chunked responses (server-sent events), limits on header and body size, and a graceful
/// stop. No ASP.NET dependency, so the testbed runs anywhere the .NET runtime does (a container built from the
/// host's runtime included) and the toxiproxy API needs no web framework in the PowerShell session.
/// </summary>
public sealed class HttpServer : IAsyncDisposable
{
    private readonly Socket _listener;
    private readonly Func<HttpRequest, HttpResponse, Task> _handler;
    private readonly HttpServerOptions _options;
    private readonly CancellationTokenSource _cts = new();
    private readonly ConcurrentDictionary<Socket, byte> _open = new();
    private Task? _acceptLoop;
    private int _connections, _inFlight, _stopped;

    /// <summary>Binds and listens (call <see cref="Start"/> to accept). A failed bind throws a
    /// <see cref="ChaosException"/> with <see cref="ListenErrors"/>' id (ListenAddressInUse or ListenFailed) and the
    /// <see cref="SocketException"/> as its inner exception.</summary>
    public HttpServer(IPEndPoint endpoint, Func<HttpRequest, HttpResponse, Task> handler, HttpServerOptions? options = null)
    {
        _handler = handler;
        _options = options ?? new HttpServerOptions();
        _listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (_options.ConfigureListener is { } configure) configure(_listener);
            else _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            _listener.Bind(endpoint);
            _listener.Listen(_options.Backlog);
        }
        catch (SocketException e)
        {
            _listener.Dispose();
            var (id, category, reason) = ListenErrors.Describe(e);
            throw new ChaosException(id, category, $"Cannot listen on {endpoint}: {reason}.", endpoint.ToString(), null, e);
        }
        LocalEndPoint = (IPEndPoint)_listener.LocalEndPoint!;
    }

    public IPEndPoint LocalEndPoint { get; }
    public int Port => LocalEndPoint.Port;
    public int OpenConnections => Volatile.Read(ref _connections);

    /// <summary>Requests whose handler is running now.</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    public void Start() => _acceptLoop ??= AcceptLoop();

    private async Task AcceptLoop()
    {
        while (!_cts.IsCancellationRequested)
        {
            Socket s;
            try { s = await _listener.AcceptAsync(_cts.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { if (_cts.IsCancellationRequested) return; continue; }
            s.NoDelay = true;
            _ = Task.Run(() => ServeConnection(s));
        }
    }

    private async Task ServeConnection(Socket socket)
    {
        Interlocked.Increment(ref _connections);
        _open.TryAdd(socket, 0);
        var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = new RequestReader(stream, _options);
        try
        {
            while (!_cts.IsCancellationRequested)
            {
                CancellationTokenSource? idle = null;
                var ct = _cts.Token;
                if (_options.IdleTimeout is { } timeout)
                {
                    idle = CancellationTokenSource.CreateLinkedTokenSource(_cts.Token);
                    idle.CancelAfter(timeout);
                    ct = idle.Token;
                }
                HttpRequest? req;
                try { req = await reader.ReadAsync(ct).ConfigureAwait(false); }
                catch (BadRequestException e) { await Reject(stream, e.Status, e.Message).ConfigureAwait(false); await LingerAsync(socket).ConfigureAwait(false); return; }
                finally { idle?.Dispose(); }
                if (req is null) return;
                var resp = new HttpResponse(stream, req);
                Interlocked.Increment(ref _inFlight);
                try
                {
                    await _handler(req, resp).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not IOException && !resp.Started)
                {
                    var (type, body) = ErrorBody(500, e.Message);
                    await resp.SendAsync(500, type, body).ConfigureAwait(false);
                }
                finally { Interlocked.Decrement(ref _inFlight); }
                if (!req.KeepAlive) return;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException) { }
        finally
        {
            reader.Dispose();
            _open.TryRemove(socket, out _);
            await stream.DisposeAsync().ConfigureAwait(false);
            Interlocked.Decrement(ref _connections);
        }
    }

    private (string ContentType, byte[] Body) ErrorBody(int status, string message)
        => _options.ErrorBody is { } f ? f(status, message)
            : ("application/json", Encoding.UTF8.GetBytes(
                $"{{\"error\":{{\"type\":\"{(status == 500 ? "internal" : "bad_request")}\",\"message\":{Json.Quote(message)}}}}}"));

    private async Task Reject(Stream stream, int status, string message)
    {
        var (type, body) = ErrorBody(status, message);
        await new HttpResponse(stream, new HttpRequest { KeepAlive = false }).SendAsync(status, type, body).ConfigureAwait(false);
    }

    /// <summary>After an error answer to a request whose rest is still arriving: close our side, then read and drop
    /// what the client still sends (up to 1 MiB or 1 s), so that closing does not reset the connection before the client
    /// has read the answer (as Go's net/http does).</summary>
    private static async Task LingerAsync(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            var sink = ArrayPool<byte>.Shared.Rent(16 * 1024);
            try
            {
                for (int total = 0; total < 1024 * 1024;)
                {
                    int n = await socket.ReceiveAsync(sink, SocketFlags.None, cts.Token).ConfigureAwait(false);
                    if (n == 0) break;
                    total += n;
                }
            }
            finally { ArrayPool<byte>.Shared.Return(sink); }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException) { }
    }

    /// <summary>
    /// Stops accepting and closes idle connections at once; requests in flight may finish and answer for up to
    /// <see cref="HttpServerOptions.DrainTimeout"/>, then their connections are closed too.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        _cts.Cancel();
        _listener.Dispose();
        if (_acceptLoop is not null) await _acceptLoop.ConfigureAwait(false);
        var deadline = Environment.TickCount64 + (long)_options.DrainTimeout.TotalMilliseconds;
        while (Volatile.Read(ref _connections) > 0 && Environment.TickCount64 < deadline)
            await Task.Delay(10).ConfigureAwait(false);
        foreach (var s in _open.Keys)
        {
            try { s.Shutdown(SocketShutdown.Both); } catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            s.Dispose();
        }
    }

    public ValueTask DisposeAsync() => new(StopAsync());

    internal sealed class BadRequestException(int status, string message) : Exception(message)
    {
        public int Status { get; } = status;
    }

    /// <summary>Reads requests off one connection through one buffer (pipelined requests stay in it).</summary>
    private sealed class RequestReader(Stream stream, HttpServerOptions options) : IDisposable
    {
        private byte[] _buf = ArrayPool<byte>.Shared.Rent(16 * 1024);
        private int _start, _end;

        public void Dispose()
        {
            var b = Interlocked.Exchange(ref _buf, []);
            if (b.Length > 0) ArrayPool<byte>.Shared.Return(b);
        }

        /// <summary>The next request, or null when the peer closed the connection between requests or mid-request.</summary>
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))] // per request: no allocation when it waits
        public async ValueTask<HttpRequest?> ReadAsync(CancellationToken ct)
        {
            // Blank lines before a request line are ignored (RFC 9112 2.2).
            while (true)
            {
                while (_end - _start >= 2 && _buf[_start] == '\r' && _buf[_start + 1] == '\n') _start += 2;
                if (_end - _start >= 2 || (_end - _start == 1 && _buf[_start] != '\r')) break;
                if (!await FillAsync(ct).ConfigureAwait(false)) return null;
            }
            int headerEnd;
            while ((headerEnd = IndexOf("\r\n\r\n"u8)) < 0)
            {
                if (_end - _start >= options.MaxHeaderBytes) throw new BadRequestException(431, "request headers too large");
                if (!await FillAsync(ct).ConfigureAwait(false)) return null;
            }
            if (headerEnd - _start > options.MaxHeaderBytes) throw new BadRequestException(431, "request headers too large");
            var req = ParseHead(_buf, _start, headerEnd) ?? throw new BadRequestException(400, "malformed request line or header");
            _start = headerEnd + 4;
            if (req.Headers.TryGetValue("Transfer-Encoding", out var te) && te.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                if (!options.ChunkedRequestBodies) throw new BadRequestException(411, "chunked request bodies are not supported; send Content-Length");
                var chunked = await ReadChunkedAsync(ct).ConfigureAwait(false);
                if (chunked is null) return null;
                req.Body = chunked;
            }
            else
            {
                int length = 0;
                if (req.Headers.TryGetValue("Content-Length", out var cl) && (!int.TryParse(cl, NumberStyles.None, CultureInfo.InvariantCulture, out length) || length < 0))
                    throw new BadRequestException(400, "bad Content-Length");
                if (length > options.MaxBodyBytes) throw new BadRequestException(413, "body too large");
                var body = length == 0 ? [] : new byte[length];
                if (!await ReadExactAsync(body, ct).ConfigureAwait(false)) return null;
                req.Body = body;
            }
            if (_start == _end) _start = _end = 0;
            return req;
        }

        private async Task<byte[]?> ReadChunkedAsync(CancellationToken ct)
        {
            using var ms = new MemoryStream();
            while (true)
            {
                var sizeLine = await ReadLineAsync(ct).ConfigureAwait(false);
                if (sizeLine is null) return null;
                var hex = sizeLine.Split(';')[0].Trim();
                if (!long.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size) || size < 0)
                    throw new BadRequestException(400, "bad chunk size");
                if (size == 0)
                {
                    string? trailer;
                    while ((trailer = await ReadLineAsync(ct).ConfigureAwait(false)) is { Length: > 0 }) { }
                    return trailer is null ? null : ms.ToArray();
                }
                if (ms.Length + size > options.MaxBodyBytes) throw new BadRequestException(413, "body too large");
                var chunk = new byte[size];
                if (!await ReadExactAsync(chunk, ct).ConfigureAwait(false)) return null;
                ms.Write(chunk);
                var end = await ReadLineAsync(ct).ConfigureAwait(false);
                if (end is null) return null;
                if (end.Length != 0) throw new BadRequestException(400, "chunk not followed by CRLF");
            }
        }

        private async Task<string?> ReadLineAsync(CancellationToken ct)
        {
            while (true)
            {
                int i = Array.IndexOf(_buf, (byte)'\n', _start, _end - _start);
                if (i >= 0)
                {
                    var line = Encoding.Latin1.GetString(_buf, _start, i - _start).TrimEnd('\r');
                    _start = i + 1;
                    return line;
                }
                if (_end - _start >= options.MaxHeaderBytes) throw new BadRequestException(400, "chunk line too long");
                if (!await FillAsync(ct).ConfigureAwait(false)) return null;
            }
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<bool> ReadExactAsync(byte[] into, CancellationToken ct)
        {
            int have = Math.Min(into.Length, _end - _start);
            Buffer.BlockCopy(_buf, _start, into, 0, have);
            _start += have;
            while (have < into.Length)
            {
                int n = await stream.ReadAsync(into.AsMemory(have), ct).ConfigureAwait(false);
                if (n == 0) return false;
                have += n;
            }
            return true;
        }

        private int IndexOf(ReadOnlySpan<byte> what)
        {
            int i = _buf.AsSpan(_start, _end - _start).IndexOf(what);
            return i < 0 ? -1 : _start + i;
        }

        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<bool> FillAsync(CancellationToken ct)
        {
            if (_end == _buf.Length)
            {
                if (_start > 0) { Buffer.BlockCopy(_buf, _start, _buf, 0, _end - _start); _end -= _start; _start = 0; }
                else
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(_buf.Length * 2);
                    Buffer.BlockCopy(_buf, 0, bigger, 0, _end);
                    ArrayPool<byte>.Shared.Return(_buf);
                    _buf = bigger;
                }
            }
            int n = await stream.ReadAsync(_buf.AsMemory(_end), ct).ConfigureAwait(false);
            if (n == 0) return false;
            _end += n;
            return true;
        }

        private static HttpRequest? ParseHead(byte[] buf, int start, int headerEnd)
        {
            var text = Encoding.Latin1.GetString(buf, start, headerEnd - start);
            var lines = text.Split("\r\n");
            var parts = lines[0].Split(' ');
            if (parts.Length != 3 || parts[0].Length == 0 || !parts[2].StartsWith("HTTP/1.", StringComparison.Ordinal)) return null;
            var target = parts[1];
            int q = target.IndexOf('?');
            var req = new HttpRequest
            {
                Method = parts[0],
                Path = q < 0 ? target : target[..q],
                Query = q < 0 ? "" : target[(q + 1)..],
            };
            for (int i = 1; i < lines.Length; i++)
            {
                int c = lines[i].IndexOf(':');
                if (c <= 0) return null;
                req.Headers[lines[i][..c].Trim()] = lines[i][(c + 1)..].Trim();
            }
            bool http10 = parts[2] == "HTTP/1.0";
            req.Headers.TryGetValue("Connection", out var conn);
            req.KeepAlive = http10 ? string.Equals(conn, "keep-alive", StringComparison.OrdinalIgnoreCase)
                                   : !string.Equals(conn, "close", StringComparison.OrdinalIgnoreCase);
            return req;
        }
    }
}
