using System.Runtime.InteropServices;

namespace ChaosPS.Faults;

/// <summary>
/// Who may feed the ledger. The ledger holds undo steps that the watchdog carries out with the rights of the user who
/// runs it (delete a path, send a signal, call a URL), so a record written by someone else is a way in. As ssh does with
/// ~/.ssh, the state folder, its faults folder and every record must belong to the current user and be writable by
/// nobody else; every folder above the state folder must belong to root or the current user and be writable by
/// nobody else unless it is sticky (/tmp). On Windows the per-user profile folder's ACL is relied on instead.
/// </summary>
public static class LedgerTrust
{
    public const UnixFileMode FolderMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode RecordMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    private const uint GroupOtherWrite = 0x12; // 0022
    private const uint Sticky = 0x200;         // 01000

    /// <summary>True where the checks apply (Linux: statx gives owner and mode with a layout fixed by the kernel).</summary>
    public static bool Enforced => OperatingSystem.IsLinux();

    /// <summary>The effective uid of this process.</summary>
    public static uint EffectiveUid => LinuxIo.geteuid();

    /// <summary>Refuses the state folder (and its faults folder, when present) unless only the current user can write them.</summary>
    public static void CheckStateDirectory(string stateDirectory, string faultDirectory)
    {
        if (!Enforced) return;
        var full = Path.GetFullPath(stateDirectory);
        if (Stat(full, follow: true) is not { } st) return; // not there yet: it is created 0700 by the first write
        uint me = EffectiveUid;
        if (!st.IsDirectory)
            throw Untrusted("UntrustedStateDirectory", full, "is not a folder");
        if (st.Uid != me)
            throw Untrusted("UntrustedStateDirectory", full, $"belongs to uid {st.Uid}, not to the current user (uid {me})");
        if ((st.Mode & GroupOtherWrite) != 0)
            throw Untrusted("UntrustedStateDirectory", full, $"is writable by group or others (mode {Convert.ToString(st.Mode & 0xFFF, 8)})");
        // Folders above: someone who can rename or replace them can swap the whole ledger.
        for (var dir = Path.GetDirectoryName(full); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if (Stat(dir, follow: true) is not { } up) continue;
            bool sticky = (up.Mode & Sticky) != 0;
            if ((up.Uid != 0 && up.Uid != me) || ((up.Mode & GroupOtherWrite) != 0 && !sticky))
                throw Untrusted("UntrustedStateDirectory", full,
                    $"lies under {dir}, which belongs to uid {up.Uid} with mode {Convert.ToString(up.Mode & 0xFFF, 8)}: another user could replace the ledger");
        }
        if (Stat(faultDirectory, follow: false) is { } fd)
        {
            if (!fd.IsDirectory) throw Untrusted("UntrustedStateDirectory", faultDirectory, "is not a folder (a link?)");
            if (fd.Uid != me)
                throw Untrusted("UntrustedStateDirectory", faultDirectory, $"belongs to uid {fd.Uid}, not to the current user (uid {me})");
            if ((fd.Mode & GroupOtherWrite) != 0)
                throw Untrusted("UntrustedStateDirectory", faultDirectory, $"is writable by group or others (mode {Convert.ToString(fd.Mode & 0xFFF, 8)})");
        }
    }

    /// <summary>Refuses a record that is not a plain file of the current user's, writable only by that user. Null when trusted or gone.</summary>
    public static ChaosException? CheckRecord(string path)
    {
        if (!Enforced) return null;
        if (Stat(path, follow: false) is not { } st) return null;
        uint me = EffectiveUid;
        if (!st.IsRegular) return Untrusted("UntrustedFaultRecord", path, "is not a plain file");
        if (st.Uid != me) return Untrusted("UntrustedFaultRecord", path, $"belongs to uid {st.Uid}, not to the current user (uid {me})");
        if ((st.Mode & GroupOtherWrite) != 0) return Untrusted("UntrustedFaultRecord", path, $"is writable by group or others (mode {Convert.ToString(st.Mode & 0xFFF, 8)})");
        return null;
    }

    private static ChaosException Untrusted(string id, string path, string why)
        => new(id, ChaosErrorCategory.SecurityError,
            $"Refusing the fault ledger at {path}: it {why}. Its undo steps would run with your rights, so ChaosPS only trusts a ledger that nobody else can write.",
            path,
            id == "UntrustedFaultRecord"
                ? $"Check who wrote {path}; if it is not yours, delete it. ChaosPS writes records 0600 in a 0700 folder of their owner."
                : $"Point CHAOSPS_STATE_DIR at a folder of your own (ChaosPS creates it 0700), or fix it: chown $(id -u) '{path}' && chmod 700 '{path}'.");

    internal readonly record struct StatInfo(uint Uid, uint Mode)
    {
        public bool IsDirectory => (Mode & 0xF000) == 0x4000;
        public bool IsRegular => (Mode & 0xF000) == 0x8000;
    }

    /// <summary>Owner and mode of a path, or null when it does not exist. statx's buffer layout is the same on every architecture.</summary>
    internal static unsafe StatInfo? Stat(string path, bool follow)
    {
        const int AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, STATX_TYPE = 1, STATX_MODE = 2, STATX_UID = 8;
        byte* buf = stackalloc byte[256];
        int rc = LinuxIo.statx(AT_FDCWD, path, follow ? 0 : AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MODE | STATX_UID, buf);
        if (rc != 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            if (errno is 2 or 20) return null; // ENOENT, ENOTDIR
            throw new ChaosException("LedgerUnreadable", ChaosErrorCategory.ReadError, $"Cannot inspect {path} (errno {errno}).", path);
        }
        // struct statx: u32 mask, u32 blksize, u64 attributes, u32 nlink, u32 uid (offset 20), u32 gid, u16 mode (offset 28).
        return new StatInfo(*(uint*)(buf + 20), *(ushort*)(buf + 28));
    }
}
