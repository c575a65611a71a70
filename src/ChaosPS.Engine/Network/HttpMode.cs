using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace ChaosPS.Network;

/// <summary>How a message's body is framed (RFC 9112 section 6).</summary>
internal enum BodyKind { None, Length, Chunked, UntilClose }

/// <summary>What the HTTP stages need from a request or response head.</summary>
internal sealed class HttpHead
{
    public string Method = "";
    public string Path = "";
    public int Status;
    public long ContentLength = -1;
    public bool Chunked, Close, Upgrade, ExpectContinue;
}

/// <summary>HTTP/1.x framing: finding the end of a head, parsing it, and walking a body without copying it.</summary>
internal static class HttpWire
{
    /// <summary>The largest head the stages buffer; a longer one is not treated as HTTP (the connection is passed through).</summary>
    public const int MaxHead = 64 * 1024;

    /// <summary>
    /// The index just past the blank line that ends a head, or -1 (then <paramref name="state"/> carries what was seen:
    /// 0 nothing, 1 a line end, 2 a line end and a CR). Jumps from newline to newline.
    /// </summary>
    public static int FindHeadEnd(ReadOnlySpan<byte> s, ref int state)
    {
        int i = 0;
        while (i < s.Length)
        {
            byte b = s[i];
            if (state == 0)
            {
                int j = s[i..].IndexOf((byte)'\n');
                if (j < 0) return -1;
                i += j + 1;
                state = 1;
                continue;
            }
            if (b == '\n') { state = 0; return i + 1; }
            state = b == '\r' && state == 1 ? 2 : 0;
            i++;
        }
        return -1;
    }

    /// <summary>How a request's body is framed (a request without a length or chunking has none).</summary>
    public static BodyKind RequestBody(HttpHead head)
        => head.Chunked ? BodyKind.Chunked : head.ContentLength > 0 ? BodyKind.Length : BodyKind.None;

    /// <summary>How a response's body is framed, given the method of the request it answers (null: not known).</summary>
    public static BodyKind ResponseBody(HttpHead head, string? method)
        => method == "HEAD" || head.Status is 204 or 304 ? BodyKind.None
            : head.Chunked ? BodyKind.Chunked : head.ContentLength >= 0 ? BodyKind.Length : BodyKind.UntilClose;

    /// <summary>An informational response (1xx but 101): the final response to the same request follows.</summary>
    public static bool IsInterim(HttpHead head) => head.Status is >= 100 and < 200 && head.Status != 101;

    /// <summary>Whether a response turns the connection into a tunnel (101, or a 2xx to CONNECT).</summary>
    public static bool StartsTunnel(HttpHead head, string? method) => head.Status == 101 || (method == "CONNECT" && head.Status is >= 200 and < 300);

