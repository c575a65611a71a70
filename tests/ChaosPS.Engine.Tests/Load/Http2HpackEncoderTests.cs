using System.Text;
using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

/// <summary>The HTTP/2 request encoder's use of the server's HPACK dynamic table: known answers, and every block
/// decoded by an independent minimal decoder (RFC 7541) that keeps its own table.</summary>
public sealed class Http2HpackEncoderTests
{
    private static LoadRequest Get(string uri, params (string, string)[] headers)
    {
        var r = new LoadRequest { Method = "GET", Uri = new Uri(uri) };
        foreach (var (k, v) in headers) r.Headers.Add(new(k, v));
        return r;
    }

    private static byte[] Encode(HpackEncoder e, HpackTemplate t)
    {
        var buf = new byte[t.MaxLength];
        int n = e.Encode(t, buf);
        return buf[..n];
    }

    private static byte[] Lit(byte first, string? name, string value)
    {
        var b = new List<byte> { first };
        if (name is not null) { b.Add((byte)name.Length); b.AddRange(Encoding.ASCII.GetBytes(name)); }
        b.Add((byte)value.Length); b.AddRange(Encoding.ASCII.GetBytes(value));
        return b.ToArray();
    }

    [Fact]
    public void First_block_indexes_repeated_fields_and_the_next_refers_to_them_newest_first()
    {
        var table = new HpackFieldTable(4096);
        var t = table.Add(Get("http://127.0.0.1:8080/", ("X-Trace", "Abc")));
        var e = new HpackEncoder(table);
        // :method GET, :scheme http, :path / (static), then literals with incremental indexing (01 prefix).
        byte[] first = [0x82, 0x86, 0x84, .. Lit(0x41, null, "127.0.0.1:8080"), .. Lit(0x40, "x-trace", "Abc"), .. Lit(0x40, "user-agent", "ChaosPS-Load/0.1")];
        Assert.Equal(first, Encode(e, t));
        // Three entries: authority was inserted first (index 64), x-trace second (63), user-agent last (62).
        Assert.Equal(new byte[] { 0x82, 0x86, 0x84, 0x80 | 64, 0x80 | 63, 0x80 | 62 }, Encode(e, t));
        Assert.Equal(new byte[] { 0x82, 0x86, 0x84, 0x80 | 64, 0x80 | 63, 0x80 | 62 }, Encode(e, t));
        // A new connection starts with an empty table.
        Assert.Equal(first, Encode(new HpackEncoder(table), t));
    }

    [Fact]
    public void Interleaved_templates_decode_to_their_own_fields_on_one_connection()
    {
        var table = new HpackFieldTable(4096);
        var reqs = new[]
        {
            Get("http://127.0.0.1:8080/a", ("X-A", "1")),
            new LoadRequest { Method = "POST", Uri = new Uri("http://127.0.0.1:8080/b"), Body = "{\"k\":1}"u8.ToArray(), Headers = { new("Content-Type", "application/json") } },
            Get("http://localhost:8081/", ("User-Agent", "probe/2"), ("X-A", "1")),
            Get("http://127.0.0.1:8080/a", ("X-A", "2"), ("X-A", "2")),
            new LoadRequest { Method = "DELETE", Uri = new Uri("https://127.0.0.1/c?d=1") },
        };
        var ts = reqs.Select(table.Add).ToArray();
        var expected = reqs.Select(r => new Decoder(4096).Block(Hpack.EncodeRequest(r))).ToArray();
        var e = new HpackEncoder(table);
        var d = new Decoder(4096);
        int[] order = [0, 1, 0, 2, 1, 3, 0, 4, 2, 2, 3, 1, 4, 0, 3];
        var sizes = new List<int>[reqs.Length];
        foreach (int i in order)
        {
            var block = Encode(e, ts[i]);
            Assert.Equal(expected[i], d.Block(block));
            (sizes[i] ??= []).Add(block.Length);
        }
        // Every template's repeat is shorter than its first block (its fields were indexed), and nothing was evicted.
        for (int i = 0; i < reqs.Length; i++) Assert.True(sizes[i][^1] < sizes[i][0], $"template {i}: {string.Join(",", sizes[i])}");
        Assert.Equal(0, d.Evictions);
        Assert.Equal(d.Entries, e.Count);
    }

