using System.Text;

namespace ChaosPS.Load;

/// <summary>
/// Incremental HTTP/1.1 response parser for the raw-socket path: status line, headers, Content-Length, chunked
/// (with trailers), read-to-close bodies, 1xx interim responses; SSE/chunk event detection and optional body capture.
/// It works on whatever bytes have arrived (a response may span many reads, a read may hold the next response's
/// first bytes) and allocates nothing per response unless the body is captured for checks.
/// </summary>
internal sealed class Http1ResponseParser
{
    private enum S { StatusLine, Headers, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailers, ReadToEnd, Done }

    private S _s;
    private long _remaining;
    private bool _head;
    private bool _sawNewline; // SSE: the previous significant byte ended a line

    public int Status;
    public long ContentLength;
    public bool Chunked, ConnectionClose, EventStream, Http10;
    public long BodyBytes;

    // Events (SSE events, or chunks of a chunked non-SSE stream).
    public long Events;
    public long FirstEventTicks, LastEventTicks;
    public Action<long, long>? OnEvent; // (now, previous event or 0)

    public bool CaptureBody;
    public byte[] Body = [];
    public int BodyLength;
    public const int MaxCapture = 1 << 20;

    public bool Done => _s == S.Done;
    /// <summary>The body runs until the server closes the connection.</summary>
    public bool ReadsToEnd => _s == S.ReadToEnd;
    public bool IsStreaming => EventStream || Chunked;

    public void Reset(bool head)
    {
        _s = S.StatusLine; _remaining = 0; _head = head; _sawNewline = false;
        Status = 0; ContentLength = -1; Chunked = ConnectionClose = EventStream = Http10 = false;
        BodyBytes = 0; Events = 0; FirstEventTicks = LastEventTicks = 0; BodyLength = 0;
    }

    /// <summary>Consumes what it can of <paramref name="data"/>; returns the bytes consumed (a partial line is left for the next call).</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public int Parse(ReadOnlySpan<byte> data, long now)
    {
        int pos = 0;
        while (pos < data.Length && _s != S.Done)
        {
            var rest = data[pos..];
            switch (_s)
            {
                case S.StatusLine:
                case S.Headers:
                case S.ChunkSize:
                case S.Trailers:
                {
                    int nl = rest.IndexOf((byte)'\n');
                    if (nl < 0) return pos;
                    var line = rest[..nl];
                    if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
                    pos += nl + 1;
                    Line(line, now);
                    break;
                }
                case S.Body:
                {
                    int n = (int)Math.Min(_remaining, rest.Length);
                    OnBody(rest[..n], now);
                    pos += n; _remaining -= n;
                    if (_remaining == 0) _s = S.Done;
                    break;
                }
                case S.ChunkData:
                {
                    int n = (int)Math.Min(_remaining, rest.Length);
                    OnBody(rest[..n], now);
                    pos += n; _remaining -= n;
                    if (_remaining == 0) _s = S.ChunkDataEnd;
                    break;
                }
                case S.ChunkDataEnd:
                {
                    // CRLF after the chunk data.
                    int nl = rest.IndexOf((byte)'\n');
                    if (nl < 0) return data.Length; // only '\r' so far
                    pos += nl + 1;
                    _s = S.ChunkSize;
                    break;
                }
                case S.ReadToEnd:
                    OnBody(rest, now);
                    pos = data.Length;
                    break;
            }
        }
        return pos;
    }