    /// <summary>Parses a head (request when <paramref name="request"/>, else response); false when it is not HTTP/1.x.</summary>
    public static bool TryParse(ReadOnlySpan<byte> raw, bool request, out HttpHead head)
    {
        head = new HttpHead();
        var text = Encoding.Latin1.GetString(raw);
        int pos = 0;
        // A request may be preceded by empty lines (RFC 9112 section 2.2).
        while (request && pos < text.Length && (text[pos] == '\r' || text[pos] == '\n')) pos++;
        int eol = text.IndexOf('\n', pos);
        if (eol < 0) return false;
        var first = text.AsSpan(pos, eol - pos).TrimEnd('\r');
        bool http10;
        if (request)
        {
            int a = first.IndexOf(' ');
            int b = a < 0 ? -1 : first[(a + 1)..].IndexOf(' ');
            if (a <= 0 || b <= 0) return false;
            head.Method = first[..a].ToString();
            var target = first.Slice(a + 1, b);
            var version = first[(a + 2 + b)..];
            if (!version.StartsWith("HTTP/1.")) return false;
            http10 = version.SequenceEqual("HTTP/1.0");
            // absolute-form (a forward-proxy request) carries a scheme and authority before the path
            int schemeEnd = target.IndexOf("://");
            if (schemeEnd > 0) { var rest = target[(schemeEnd + 3)..]; int slash = rest.IndexOf('/'); target = slash < 0 ? "/" : rest[slash..]; }
            int q = target.IndexOfAny('?', '#');
            head.Path = (q < 0 ? target : target[..q]).ToString();
        }
        else
        {
            if (!first.StartsWith("HTTP/1.") || first.Length < 12 || first[8] != ' ') return false;
            http10 = first.StartsWith("HTTP/1.0");
            if (!int.TryParse(first.Slice(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out head.Status)) return false;
        }
        head.Close = http10;
        pos = eol + 1;
        while (pos < text.Length)
        {
            eol = text.IndexOf('\n', pos);
            if (eol < 0) eol = text.Length;
            var line = text.AsSpan(pos, eol - pos).TrimEnd('\r');
            pos = eol + 1;
            if (line.IsEmpty) break;
            int colon = line.IndexOf(':');
            if (colon <= 0) return false;
            var name = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            if (name.Equals("content-length", StringComparison.OrdinalIgnoreCase))
            {
                if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var len)) return false;
                if (head.ContentLength >= 0 && head.ContentLength != len) return false; // conflicting lengths: not ours to guess
                head.ContentLength = len;
            }
            else if (name.Equals("transfer-encoding", StringComparison.OrdinalIgnoreCase))
            {
                int comma = value.LastIndexOf(',');
                head.Chunked = (comma < 0 ? value : value[(comma + 1)..]).Trim().Equals("chunked", StringComparison.OrdinalIgnoreCase);
                if (!head.Chunked && request) return false; // a request body without a length cannot be framed
            }
            else if (name.Equals("expect", StringComparison.OrdinalIgnoreCase))
                head.ExpectContinue = value.Equals("100-continue", StringComparison.OrdinalIgnoreCase);
            else if (name.Equals("connection", StringComparison.OrdinalIgnoreCase))
            {
                foreach (var token in value.ToString().Split(','))
                {
                    var t = token.Trim();
                    if (t.Equals("close", StringComparison.OrdinalIgnoreCase)) head.Close = true;
                    else if (t.Equals("keep-alive", StringComparison.OrdinalIgnoreCase) && http10) head.Close = false;
                    else if (t.Equals("upgrade", StringComparison.OrdinalIgnoreCase)) head.Upgrade = true;
                }
            }
        }
        return true;
    }
}

/// <summary>Walks one message body (length, chunked or until close), counting its bytes as they pass; never copies.</summary>
internal struct BodyWalker
{
    private BodyKind _kind;
    private long _left;      // Length: bytes left; Chunked: bytes left in the current chunk's data
    private int _st;         // Chunked: 0 size line, 1 extension, 2 data, 3 CRLF after data, 4 trailer line start, 5 in trailer line
    private bool _digit;
    public bool Invalid;

    public void Start(BodyKind kind, long length)
    {
        this = default;
        _kind = kind;
        _left = kind == BodyKind.Length ? Math.Max(0, length) : 0;
    }

    /// <summary>How many bytes of <paramref name="s"/> belong to the body; <paramref name="done"/> when the body ends there.</summary>
    public int Consume(ReadOnlySpan<byte> s, out bool done)
    {
        done = false;
        switch (_kind)
        {
            case BodyKind.None: done = true; return 0;
            case BodyKind.UntilClose: return s.Length;
            case BodyKind.Length:
            {
                int n = (int)Math.Min(_left, s.Length);
                _left -= n;
                done = _left == 0;
                return n;
            }
        }
        int i = 0;
        while (i < s.Length)
        {
            byte b = s[i];
            switch (_st)
            {
                case 0:
                    if (b == '\n') { if (!_digit) { Invalid = true; return i; } _st = _left == 0 ? 4 : 2; _digit = false; i++; continue; }
                    if (b == ';') { _st = 1; i++; continue; }
                    if (b is (byte)'\r' or (byte)' ' or (byte)'\t') { i++; continue; }
                    int v = HexValue(b);
                    if (v < 0 || _left > (long.MaxValue >> 5)) { Invalid = true; return i; }
                    _left = _left * 16 + v;
                    _digit = true;
                    i++;
                    continue;
                case 1:
                {
                    int j = s[i..].IndexOf((byte)'\n');
                    if (j < 0) return s.Length;
                    i += j;
                    _st = 0; // the newline is handled by the size-line state
                    continue;
                }
                case 2:
                {
                    int n = (int)Math.Min(_left, s.Length - i);
                    _left -= n;
                    i += n;
                    if (_left == 0) _st = 3;
                    continue;
                }
                case 3:
                    if (b == '\n') { _st = 0; _left = 0; }
                    else if (b != '\r') { Invalid = true; return i; }
                    i++;
                    continue;
                case 4:
                    if (b == '\n') { done = true; return i + 1; }
                    if (b != '\r') _st = 5;
                    i++;
                    continue;
                default:
                {
                    int j = s[i..].IndexOf((byte)'\n');
                    if (j < 0) return s.Length;
                    i += j + 1;
                    _st = 4;
                    continue;
                }
            }
        }
        return s.Length;
    }

