using System.Text;
using ChaosPS.Load;

namespace ChaosPS.Engine.Tests.Load;

/// <summary>The HTTP/2 engine's HPACK codec (RFC 7541's examples) and -StreamsPerConnection validation. The engine
/// itself is tested against real nginx with http2 in tests/LoadHttp2.Tests.ps1.</summary>
public sealed class Http2Tests
{
    private static byte[] Hex(string s) => Convert.FromHexString(s.Replace(" ", ""));

    private static string Huff(string hex)
    {
        var dst = new byte[256];
        int n = Huffman.Decode(Hex(hex), dst);
        return Encoding.ASCII.GetString(dst, 0, n);
    }

    [Theory]
    // RFC 7541 C.4 (requests) and C.6 (responses): Huffman-coded literals.
    [InlineData("f1e3 c2e5 f23a 6ba0 ab90 f4ff", "www.example.com")]
    [InlineData("a8eb 1064 9cbf", "no-cache")]
    [InlineData("25a8 49e9 5ba9 7d7f", "custom-key")]
    [InlineData("25a8 49e9 5bb8 e8b4 bf", "custom-value")]
    [InlineData("6402", "302")]
    [InlineData("aec3 771a 4b", "private")]
    [InlineData("d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff", "Mon, 21 Oct 2013 20:13:21 GMT")]
    [InlineData("9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3", "https://www.example.com")]
    [InlineData("640e ff", "307")]
    [InlineData("94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
        "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1")]
    public void Huffman_decodes_the_RFC_examples(string hex, string expected) => Assert.Equal(expected, Huff(hex));

    [Fact]
    public void Huffman_code_is_complete_and_matches_the_RFC_table()
    {
        // Kraft: the 257 lengths fill the code space exactly (a wrong length breaks this).
        Assert.Equal(1.0, Huffman.Lengths.Sum(l => Math.Pow(2, -l)), 12);
        // Spot checks from RFC 7541 Appendix B (code aligned to the LSB, length).
        (int Sym, uint Code, int Len)[] table =
        [
            (0, 0x1ff8, 13), (1, 0x7fffd8, 23), (9, 0xffffea, 24), (10, 0x3ffffffc, 30), (32, 0x14, 6), (39, 0x7fa, 11),
            (43, 0x7fb, 11), (48, 0x0, 5), (88, 0xfc, 8), (92, 0x7fff0, 19), (124, 0x7fc, 11), (126, 0x1ffd, 13),
            (127, 0xffffffc, 28), (128, 0xfffe6, 20), (153, 0x1fffdc, 21), (195, 0x7fff1, 19), (203, 0x7ffffde, 27),
            (220, 0xffffffd, 28), (249, 0xffffffe, 28), (254, 0x7fffff0, 27), (255, 0x3ffffee, 26), (256, 0x3fffffff, 30),
        ];
        foreach (var (sym, code, len) in table)
        {
            Assert.Equal(len, Huffman.Lengths[sym]);
            Assert.Equal(code, Huffman.Codes[sym]);
        }
    }

    [Fact]
    public void Huffman_round_trips_every_byte_and_rejects_bad_padding_and_EOS()
    {
        var all = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        var enc = Huffman.Encode(all);
        var dst = new byte[512];
        Assert.Equal(256, Huffman.Decode(enc, dst));
        Assert.Equal(all, dst[..256]);
        // '0' is 00000: a byte 0x00 leaves 3 bits of 0s as padding (padding must be 1s).
        Assert.Throws<InvalidDataException>(() => Huffman.Decode([0x00], dst));
        // Eight 1s of padding: longer than 7 bits.
        Assert.Throws<InvalidDataException>(() => Huffman.Decode([0x00, 0x3f, 0xff], new byte[8]));
        // EOS (30 ones) inside the string.
        Assert.Throws<InvalidDataException>(() => Huffman.Decode([0xff, 0xff, 0xff, 0xff], dst));
    }

