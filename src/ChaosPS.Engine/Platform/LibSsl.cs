using System.Runtime.InteropServices;

namespace ChaosPS;

/// <summary>
/// The few OpenSSL 3 calls (libssl.so.3 / libcrypto.so.3) the load generator's epoll engine makes to speak TLS on its
/// own non-blocking sockets, as wrk does: one SSL_CTX per run, one SSL per connection bound with SSL_set_fd, and
/// SSL_connect/SSL_read/SSL_write whose WANT_READ/WANT_WRITE become the epoll interest. The libraries are loaded on
/// first use only (a machine without them still loads the module; <see cref="Available"/> says whether they are
/// there, and the engine falls back to SslStream). Every object made here is counted in <see cref="Live"/>, so a
/// test can see that a run frees all it made.
/// </summary>
internal static unsafe partial class LibSsl
{
    private const string Ssl = "libssl.so.3", Crypto = "libcrypto.so.3";

    public const int SSL_ERROR_NONE = 0, SSL_ERROR_SSL = 1, SSL_ERROR_WANT_READ = 2, SSL_ERROR_WANT_WRITE = 3,
                     SSL_ERROR_SYSCALL = 5, SSL_ERROR_ZERO_RETURN = 6;
    public const int SSL_VERIFY_NONE = 0, SSL_VERIFY_PEER = 1;
    public const int SSL_CTRL_MODE = 33, SSL_CTRL_SET_READ_AHEAD = 41, SSL_CTRL_SET_TLSEXT_HOSTNAME = 55, TLSEXT_NAMETYPE_host_name = 0;
    public const long SSL_MODE_ENABLE_PARTIAL_WRITE = 0x1, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER = 0x2;
    /// <summary>A peer that closes without close_notify ends the stream like a clean close (SSL_ERROR_ZERO_RETURN).</summary>
    public const ulong SSL_OP_IGNORE_UNEXPECTED_EOF = 1UL << 7;
    public const int X509_V_OK = 0;

    private static readonly Lazy<bool> s_available = new(Probe);
    /// <summary>
    /// True where libssl.so.3 and libcrypto.so.3 load and have the calls used here. CHAOSPS_LIBSSL=off makes it false
    /// (to try the fallback on a machine that has them).
    /// </summary>
    public static bool Available => s_available.Value;

    /// <summary>SSL_CTX, SSL and SSL_SESSION objects made and not yet freed, process-wide.</summary>
    public static long Live;

    private static bool Probe()
    {
        if (string.Equals(Environment.GetEnvironmentVariable("CHAOSPS_LIBSSL"), "off", StringComparison.OrdinalIgnoreCase)) return false;
        if (!OperatingSystem.IsLinux()) return false;
        try
        {
            if (!NativeLibrary.TryLoad(Ssl, typeof(LibSsl).Assembly, null, out var ssl)) return false;
            if (!NativeLibrary.TryLoad(Crypto, typeof(LibSsl).Assembly, null, out var crypto)) return false;
            foreach (var f in new[] { "TLS_client_method", "SSL_CTX_new", "SSL_new", "SSL_set_fd", "SSL_set1_host", "SSL_get1_session", "SSL_CTX_set_options", "SSL_get0_param" })
                if (!NativeLibrary.TryGetExport(ssl, f, out _)) return false;
            if (!NativeLibrary.TryGetExport(crypto, "X509_VERIFY_PARAM_set1_ip_asc", out _)) return false;
            return OpenSSL_version_num() >= 0x30000000;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or BadImageFormatException) { return false; }
    }

    // ---- context --------------------------------------------------------------------------------------------------