    private static int HexValue(byte b) => b switch
    {
        >= (byte)'0' and <= (byte)'9' => b - '0',
        >= (byte)'a' and <= (byte)'f' => b - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => b - 'A' + 10,
        _ => -1,
    };
}

/// <summary>One request on its way: how its response must be treated (answered here, delayed, slowed, reset).</summary>
internal sealed class HttpRecord
{
    public string Method = "";
    /// <summary>The whole response an answering toxic (http_status) answers with; the request never reaches the upstream.</summary>
    public byte[]? Answer;
    public long DelayMs;
    public long SlowBytesPerSecond;
    public long ResetAfter = -1;
    public bool Tunnel;
}

/// <summary>
/// A link's HTTP state shared by its two stages: the requests in order (the response stage matches each response to
/// its request, and puts answers made here between the upstream's responses in the right place).
/// </summary>
internal sealed class HttpExchange(ChaosProxy proxy)
{
    public readonly ChaosProxy Proxy = proxy;
    private readonly Queue<HttpRecord> _records = new();
    /// <summary>Set once the connection stops being HTTP/1.x (an upgrade, CONNECT, or bytes that do not parse): bytes pass untouched.</summary>
    public volatile bool Tunnel;
    public Pipe? Down;

    public void Add(HttpRecord r) { lock (_records) _records.Enqueue(r); }
    public HttpRecord? Peek() { lock (_records) return _records.TryPeek(out var r) ? r : null; }
    public void Done(HttpRecord r) { lock (_records) if (_records.TryPeek(out var h) && ReferenceEquals(h, r)) _records.Dequeue(); }
}

/// <summary>
/// An HTTP stage the relay loop may run on its own thread for a read that passes unchanged (no fault acts on it): it
/// walks the bytes and says how many of them may be written straight on; the rest goes through the chain, where the
/// stage does what a fault asks. Called only while the direction's chain has nothing queued, so the two never overlap.
/// </summary>
internal interface IInlineHttpStage
{
    /// <summary>How many leading bytes of <paramref name="data"/> pass unchanged (the state moved past them; nothing else changed).</summary>
    int Inline(ReadOnlySpan<byte> data);
}

/// <summary>
/// What both HTTP stages share: the link's exchange, and a head that arrives over several reads (kept until it is
/// whole, then parsed and sent on as one piece).
/// </summary>
internal abstract class HttpStage(ToxicSpec stage, Link link, bool upstream, HttpExchange exchange) : LinkToxic(stage, link, upstream)
{
    protected readonly HttpExchange Exchange = exchange;
    /// <summary>The part of a head that earlier reads brought (empty between heads).</summary>
    protected readonly MemoryStream PendingHead = new();
    /// <summary><see cref="HttpWire.FindHeadEnd"/>'s state between reads.</summary>
    protected int HeadState;

    /// <summary>The kept part of a head as a chunk of its own (and nothing kept any more).</summary>
    protected Chunk TakeHead(long stamp)
    {
        var bytes = PendingHead.ToArray();
        PendingHead.SetLength(0);
        return new Chunk(bytes, 0, bytes.Length, stamp);
    }