    [Fact]
    public void Response_status_is_read_from_an_indexed_entry_or_a_literal_and_the_dynamic_table_is_refused()
    {
        Assert.Equal(200, Hpack.DecodeResponse([0x88], out _));
        Assert.Equal(404, Hpack.DecodeResponse([0x8d], out _));
        // C.6.1's response: :status 302 as a Huffman literal with incremental indexing, then cache-control, date, location.
        var c61 = Hex("4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3");
        Assert.Equal(302, Hpack.DecodeResponse(c61, out bool es));
        Assert.False(es);
        // Literal without indexing, plain value; a new-name literal; content-type: text/event-stream (static name 31).
        var block = new List<byte> { 0x08, 0x03 };
        block.AddRange("503"u8.ToArray());
        block.AddRange(new byte[] { 0x00, 0x03 }); block.AddRange("x-a"u8.ToArray()); block.Add(0x01); block.Add((byte)'b');
        block.AddRange(new byte[] { 0x0f, 0x10, 0x11 }); block.AddRange("text/event-stream"u8.ToArray());
        block.Insert(0, 0x20); // a dynamic table size update to 0 is allowed first
        Assert.Equal(503, Hpack.DecodeResponse(block.ToArray(), out es));
        Assert.True(es);
        Assert.Throws<InvalidDataException>(() => Hpack.DecodeResponse([0xbe], out _));          // dynamic index 62
        Assert.Throws<InvalidDataException>(() => Hpack.DecodeResponse([0x3f, 0xe1, 0x1f], out _)); // size update to 4096
        Assert.Throws<InvalidDataException>(() => Hpack.DecodeResponse([0x08, 0x05, 0x32], out _)); // truncated string
        Assert.Throws<InvalidDataException>(() => Hpack.DecodeResponse([0x08, 0x02, 0x32, 0x30], out _)); // two-digit status
    }

    [Fact]
    public void Request_block_uses_static_pseudo_headers_and_plain_literals()
    {
        var r = new LoadRequest { Method = "GET", Uri = new Uri("http://127.0.0.1:8080/") };
        r.Headers.Add(new("Connection", "keep-alive"));
        r.Headers.Add(new("X-Trace", "Abc"));
        var b = Hpack.EncodeRequest(r);
        var expected = new List<byte> { 0x82, 0x86, 0x84, 0x01, 14 };
        expected.AddRange("127.0.0.1:8080"u8.ToArray());
        expected.AddRange(new byte[] { 0x00, 7 }); expected.AddRange("x-trace"u8.ToArray()); expected.Add(3); expected.AddRange("Abc"u8.ToArray());
        expected.AddRange(new byte[] { 0x00, 10 }); expected.AddRange("user-agent"u8.ToArray()); expected.Add(16); expected.AddRange("ChaosPS-Load/0.1"u8.ToArray());
        Assert.Equal(expected.ToArray(), b);

        var post = new LoadRequest { Method = "PUT", Uri = new Uri("https://localhost/a?b=1"), Body = "{}"u8.ToArray() };
        var p = Hpack.EncodeRequest(post);
        Assert.Equal(new byte[] { 0x02, 3, (byte)'P', (byte)'U', (byte)'T', 0x87, 0x04, 6 }, p[..8]);
        Assert.Contains("content-length", Encoding.ASCII.GetString(p));
        // Long values take a multi-byte HPACK integer.
        var list = new List<byte>();
        Hpack.Integer(list, 0x00, 7, 1337 + 127 - 31);
        int pos = 0;
        Assert.Equal(1337 + 127 - 31, Hpack.ReadInteger(list.ToArray(), ref pos, 7));
    }

    private static LoadTestOptions Opts(Action<LoadTestOptions> set)
    {
        var o = new LoadTestOptions { Concurrency = 1, Iterations = 1, Requests = [new LoadRequest { Uri = new Uri("http://127.0.0.1:9/") }] };
        set(o);
        return o;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(1001)]
    [InlineData(int.MaxValue)]
    public void StreamsPerConnection_out_of_range_is_refused(int streams)
    {
        var e = Assert.Throws<ChaosException>(() => Opts(o => { o.Http2 = true; o.StreamsPerConnection = streams; }).Validate());
        Assert.Equal("ChaosPS.InvalidStreamsPerConnection", e.ErrorId);
        Assert.Equal(ChaosErrorCategory.InvalidArgument, e.Category);
    }

    [Fact]
    public void StreamsPerConnection_needs_HTTP2_and_the_own_engine()
    {
        Assert.Equal("ChaosPS.StreamsPerConnectionNeedsHttp2", Assert.Throws<ChaosException>(() => Opts(o => o.StreamsPerConnection = 4).Validate()).ErrorId);
        Assert.Equal("InvalidEngine", Assert.Throws<ChaosException>(() => Opts(o => { o.Http2 = true; o.Engine = "HttpClient"; o.StreamsPerConnection = 4; }).Validate()).ErrorId);
        var ok = Opts(o => { o.Http2 = true; o.StreamsPerConnection = 1000; });
        ok.Validate();
        Assert.True(ok.UseHttp2Engine);
        Assert.Equal(LoadEngineSelector.Http2, LoadEngineSelector.Select(ok, epollSupported: true, libSslAvailable: true));
        Opts(o => o.StreamsPerConnection = 1).Validate(); // the default is fine with HTTP/1.1
        Assert.False(Opts(o => { o.Http2 = true; o.Engine = "HttpClient"; }).UseHttp2Engine);
    }
}