    /// <summary>The server closed the connection; true when that ends the response properly.</summary>
    public bool OnEof()
    {
        if (_s == S.ReadToEnd) { _s = S.Done; return true; }
        return _s == S.Done;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void Line(ReadOnlySpan<byte> line, long now)
    {
        switch (_s)
        {
            case S.StatusLine:
                if (line.Length == 0) return; // tolerate stray CRLF between responses
                // HTTP/1.1 200 OK
                if (line.Length < 12 || !line.StartsWith("HTTP/1."u8)) throw new InvalidDataException("malformed status line");
                Http10 = line[7] == '0';
                Status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
                if (Status < 100 || Status > 599) throw new InvalidDataException("malformed status code");
                ConnectionClose = Http10;
                _s = S.Headers;
                return;
            case S.Headers:
                if (line.Length == 0) { EndOfHeaders(); return; }
                Header(line);
                return;
            case S.ChunkSize:
            {
                int semi = line.IndexOf((byte)';');
                if (semi >= 0) line = line[..semi];
                long size = 0;
                int digits = 0;
                foreach (var b in line)
                {
                    int d = b >= '0' && b <= '9' ? b - '0' : b >= 'a' && b <= 'f' ? b - 'a' + 10 : b >= 'A' && b <= 'F' ? b - 'A' + 10 : b is (byte)' ' or (byte)'\t' ? -1 : -2;
                    if (d == -1) continue;
                    if (d == -2 || ++digits > 15) throw new InvalidDataException("malformed chunk size");
                    size = size * 16 + d;
                }
                if (digits == 0) throw new InvalidDataException("malformed chunk size");
                if (size == 0) { _s = S.Trailers; return; }
                if (!EventStream) Event(now);
                _remaining = size;
                _s = S.ChunkData;
                return;
            }
            case S.Trailers:
                if (line.Length == 0) _s = S.Done;
                return;
        }
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    private void Header(ReadOnlySpan<byte> line)
    {
        int colon = line.IndexOf((byte)':');
        if (colon <= 0) return;
        var name = line[..colon];
        var value = line[(colon + 1)..].Trim(" \t"u8);
        if (EqualsIgnoreCase(name, "content-length"u8))
        {
            long v = 0;
            foreach (var b in value) { if (b < '0' || b > '9') throw new InvalidDataException("malformed content-length"); v = v * 10 + (b - '0'); }
            ContentLength = v;
        }
        else if (EqualsIgnoreCase(name, "transfer-encoding"u8)) Chunked = ContainsIgnoreCase(value, "chunked"u8);
        else if (EqualsIgnoreCase(name, "connection"u8))
        {
            if (ContainsIgnoreCase(value, "close"u8)) ConnectionClose = true;
            else if (ContainsIgnoreCase(value, "keep-alive"u8)) ConnectionClose = false;
        }
        else if (EqualsIgnoreCase(name, "content-type"u8)) EventStream = ContainsIgnoreCase(value, "text/event-stream"u8);
    }

    private void EndOfHeaders()
    {
        if (Status is >= 100 and < 200) { _s = S.StatusLine; return; } // interim response: the real one follows
        if (_head || Status is 204 or 304) { _s = S.Done; return; }
        if (Chunked) { _s = S.ChunkSize; return; }
        if (ContentLength >= 0)
        {
            _remaining = ContentLength;
            _s = ContentLength == 0 ? S.Done : S.Body;
            return;
        }
        ConnectionClose = true;
        _s = S.ReadToEnd;
    }

    /// <summary>Body bytes (also used by the HttpClient path): counts bytes, captures for checks, detects SSE events.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public void OnBody(ReadOnlySpan<byte> data, long now)
    {
        BodyBytes += data.Length;
        if (CaptureBody && BodyLength < MaxCapture)
        {
            int n = Math.Min(data.Length, MaxCapture - BodyLength);
            if (BodyLength + n > Body.Length) Array.Resize(ref Body, Math.Max(Math.Max(Body.Length * 2, 4096), BodyLength + n));
            data[..n].CopyTo(Body.AsSpan(BodyLength));
            BodyLength += n;
        }
        if (!EventStream) return;
        // An SSE event ends at an empty line: "\n\n" (CRs ignored).
        foreach (var b in data)
        {
            if (b == '\r') continue;
            if (b == '\n')
            {
                if (_sawNewline) { Event(now); _sawNewline = false; }
                else _sawNewline = true;
            }
            else _sawNewline = false;
        }
    }

    /// <summary>Records a chunk (non-SSE chunked stream) as an event; the HttpClient path calls it per read.</summary>
    public void Event(long now)
    {
        Events++;
        long prev = LastEventTicks;
        if (FirstEventTicks == 0) FirstEventTicks = now;
        LastEventTicks = now;
        OnEvent?.Invoke(now, prev);
    }

    public string BodyText() => Encoding.UTF8.GetString(Body, 0, BodyLength);

    private static bool EqualsIgnoreCase(ReadOnlySpan<byte> a, ReadOnlySpan<byte> lowerB)
    {
        if (a.Length != lowerB.Length) return false;
        for (int i = 0; i < a.Length; i++)
        {
            byte c = a[i];
            if (c is >= (byte)'A' and <= (byte)'Z') c = (byte)(c + 32);
            if (c != lowerB[i]) return false;
        }
        return true;
    }

    private static bool ContainsIgnoreCase(ReadOnlySpan<byte> hay, ReadOnlySpan<byte> lowerNeedle)
    {
        for (int i = 0; i + lowerNeedle.Length <= hay.Length; i++)
            if (EqualsIgnoreCase(hay.Slice(i, lowerNeedle.Length), lowerNeedle)) return true;
        return false;
    }
}