    /// <summary>
    /// A read that ends inside a head: sends on the bytes before it that wait ([from, i)) and keeps the head's part. A
    /// head longer than <see cref="HttpWire.MaxHead"/> is not taken for HTTP: the connection becomes a tunnel and the
    /// part is sent on.
    /// </summary>
    protected async ValueTask KeepPartialHeadAsync(Chunk c, int from, int i, Next next)
    {
        if (from < i) await next(c.Slice(from - c.Offset, i - from)).ConfigureAwait(false);
        PendingHead.Write(c.Buffer!, i, c.Offset + c.Count - i);
        if (PendingHead.Length > HttpWire.MaxHead) { Exchange.Tunnel = true; await next(TakeHead(c.Stamp)).ConfigureAwait(false); }
    }

    /// <summary>Parses the head that ends at <paramref name="k"/>, joined to the part earlier reads kept (which then holds it whole).</summary>
    protected bool ParseHead(byte[] buf, int i, int k, bool request, out HttpHead head)
    {
        if (PendingHead.Length == 0) return HttpWire.TryParse(buf.AsSpan(i, k - i), request, out head);
        PendingHead.Write(buf, i, k - i);
        return HttpWire.TryParse(PendingHead.GetBuffer().AsSpan(0, (int)PendingHead.Length), request, out head);
    }
}

/// <summary>
/// The client-to-server stage of a link in HTTP mode (first in the upstream chain, so TCP toxics still apply after it):
/// parses each request head, decides the HTTP faults for it, and swallows the requests a fault answers itself.
/// </summary>
internal sealed class HttpRequestStage(ToxicSpec stage, Link link, HttpExchange ex) : HttpStage(stage, link, true, ex), IInlineHttpStage
{
    private bool _inBody, _swallow;
    private BodyWalker _body;
    /// <summary>A decision the inline walk made for the head the chain starts with (an answer: the chain swallows the request).</summary>
    private HttpRecord? _decided;

    public int Inline(ReadOnlySpan<byte> data)
    {
        if (Exchange.Tunnel) return PendingHead.Length == 0 ? data.Length : 0;
        if (PendingHead.Length > 0 || _decided is not null) return 0;
        int i = 0;
        while (i < data.Length)
        {
            if (_inBody)
            {
                if (_swallow) return i;
                int n = _body.Consume(data[i..], out bool done);
                if (_body.Invalid) { Exchange.Tunnel = true; return data.Length; }
                i += n;
                if (done) _inBody = false;
                continue;
            }
            int nl = HeadState;
            int k = HttpWire.FindHeadEnd(data[i..], ref HeadState);
            if (k < 0) { HeadState = nl; return i; } // a head split across reads: the chain buffers it
            if (!HttpWire.TryParse(data.Slice(i, k), true, out var head)) { Exchange.Tunnel = true; return data.Length; }
            var record = Decide(head);
            if (record.Answer is not null) { HeadState = nl; _decided = record; return i; }
            Exchange.Add(record);
            i += k;
            _swallow = false;
            if (record.Tunnel) { Exchange.Tunnel = true; return data.Length; }
            var kind = HttpWire.RequestBody(head);
            _body.Start(kind, head.ContentLength);
            _inBody = kind != BodyKind.None;
        }
        return data.Length;
    }

