using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace ChaosPS.Load;

/// <summary>HTTP/2 frame types, flags, settings and error codes (RFC 9113) the load engine uses.</summary>
internal static class H2
{
    public const byte Data = 0x0, Headers = 0x1, Priority = 0x2, RstStream = 0x3, Settings = 0x4, PushPromise = 0x5, Ping = 0x6, GoAway = 0x7,
        WindowUpdate = 0x8, Continuation = 0x9;
    public const byte FlagEndStream = 0x1, FlagAck = 0x1, FlagEndHeaders = 0x4, FlagPadded = 0x8, FlagPriority = 0x20;
    public const ushort SettingHeaderTableSize = 0x1, SettingEnablePush = 0x2, SettingMaxConcurrentStreams = 0x3, SettingInitialWindowSize = 0x4,
        SettingMaxFrameSize = 0x5;
    public const uint NoError = 0x0, ProtocolError = 0x1, FlowControlError = 0x3, RefusedStream = 0x7, Cancel = 0x8;
    public const int FrameHeader = 9;
    public const int DefaultMaxFrame = 16384;
    /// <summary>The receive window this client gives each stream and the connection (as h2load's default -w/-W 30).</summary>
    public const int ReceiveWindow = 1 << 30;

    public static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    public static void WriteHeader(Span<byte> to, int length, byte type, byte flags, int stream)
    {
        to[0] = (byte)(length >> 16); to[1] = (byte)(length >> 8); to[2] = (byte)length;
        to[3] = type; to[4] = flags;
        BinaryPrimitives.WriteInt32BigEndian(to[5..], stream & 0x7fffffff);
    }

    /// <summary>The connection's first bytes: preface, SETTINGS (no HPACK dynamic table, no push, a 1 GiB stream window)
    /// and a WINDOW_UPDATE that opens the connection window to 1 GiB too.</summary>
    public static byte[] ClientStart()
    {
        var b = new byte[Preface.Length + FrameHeader + 18 + FrameHeader + 4];
        Preface.CopyTo(b);
        var s = b.AsSpan(Preface.Length);
        WriteHeader(s, 18, Settings, 0, 0);
        WriteSetting(s[9..], SettingHeaderTableSize, 0);
        WriteSetting(s[15..], SettingEnablePush, 0);
        WriteSetting(s[21..], SettingInitialWindowSize, ReceiveWindow);
        WriteHeader(s[27..], 4, WindowUpdate, 0, 0);
        BinaryPrimitives.WriteInt32BigEndian(s[36..], ReceiveWindow - 65535);
        return b;
    }

    private static void WriteSetting(Span<byte> to, ushort id, int value)
    {
        BinaryPrimitives.WriteUInt16BigEndian(to, id);
        BinaryPrimitives.WriteInt32BigEndian(to[2..], value);
    }
}

/// <summary>
/// The HPACK (RFC 7541) this client needs. A request template's header block is split into fields once
/// (<see cref="HpackFieldTable"/>, static-table indices for the pseudo-headers, raw octets without Huffman); each
/// connection's <see cref="HpackEncoder"/> sends a field with incremental indexing the first time it uses it and by
/// its dynamic-table index afterwards, and never evicts. Responses are read with a decoder whose dynamic table has
/// size 0 (the client's SETTINGS say so): it parses every representation, reads <c>:status</c> and
/// <c>content-type</c> and skips the rest; an index into the dynamic table is a protocol error.
/// </summary>
internal static class Hpack
{
    // Static table entries (RFC 7541 Appendix A) the codec refers to by number.
    private const int Authority = 1, MethodGet = 2, MethodPost = 3, Method = 2, PathRoot = 4, Path = 4, SchemeHttp = 6, SchemeHttps = 7;
    private const int ContentTypeIndex = 31;
    private static readonly string[] StatusByIndex = ["200", "204", "206", "304", "400", "404", "500"]; // static 8..14