    [Fact]
    public void Fields_that_do_not_fit_the_table_stay_literals_without_indexing()
    {
        // 100 octets: the authority (10 + 14 + 32 = 56) fits, user-agent (10 + 16 + 32 = 58) no longer does.
        var table = new HpackFieldTable(100);
        var big = new string('v', 5000);
        var t = table.Add(Get("http://127.0.0.1:8080/", ("X-Big", big)));
        var e = new HpackEncoder(table);
        var d = new Decoder(100);
        var expected = new Decoder(0).Block(Hpack.EncodeRequest(Get("http://127.0.0.1:8080/", ("X-Big", big))));
        var first = Encode(e, t);
        Assert.Equal(expected, d.Block(first));
        var second = Encode(e, t);
        Assert.Equal(expected, d.Block(second));
        Assert.Equal(new byte[] { 0x82, 0x86, 0x84, 0x80 | 62, 0x00, 5 }, second[..6]); // x-big: literal without indexing
        Assert.Equal(1, e.Count);
        Assert.Equal(0, d.Evictions);
        // 4096 is the most it uses, whatever it is given.
        Assert.Equal(4096, new HpackFieldTable(65536).Limit);
        // 0 indexes nothing: the blocks are the plain literals.
        var none = new HpackFieldTable(0);
        var tn = none.Add(Get("http://127.0.0.1:8080/"));
        var en = new HpackEncoder(none);
        Assert.Equal(Hpack.EncodeRequest(Get("http://127.0.0.1:8080/")), Encode(en, tn));
        Assert.Equal(Hpack.EncodeRequest(Get("http://127.0.0.1:8080/")), Encode(en, tn));
    }

    [Fact]
    public void A_lower_server_table_size_empties_the_table_with_size_updates_and_starts_over()
    {
        var table = new HpackFieldTable(4096);
        var t = table.Add(Get("http://127.0.0.1:8080/", ("X-Trace", "Abc")));
        var e = new HpackEncoder(table);
        var d = new Decoder(4096);
        var expected = new Decoder(0).Block(Hpack.EncodeRequest(Get("http://127.0.0.1:8080/", ("X-Trace", "Abc"))));
        Assert.Equal(expected, d.Block(Encode(e, t)));
        e.PeerTableSize(8192); // higher: no change
        Assert.Equal(new byte[] { 0x82, 0x86, 0x84, 0x80 | 64, 0x80 | 63, 0x80 | 62 }, Encode(e, t));
        e.PeerTableSize(64);
        var b = Encode(e, t);
        Assert.Equal(new byte[] { 0x20, 0x3f, 64 - 31, 0x82, 0x86, 0x84, 0x41 }, b[..7]); // size 0, size 64, authority indexed again
        Assert.Equal(expected, d.Block(b));
        Assert.Equal(expected, d.Block(Encode(e, t)));
        Assert.Equal(1, e.Count);
        e.PeerTableSize(0);
        b = Encode(e, t);
        Assert.Equal(0x20, b[0]);
        Assert.Equal(0x82, b[1]);
        Assert.Equal(expected, d.Block(b));
        Assert.Equal(expected, d.Block(Encode(e, t)));
        Assert.Equal(0, e.Count);
        Assert.Equal(0, d.Entries);
        Assert.Equal(0, d.Evictions);
    }