    protected override ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        if (Exchange.Tunnel && PendingHead.Length == 0) return next(c);
        return RunAsync(c, next);
    }

    private async ValueTask RunAsync(Chunk c, Next next)
    {
        if (c.Eof || Exchange.Tunnel)
        {
            if (PendingHead.Length > 0) { await next(TakeHead(c.Stamp)).ConfigureAwait(false); }
            await next(c).ConfigureAwait(false);
            return;
        }
        var buf = c.Buffer!;
        int end = c.Offset + c.Count, i = c.Offset, from = c.Offset; // [from, i) waits to be forwarded
        while (i < end && !Exchange.Tunnel)
        {
            if (_inBody)
            {
                int n = _body.Consume(buf.AsSpan(i, end - i), out bool done);
                if (_body.Invalid) { Exchange.Tunnel = true; break; }
                if (_swallow)
                {
                    if (from < i) await next(c.Slice(from - c.Offset, i - from)).ConfigureAwait(false);
                    from = i + n;
                }
                i += n;
                if (done) _inBody = false;
                continue;
            }
            int k = HttpWire.FindHeadEnd(buf.AsSpan(i, end - i), ref HeadState);
            if (k < 0)
            {
                await KeepPartialHeadAsync(c, from, i, next).ConfigureAwait(false);
                from = i = end;
                break;
            }
            k += i;
            if (!ParseHead(buf, i, k, true, out var head))
            {
                Exchange.Tunnel = true;
                if (PendingHead.Length > 0) { await next(TakeHead(c.Stamp)).ConfigureAwait(false); from = k; }
                i = k;
                break;
            }
            var record = _decided ?? Decide(head);
            _decided = null;
            Exchange.Add(record);
            if (record.Answer is not null)
            {
                if (from < i) await next(c.Slice(from - c.Offset, i - from)).ConfigureAwait(false);
                PendingHead.SetLength(0);
                from = k;
                Exchange.Down?.Inject(); // the response stage answers it as soon as the responses before it are through
            }
            else if (PendingHead.Length > 0)
            {
                // The head began in an earlier read: send it whole (this read's part of it included), then go on.
                PendingHead.SetLength(PendingHead.Length - (k - i));
                if (from < i) await next(c.Slice(from - c.Offset, i - from)).ConfigureAwait(false);
                await next(TakeHead(c.Stamp)).ConfigureAwait(false);
                from = i;
            }
            i = k;
            _swallow = record.Answer is not null;
            if (record.Tunnel && !_swallow) { Exchange.Tunnel = true; break; }
            var kind = HttpWire.RequestBody(head);
            _body.Start(kind, head.ContentLength);
            _inBody = kind != BodyKind.None;
        }
        if (from < end) await next(c.Slice(from - c.Offset, end - from)).ConfigureAwait(false);
    }

    /// <summary>Draws every matching HTTP toxic for this request (answering toxics first, in creation order; the first hit
    /// answers) and lets each one that hits write its effect into the request's record.</summary>
    private HttpRecord Decide(HttpHead head)
    {
        var r = new HttpRecord { Method = head.Method, Tunnel = head.Upgrade || head.Method == "CONNECT" };
        var proxy = Exchange.Proxy;
        Interlocked.Increment(ref proxy.MetricsCore.HttpRequests);
        var rules = proxy.HttpRules;
        if (rules.Length == 0) return r;
        foreach (var rule in rules)
            if (rule.Behaviour.Answers && rule.Matches(head.Method, head.Path) && rule.Live.Selector.Next(rule.Settings.Toxicity))
            {
                Interlocked.Increment(ref rule.Live.ActivationCount);
                Interlocked.Increment(ref proxy.MetricsCore.HttpAnswered);
                rule.Behaviour.Apply(rule.Settings, head, r);
                break;
            }
        foreach (var rule in rules)
        {
            var toxic = rule.Behaviour;
            if (toxic.Answers || (r.Answer is not null && !toxic.ActsOnAnswered) || !rule.Matches(head.Method, head.Path)) continue;
            if (!rule.Live.Selector.Next(rule.Settings.Toxicity)) continue;
            Interlocked.Increment(ref rule.Live.ActivationCount);
            toxic.Apply(rule.Settings, head, r);
        }
        return r;
    }
}

/// <summary>
/// The server-to-client stage of a link in HTTP mode (first in the downstream chain): matches each response to its
/// request, puts the answers of http_status faults in their place, and delays the head, slows the body or resets the
/// connection inside the body as the request's faults say.
/// </summary>
internal sealed class HttpResponseStage(ToxicSpec stage, Link link, HttpExchange ex) : HttpStage(stage, link, false, ex), IInlineHttpStage
{
    private enum St { Idle, Head, Body }
    private St _st;
    private BodyWalker _body;
    private HttpRecord? _cur;
    private long _bodySent;