    [LibraryImport(Crypto)] public static partial ulong OpenSSL_version_num();
    [LibraryImport(Ssl)] public static partial nint TLS_client_method();
    [LibraryImport(Ssl)] private static partial nint SSL_CTX_new(nint method);
    [LibraryImport(Ssl)] private static partial void SSL_CTX_free(nint ctx);
    [LibraryImport(Ssl)] public static partial ulong SSL_CTX_set_options(nint ctx, ulong options);
    [LibraryImport(Ssl)] public static partial void SSL_CTX_set_verify(nint ctx, int mode, nint callback);
    [LibraryImport(Ssl)] public static partial int SSL_CTX_set_default_verify_paths(nint ctx);
    [LibraryImport(Ssl)] public static partial long SSL_CTX_ctrl(nint ctx, int cmd, long larg, nint parg);

    public static nint CtxNew()
    {
        nint ctx = SSL_CTX_new(TLS_client_method());
        if (ctx != 0) Interlocked.Increment(ref Live);
        return ctx;
    }

    public static void CtxFree(nint ctx)
    {
        if (ctx == 0) return;
        SSL_CTX_free(ctx);
        Interlocked.Decrement(ref Live);
    }

    // ---- connections ----------------------------------------------------------------------------------------------

    [LibraryImport(Ssl)] private static partial nint SSL_new(nint ctx);
    [LibraryImport(Ssl)] private static partial void SSL_free(nint ssl);
    [LibraryImport(Ssl)] public static partial int SSL_set_fd(nint ssl, int fd);
    [LibraryImport(Ssl)] public static partial void SSL_set_connect_state(nint ssl);
    [LibraryImport(Ssl)] public static partial long SSL_ctrl(nint ssl, int cmd, long larg, nint parg);
    [LibraryImport(Ssl)] public static partial int SSL_set1_host(nint ssl, nint hostname);
    [LibraryImport(Ssl)] public static partial nint SSL_get0_param(nint ssl);
    [LibraryImport(Crypto)] public static partial int X509_VERIFY_PARAM_set1_ip_asc(nint param, nint ipasc);
    [LibraryImport(Ssl, SetLastError = true)] public static partial int SSL_do_handshake(nint ssl);
    [LibraryImport(Ssl, SetLastError = true)] public static partial int SSL_read(nint ssl, byte* buf, int num);
    [LibraryImport(Ssl, SetLastError = true)] public static partial int SSL_write(nint ssl, byte* buf, int num);
    [LibraryImport(Ssl)] public static partial int SSL_get_error(nint ssl, int ret);
    [LibraryImport(Ssl)] public static partial long SSL_get_verify_result(nint ssl);
    [LibraryImport(Ssl)] public static partial int SSL_session_reused(nint ssl);
    public const int SSL_SENT_SHUTDOWN = 1, SSL_RECEIVED_SHUTDOWN = 2;
    /// <summary>Marks the connection as shut down without sending anything (its session then stays resumable when it is freed).</summary>
    [LibraryImport(Ssl)] public static partial void SSL_set_shutdown(nint ssl, int mode);
    [LibraryImport(Crypto)] public static partial void ERR_clear_error();

    public static nint New(nint ctx)
    {
        nint ssl = SSL_new(ctx);
        if (ssl != 0) Interlocked.Increment(ref Live);
        return ssl;
    }

    public static void Free(nint ssl)
    {
        if (ssl == 0) return;
        SSL_free(ssl);
        Interlocked.Decrement(ref Live);
    }

    // ---- sessions -------------------------------------------------------------------------------------------------

    [LibraryImport(Ssl)] private static partial nint SSL_get1_session(nint ssl);
    [LibraryImport(Ssl)] public static partial int SSL_set_session(nint ssl, nint session);
    [LibraryImport(Ssl)] private static partial void SSL_SESSION_free(nint session);
    [LibraryImport(Ssl)] public static partial int SSL_SESSION_is_resumable(nint session);

    /// <summary>The connection's session (a reference the caller frees with <see cref="SessionFree"/>), or 0.</summary>
    public static nint Get1Session(nint ssl)
    {
        nint s = SSL_get1_session(ssl);
        if (s != 0) Interlocked.Increment(ref Live);
        return s;
    }

    public static void SessionFree(nint session)
    {
        if (session == 0) return;
        SSL_SESSION_free(session);
        Interlocked.Decrement(ref Live);
    }
}