    private static readonly HashSet<string> ConnectionSpecific = new(StringComparer.OrdinalIgnoreCase)
    { "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "host", "te", "content-length" };

    /// <summary>One header field of a request: a static-table index (<paramref name="Value"/> null), or a literal
    /// whose name is a static-table index (<paramref name="NameIndex"/> &gt; 0) or the string <paramref name="Name"/>.</summary>
    internal readonly record struct Field(int StaticIndex, int NameIndex, string? Name, string? Value);

    /// <summary>The header fields of <paramref name="r"/> in order (pseudo-headers, its headers lower-cased,
    /// user-agent, content-type and content-length when it has a body); connection-specific HTTP/1.1 headers are
    /// left out.</summary>
    internal static List<Field> RequestFields(LoadRequest r)
    {
        var f = new List<Field>(8);
        if (r.Method == "GET") f.Add(new(MethodGet, 0, null, null));
        else if (r.Method == "POST") f.Add(new(MethodPost, 0, null, null));
        else f.Add(new(0, Method, null, r.Method));
        f.Add(new(r.Uri.Scheme == Uri.UriSchemeHttps ? SchemeHttps : SchemeHttp, 0, null, null));
        string path = r.Uri.PathAndQuery;
        if (path == "/") f.Add(new(PathRoot, 0, null, null));
        else f.Add(new(0, Path, null, path));
        string? host = r.Headers.FirstOrDefault(h => h.Key.Equals("Host", StringComparison.OrdinalIgnoreCase)).Value;
        f.Add(new(0, Authority, null, host ?? (r.Uri.IsDefaultPort ? r.Uri.Host : $"{r.Uri.Host}:{r.Uri.Port}")));
        bool ua = false, ctype = false;
        foreach (var (k, v) in r.Headers)
        {
            if (ConnectionSpecific.Contains(k)) continue;
            if (k.Equals("User-Agent", StringComparison.OrdinalIgnoreCase)) ua = true;
            if (k.Equals("Content-Type", StringComparison.OrdinalIgnoreCase)) ctype = true;
            f.Add(new(0, 0, k.ToLowerInvariant(), v));
        }
        if (!ua) f.Add(new(0, 0, "user-agent", "ChaosPS-Load/0.1"));
        if (r.Body is { Length: > 0 })
        {
            if (!ctype) f.Add(new(0, 0, "content-type", "application/octet-stream"));
            f.Add(new(0, 0, "content-length", r.Body.Length.ToString(CultureInfo.InvariantCulture)));
        }
        else if (r.Method is "POST" or "PUT" or "PATCH") f.Add(new(0, 0, "content-length", "0"));
        return f;
    }

    /// <summary>The header block of <paramref name="r"/> with every field a literal without indexing (what a
    /// connection sends when it indexes nothing).</summary>
    public static byte[] EncodeRequest(LoadRequest r)
    {
        var b = new List<byte>(128);
        foreach (var f in RequestFields(r)) b.AddRange(Encode(f, indexing: false));
        return b.ToArray();
    }

    /// <summary>One field's representation: indexed (static), or a literal without indexing (0000 prefix) or with
    /// incremental indexing (01 prefix, RFC 7541 §6.2.1).</summary>
    internal static byte[] Encode(Field f, bool indexing)
    {
        var b = new List<byte>(f.Value is null ? 1 : 64);
        if (f.Value is null) { Integer(b, 0x80, 7, f.StaticIndex); return b.ToArray(); }
        if (indexing) Integer(b, 0x40, 6, f.NameIndex);
        else Integer(b, 0x00, 4, f.NameIndex);
        if (f.NameIndex == 0) String(b, f.Name!);
        String(b, f.Value);
        return b.ToArray();
    }

    /// <summary>A field's size in the dynamic table: name and value octets plus 32 (RFC 7541 §4.1).</summary>
    internal static int EntrySize(Field f) =>
        (f.NameIndex > 0 ? Encoding.Latin1.GetByteCount(StaticName(f.NameIndex)) : Encoding.Latin1.GetByteCount(f.Name!)) + Encoding.Latin1.GetByteCount(f.Value!) + 32;

    private static string StaticName(int index) => index switch
    {
        Authority => ":authority",
        Method => ":method",
        Path => ":path",
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    private static void String(List<byte> b, string s)
    {
        var bytes = Encoding.Latin1.GetBytes(s);
        Integer(b, 0x00, 7, bytes.Length); // H = 0: raw octets
        b.AddRange(bytes);
    }

    internal static void Integer(List<byte> b, byte firstBits, int prefix, int value)
    {
        Span<byte> octets = stackalloc byte[6]; // an int needs at most 1 + 5 octets
        int n = Integer(octets, firstBits, prefix, value);
        for (int i = 0; i < n; i++) b.Add(octets[i]);
    }

    /// <summary>An HPACK integer (RFC 7541 §5.1) with an N-bit prefix after <paramref name="firstBits"/>, into a span;
    /// returns the octets written.</summary>
    internal static int Integer(Span<byte> to, byte firstBits, int prefix, int value)
    {
        int max = (1 << prefix) - 1;
        if (value < max) { to[0] = (byte)(firstBits | value); return 1; }
        to[0] = (byte)(firstBits | max);
        value -= max;
        int n = 1;
        while (value >= 128) { to[n++] = (byte)(value % 128 + 128); value /= 128; }
        to[n++] = (byte)value;
        return n;
    }

    /// <summary>Reads an HPACK integer with an N-bit prefix; throws InvalidDataException on a truncated or oversized one.</summary>
    internal static int ReadInteger(ReadOnlySpan<byte> s, ref int pos, int prefix)
    {
        if (pos >= s.Length) throw new InvalidDataException("HPACK: truncated integer");
        int max = (1 << prefix) - 1;
        int v = s[pos++] & max;
        if (v < max) return v;
        int shift = 0;
        while (true)
        {
            if (pos >= s.Length) throw new InvalidDataException("HPACK: truncated integer");
            byte c = s[pos++];
            if (shift > 21) throw new InvalidDataException("HPACK: integer too large");
            v += (c & 0x7f) << shift;
            shift += 7;
            if ((c & 0x80) == 0) return v;
        }
    }

    /// <summary>Decodes a response header block: the status (0 when none) and whether the content type is text/event-stream.</summary>
    public static int DecodeResponse(ReadOnlySpan<byte> block, out bool eventStream)
    {
        eventStream = false;
        int status = 0, pos = 0;
        Span<byte> scratch = stackalloc byte[64];
        while (pos < block.Length)
        {
            byte c = block[pos];
            if ((c & 0x80) != 0)
            {
                // Indexed header field.
                int idx = ReadInteger(block, ref pos, 7);
                if (idx == 0 || idx > 61) throw new InvalidDataException($"HPACK: index {idx} is not in the static table (this client's dynamic table has size 0)");
                if (idx is >= 8 and <= 14) status = ParseStatus(Encoding.ASCII.GetBytes(StatusByIndex[idx - 8]));
                continue;
            }
            if ((c & 0xe0) == 0x20)
            {
                // Dynamic table size update: only 0 is allowed (the SETTINGS limit).
                int size = ReadInteger(block, ref pos, 5);
                if (size != 0) throw new InvalidDataException($"HPACK: table size update to {size} exceeds the advertised 0");
                continue;
            }
            // Literal: with incremental indexing (01, 6-bit index), without (0000) or never indexed (0001), 4-bit index.
            int prefix = (c & 0xc0) == 0x40 ? 6 : 4;
            int nameIdx = ReadInteger(block, ref pos, prefix);
            bool isStatus, isContentType;
            if (nameIdx == 0)
            {
                var name = ReadString(block, ref pos, scratch, out int nlen);
                isStatus = name[..nlen].SequenceEqual(":status"u8);
                isContentType = name[..nlen].SequenceEqual("content-type"u8);
            }
            else
            {
                if (nameIdx > 61) throw new InvalidDataException($"HPACK: name index {nameIdx} is not in the static table");
                isStatus = nameIdx is >= 8 and <= 14;
                isContentType = nameIdx == ContentTypeIndex;
            }
            if (isStatus || isContentType)
            {
                var value = ReadString(block, ref pos, scratch, out int vlen);
                if (isStatus) status = ParseStatus(value[..vlen]);
                else eventStream = vlen >= 17 && Ascii.EqualsIgnoreCase(value[..17], "text/event-stream"u8);
            }
            else SkipString(block, ref pos);
        }
        return status;
    }

    private static int ParseStatus(ReadOnlySpan<byte> v)
    {
        if (v.Length != 3 || v[0] < '1' || v[0] > '5' || v[1] < '0' || v[1] > '9' || v[2] < '0' || v[2] > '9')
            throw new InvalidDataException("HTTP/2: malformed :status");
        return (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
    }

    private static void SkipString(ReadOnlySpan<byte> s, ref int pos)
    {
        if (pos >= s.Length) throw new InvalidDataException("HPACK: truncated string");
        int len = ReadInteger(s, ref pos, 7);
        if (len > s.Length - pos) throw new InvalidDataException("HPACK: truncated string");
        pos += len;
    }

    /// <summary>Reads a string literal into <paramref name="scratch"/> (Huffman-decoded when flagged); at most its
    /// length is kept (a longer value is cut, which only matters for names this decoder compares).</summary>
    private static Span<byte> ReadString(ReadOnlySpan<byte> s, ref int pos, Span<byte> scratch, out int length)
    {
        if (pos >= s.Length) throw new InvalidDataException("HPACK: truncated string");
        bool huffman = (s[pos] & 0x80) != 0;
        int len = ReadInteger(s, ref pos, 7);
        if (len > s.Length - pos) throw new InvalidDataException("HPACK: truncated string");
        var raw = s.Slice(pos, len);
        pos += len;
        if (huffman) length = Huffman.Decode(raw, scratch);
        else { length = Math.Min(raw.Length, scratch.Length); raw[..length].CopyTo(scratch); }
        return scratch;
    }
}

/// <summary>
/// The HPACK Huffman code (RFC 7541 Appendix B). The code is canonical, so it is fully given by each symbol's code
/// length: codes of one length are consecutive in symbol order, shorter lengths first. Decoding walks the bits with
/// per-length first-code/count tables (the classic canonical decoder).
/// </summary>
internal static class Huffman
{
    /// <summary>Code length in bits of symbols 0..255 and EOS (256).</summary>
    internal static readonly byte[] Lengths =
    [
        13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
        6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
        13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
        15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
        20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
        22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
        26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
        20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
        30,
    ];

    private const int MaxLen = 30;
    private static readonly int[] Count = new int[MaxLen + 1];
    private static readonly short[] Symbols = new short[257];
    internal static readonly uint[] Codes = new uint[257];

    static Huffman()
    {
        foreach (var l in Lengths) Count[l]++;
        int k = 0;
        for (int len = 1; len <= MaxLen; len++)
            for (int s = 0; s < 257; s++)
                if (Lengths[s] == len) Symbols[k++] = (short)s;
        uint code = 0;
        for (int len = 1, i = 0; len <= MaxLen; len++)
        {
            for (int n = 0; n < Count[len]; n++) Codes[Symbols[i++]] = code++;
            code <<= 1;
        }
    }

    /// <summary>Decodes <paramref name="src"/> into <paramref name="dst"/> (bytes past its end are dropped); returns
    /// the decoded length. Padding must be the most significant bits of EOS (1s), shorter than 8 bits; EOS itself is
    /// an error.</summary>
    public static int Decode(ReadOnlySpan<byte> src, Span<byte> dst)
    {
        int n = 0, code = 0, first = 0, index = 0, len = 0;
        bool allOnes = true;
        foreach (byte b in src)
        {
            for (int bit = 7; bit >= 0; bit--)
            {
                int v = (b >> bit) & 1;
                allOnes &= v == 1;
                code |= v;
                len++;
                int count = Count[len];
                if (code - count < first)
                {
                    int sym = Symbols[index + (code - first)];
                    if (sym == 256) throw new InvalidDataException("HPACK: EOS in a Huffman string");
                    if (n < dst.Length) dst[n] = (byte)sym;
                    n++;
                    code = first = index = len = 0;
                    allOnes = true;
                    continue;
                }
                index += count;
                first += count;
                first <<= 1;
                code <<= 1;
                if (len >= MaxLen) throw new InvalidDataException("HPACK: invalid Huffman code");
            }
        }
        if (len > 7 || !allOnes) throw new InvalidDataException("HPACK: invalid Huffman padding");
        return Math.Min(n, dst.Length);
    }

    /// <summary>Encodes (for tests: the client never sends Huffman strings).</summary>
    internal static byte[] Encode(ReadOnlySpan<byte> src)
    {
        var o = new List<byte>();
        ulong acc = 0; int bits = 0;
        foreach (var c in src)
        {
            acc = (acc << Lengths[c]) | Codes[c];
            bits += Lengths[c];
            while (bits >= 8) { bits -= 8; o.Add((byte)(acc >> bits)); }
        }
        if (bits > 0) o.Add((byte)((acc << (8 - bits)) | (0xffu >> bits)));
        return o.ToArray();
    }
}

/// <summary>The header fields of a run's request templates, each distinct field once (a field that several
/// templates share, such as the authority or user-agent, has one id), with its representations precomputed.</summary>
internal sealed class HpackFieldTable
{
    /// <summary>The encoded field without indexing (or the static index), and with incremental indexing (null for a
    /// static index: never added to the dynamic table).</summary>
    internal readonly List<byte[]> Plain = [];
    internal readonly List<byte[]?> Indexing = [];
    internal readonly List<int> Sizes = [];
    private readonly Dictionary<Hpack.Field, int> _ids = [];

    /// <param name="limit">The most dynamic-table octets a connection's encoder uses (at most 4096, the HTTP/2
    /// default; 0 indexes nothing).</param>
    public HpackFieldTable(int limit) => Limit = Math.Clamp(limit, 0, 4096);

    public int Limit { get; }

    /// <summary>The template of <paramref name="r"/>: its field ids in order.</summary>
    public HpackTemplate Add(LoadRequest r)
    {
        var fields = Hpack.RequestFields(r);
        var ids = new int[fields.Count];
        // The longest block: each field's longest form, plus two table size updates (RFC 7541 §6.3) of 6 octets.
        int max = 12;
        for (int i = 0; i < fields.Count; i++)
        {
            var f = fields[i];
            if (!_ids.TryGetValue(f, out int id))
            {
                id = _ids[f] = Plain.Count;
                Plain.Add(Hpack.Encode(f, indexing: false));
                Indexing.Add(f.Value is null ? null : Hpack.Encode(f, indexing: true));
                Sizes.Add(f.Value is null ? 0 : Hpack.EntrySize(f));
            }
            ids[i] = id;
            max += Math.Max(Math.Max(Plain[id].Length, Indexing[id]?.Length ?? 0), 6);
        }
        return new HpackTemplate(ids, max);
    }
}

/// <summary>A request's header fields (ids in an <see cref="HpackFieldTable"/>) and the longest block they encode to.</summary>
internal sealed record HpackTemplate(int[] Fields, int MaxLength);

/// <summary>
/// One connection's request header encoder (RFC 7541). The first time the connection sends a field that fits in
/// what is left of the table, it is sent as a literal with incremental indexing; later blocks refer to it by index
/// (62 for the newest entry, counting back to the oldest). Nothing is ever evicted, so an entry's place from the
/// oldest end never moves: the field inserted k-th (from 1) of n has index 62 + n - k. A field that does not fit is
/// sent as a literal without indexing. If the server lowers SETTINGS_HEADER_TABLE_SIZE below the size in use, the
/// next block starts with size updates to 0 (which empties the server's table) and to the new size, and the
/// encoder starts over. Used under the connection's lock, in the order the blocks are written.
/// </summary>
internal sealed class HpackEncoder
{
    private readonly HpackFieldTable _table;
    private readonly int[] _inserted; // per field id: its insertion number (from 1), 0 when not in the table
    private int _count, _used, _limit;
    private bool _sizeUpdate;

    public HpackEncoder(HpackFieldTable table)
    {
        _table = table;
        _inserted = new int[table.Plain.Count];
        _limit = table.Limit;
    }

    /// <summary>The server's SETTINGS_HEADER_TABLE_SIZE: a value below the size this encoder may use lowers it.</summary>
    public void PeerTableSize(uint size)
    {
        if (size >= (uint)_limit) return;
        _limit = (int)size;
        _sizeUpdate = true;
        Array.Clear(_inserted);
        _count = 0;
        _used = 0;
    }

    /// <summary>Entries in the connection's table (for tests).</summary>
    internal int Count => _count;

    /// <summary>Encodes <paramref name="t"/>'s block into <paramref name="to"/> (at least <see cref="HpackTemplate.MaxLength"/>
    /// octets); returns its length.</summary>
    public int Encode(HpackTemplate t, Span<byte> to)
    {
        int n = 0;
        if (_sizeUpdate)
        {
            _sizeUpdate = false;
            n += Hpack.Integer(to, 0x20, 5, 0);
            if (_limit > 0) n += Hpack.Integer(to[n..], 0x20, 5, _limit);
        }
        foreach (int id in t.Fields)
        {
            int k = _inserted[id];
            if (k > 0)
            {
                n += Hpack.Integer(to[n..], 0x80, 7, 62 + _count - k);
                continue;
            }
            byte[]? indexing = _table.Indexing[id];
            int size = _table.Sizes[id];
            if (indexing is not null && _used + size <= _limit)
            {
                _inserted[id] = ++_count;
                _used += size;
                indexing.CopyTo(to[n..]);
                n += indexing.Length;
            }
            else
            {
                var plain = _table.Plain[id];
                plain.CopyTo(to[n..]);
                n += plain.Length;
            }
        }
        return n;
    }
}