    public int Inline(ReadOnlySpan<byte> data)
    {
        if (PendingHead.Length > 0) return 0;
        int i = 0;
        while (i < data.Length)
        {
            if (Exchange.Tunnel && _st != St.Body) return data.Length;
            if (_st == St.Idle)
            {
                var next = Exchange.Peek();
                // An answer to send first, or a fault on this response: the chain does it.
                if (next is { Answer: not null } or { DelayMs: > 0 } or { SlowBytesPerSecond: > 0 } or { ResetAfter: >= 0 }) return i;
                _cur = next;
                _st = St.Head;
                continue;
            }
            if (_st == St.Head)
            {
                int nl = HeadState;
                int k = HttpWire.FindHeadEnd(data[i..], ref HeadState);
                if (k < 0) { HeadState = nl; return i; }
                if (!HttpWire.TryParse(data.Slice(i, k), false, out var head)) { Exchange.Tunnel = true; _st = St.Idle; return data.Length; }
                i += k;
                if (HttpWire.IsInterim(head)) continue;
                if (HttpWire.StartsTunnel(head, _cur?.Method)) { Exchange.Tunnel = true; _st = St.Idle; return data.Length; }
                var kind = HttpWire.ResponseBody(head, _cur?.Method);
                _body.Start(kind, head.ContentLength);
                _bodySent = 0;
                _st = St.Body;
                if (kind == BodyKind.None || (kind == BodyKind.Length && head.ContentLength == 0)) Finish();
                continue;
            }
            int n = _body.Consume(data[i..], out bool done);
            if (_body.Invalid) { Exchange.Tunnel = true; return data.Length; }
            _bodySent += n;
            i += n;
            if (done) Finish();
        }
        return data.Length;
    }

    protected override ValueTask ProcessCoreAsync(Chunk c, Next next)
    {
        if (Exchange.Tunnel && _st == St.Idle && PendingHead.Length == 0 && Exchange.Peek() is null) return next(c);
        return RunAsync(c, next);
    }