    /// <summary>A minimal HPACK decoder written from RFC 7541 alone (no Huffman: the client sends raw octets).</summary>
    private sealed class Decoder(int maxSize)
    {
        private static readonly (string, string)[] Static =
        [
            (":authority", ""), (":method", "GET"), (":method", "POST"), (":path", "/"), (":path", "/index.html"),
            (":scheme", "http"), (":scheme", "https"), (":status", "200"), (":status", "204"), (":status", "206"),
            (":status", "304"), (":status", "400"), (":status", "404"), (":status", "500"), ("accept-charset", ""),
            ("accept-encoding", "gzip, deflate"), ("accept-language", ""), ("accept-ranges", ""), ("accept", ""),
            ("access-control-allow-origin", ""), ("age", ""), ("allow", ""), ("authorization", ""), ("cache-control", ""),
            ("content-disposition", ""), ("content-encoding", ""), ("content-language", ""), ("content-length", ""),
            ("content-location", ""), ("content-range", ""), ("content-type", ""), ("cookie", ""), ("date", ""),
            ("etag", ""), ("expect", ""), ("expires", ""), ("from", ""), ("host", ""), ("if-match", ""),
            ("if-modified-since", ""), ("if-none-match", ""), ("if-range", ""), ("if-unmodified-since", ""),
            ("last-modified", ""), ("link", ""), ("location", ""), ("max-forwards", ""), ("proxy-authenticate", ""),
            ("proxy-authorization", ""), ("range", ""), ("referer", ""), ("refresh", ""), ("retry-after", ""),
            ("server", ""), ("set-cookie", ""), ("strict-transport-security", ""), ("transfer-encoding", ""),
            ("user-agent", ""), ("vary", ""), ("via", ""), ("www-authenticate", ""),
        ];

        private readonly List<(string Name, string Value)> _dyn = []; // newest first
        private int _max = maxSize, _size;
        /// <summary>Entries an insert pushed out (a size update's evictions are meant).</summary>
        public int Evictions;
        public int Entries => _dyn.Count;

        private (string, string) At(int i)
        {
            if (i >= 1 && i <= 61) return Static[i - 1];
            if (i >= 62 && i - 62 < _dyn.Count) return _dyn[i - 62];
            throw new InvalidDataException($"index {i} is not in the table ({_dyn.Count} dynamic entries)");
        }

        private void Insert(string n, string v)
        {
            _dyn.Insert(0, (n, v));
            _size += n.Length + v.Length + 32;
            Evictions += Evict(); // the encoder never means an insert to push an older entry out
        }

        private int Evict()
        {
            int k = 0;
            for (; _size > _max; k++) { var (n, v) = _dyn[^1]; _dyn.RemoveAt(_dyn.Count - 1); _size -= n.Length + v.Length + 32; }
            return k;
        }

        private static int Int(byte[] s, ref int p, int prefix)
        {
            int max = (1 << prefix) - 1, v = s[p++] & max;
            if (v < max) return v;
            for (int shift = 0; ; shift += 7)
            {
                byte b = s[p++];
                v += (b & 0x7f) << shift;
                if ((b & 0x80) == 0) return v;
            }
        }

        private static string Str(byte[] s, ref int p)
        {
            if ((s[p] & 0x80) != 0) throw new InvalidDataException("Huffman");
            int n = Int(s, ref p, 7);
            var r = Encoding.Latin1.GetString(s, p, n);
            p += n;
            return r;
        }

        public List<string> Block(byte[] s)
        {
            var fields = new List<string>();
            bool start = true;
            for (int p = 0; p < s.Length;)
            {
                byte b = s[p];
                if ((b & 0xe0) == 0x20)
                {
                    if (!start) throw new InvalidDataException("size update after a field");
                    _max = Int(s, ref p, 5);
                    if (_max > maxSize) throw new InvalidDataException($"size update to {_max} above the {maxSize} allowed");
                    Evict();
                    continue;
                }
                start = false;
                if ((b & 0x80) != 0) { var (n, v) = At(Int(s, ref p, 7)); fields.Add($"{n}: {v}"); continue; }
                bool index = (b & 0xc0) == 0x40;
                int ni = Int(s, ref p, index ? 6 : 4);
                string name = ni == 0 ? Str(s, ref p) : At(ni).Item1;
                string value = Str(s, ref p);
                if (index) Insert(name, value);
                fields.Add($"{name}: {value}");
            }
            return fields;
        }
    }
}