    private async ValueTask RunAsync(Chunk c, Next next)
    {
        if (c.Eof)
        {
            if (_st == St.Idle) await AnswerAsync(next, c.Stamp).ConfigureAwait(false);
            if (PendingHead.Length > 0) await next(TakeHead(c.Stamp)).ConfigureAwait(false);
            if (_st == St.Body && _cur is { ResetAfter: >= 0 }) { Link.Reset("http_reset fault"); return; }
            await next(c).ConfigureAwait(false);
            return;
        }
        if (c.Count == 0) // a kick: a request was answered here
        {
            if (_st == St.Idle) await AnswerAsync(next, c.Stamp).ConfigureAwait(false);
            return;
        }
        var buf = c.Buffer!;
        int end = c.Offset + c.Count, i = c.Offset, from = c.Offset;
        while (i < end && !Link.IsClosed)
        {
            if (Exchange.Tunnel && _st != St.Body && PendingHead.Length == 0) break;
            if (_st == St.Idle)
            {
                if (from < i) await next(c.Slice(from - c.Offset, i - from)).ConfigureAwait(false);
                from = i;
                await AnswerAsync(next, c.Stamp).ConfigureAwait(false);
                _cur = Exchange.Peek();
                if (_cur?.Answer is not null) _cur = null; // a response nobody asked for (the queue was empty a moment ago)
                if (_cur is { DelayMs: > 0 } && !await WaitUntilAsync(Stopwatch.GetTimestamp() + MsToTicks(_cur.DelayMs)).ConfigureAwait(false)) return;
                _st = St.Head;
                continue;
            }
            if (_st == St.Head)
            {
                int k = HttpWire.FindHeadEnd(buf.AsSpan(i, end - i), ref HeadState);
                if (k < 0)
                {
                    await KeepPartialHeadAsync(c, from, i, next).ConfigureAwait(false);
                    from = i = end;
                    break;
                }
                k += i;
                bool joined = PendingHead.Length > 0; // the head began in an earlier read: send it whole
                bool ok = ParseHead(buf, i, k, false, out var head);
                if (joined)
                {
                    PendingHead.SetLength(PendingHead.Length - (k - i));
                    if (from < i) await next(c.Slice(from - c.Offset, i - from)).ConfigureAwait(false);
                    await next(TakeHead(c.Stamp)).ConfigureAwait(false);
                    from = i;
                }
                i = k;
                if (!ok) { Exchange.Tunnel = true; _st = St.Idle; break; }
                if (HttpWire.IsInterim(head)) continue; // informational: the final response follows
                if (HttpWire.StartsTunnel(head, _cur?.Method)) { Exchange.Tunnel = true; _st = St.Idle; break; }
                var kind = HttpWire.ResponseBody(head, _cur?.Method);
                _body.Start(kind, head.ContentLength);
                _bodySent = 0;
                _st = St.Body;
                if (kind == BodyKind.None || (kind == BodyKind.Length && head.ContentLength == 0))
                {
                    if (_cur is { ResetAfter: >= 0 })
                    {
                        if (from < i) await next(c.Slice(from - c.Offset, i - from)).ConfigureAwait(false);
                        Link.Reset("http_reset fault");
                        return;
                    }
                    Finish();
                }
                continue;
            }
            // body
            int n = _body.Consume(buf.AsSpan(i, end - i), out bool done);
            if (_body.Invalid) { Exchange.Tunnel = true; break; }
            if (_cur is { ResetAfter: >= 0 } r)
            {
                long allowed = r.ResetAfter - _bodySent;
                if (allowed < n || done)
                {
                    // Cut inside the body: at after_bytes, and always before its last byte, so no client gets it whole.
                    int pass = (int)Math.Min(allowed, done ? n - 1 : n);
                    if (pass < 0) pass = 0;
                    if (i + pass > from) await next(c.Slice(from - c.Offset, i + pass - from)).ConfigureAwait(false);
                    Link.Reset("http_reset fault");
                    return;
                }
            }
            if (_cur is { SlowBytesPerSecond: > 0 } slow && n > 0)
            {
                if (from < i) await next(c.Slice(from - c.Offset, i - from)).ConfigureAwait(false);
                if (!await SlowAsync(c, i - c.Offset, n, slow.SlowBytesPerSecond, next).ConfigureAwait(false)) return;
                from = i + n;
            }
            _bodySent += n;
            i += n;
            if (done) Finish();
        }
        if (from < end && !Link.IsClosed) await next(c.Slice(from - c.Offset, end - from)).ConfigureAwait(false);
    }

    private long _slowStart, _slowSent;

    /// <summary>Writes body bytes at the given rate: pieces of about 20 ms worth, each due at start + sent / rate.</summary>
    private async ValueTask<bool> SlowAsync(Chunk c, int offset, int count, long rate, Next next)
    {
        if (_bodySent == 0 || _slowStart == 0) { _slowStart = Stopwatch.GetTimestamp(); _slowSent = 0; }
        int piece = (int)Math.Clamp(rate / 50, 1, 64 * 1024);
        for (int done = 0; done < count;)
        {
            int n = Math.Min(piece, count - done);
            await next(c.Slice(offset + done, n)).ConfigureAwait(false);
            done += n;
            _slowSent += n;
            long due = _slowStart + (long)(_slowSent * (double)Stopwatch.Frequency / rate);
            if (!await WaitUntilAsync(due).ConfigureAwait(false) || Link.IsClosed) return false;
        }
        return true;
    }

    private void Finish()
    {
        if (_cur is not null) Exchange.Done(_cur);
        _cur = null;
        _slowStart = 0;
        _st = St.Idle;
    }

    /// <summary>Sends the answers of requests that faults answered here, up to the next request the upstream serves.</summary>
    private async ValueTask AnswerAsync(Next next, long stamp)
    {
        while (Exchange.Peek() is { Answer: { } answer } r)
        {
            if (r.DelayMs > 0 && !await WaitUntilAsync(Stopwatch.GetTimestamp() + MsToTicks(r.DelayMs)).ConfigureAwait(false)) return;
            Exchange.Done(r);
            await next(new Chunk(answer, 0, answer.Length, stamp)).ConfigureAwait(false);
        }
    }
}
