using System.Diagnostics;
using ChaosPS.Faults;

namespace ChaosPS.Engine.Tests.Faults;

/// <summary>Who may feed the ledger (only the current user), stale files a kill leaves behind, and URI redaction.</summary>
public sealed class LedgerTrustTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "chaosps-trust-" + Guid.NewGuid().ToString("N"));
    private readonly FaultLedger _ledger;

    public LedgerTrustTests() => _ledger = new FaultLedger(_dir) { StartWatchdog = false };

    public void Dispose()
    {
        if (!Directory.Exists(_dir)) return;
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(_dir, LedgerTrust.FolderMode);
        Directory.Delete(_dir, true);
    }

    private static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.WaitForExit();
        Assert.Equal(0, p.ExitCode);
    }

    /// <summary>A record as another process would write it: owner long gone, one delete-path step.</summary>
    private string Plant(string id, string victim, UnixFileMode mode)
    {
        Directory.CreateDirectory(_ledger.FaultDirectory);
        var path = Path.Combine(_ledger.FaultDirectory, id + ".json");
        File.WriteAllText(path, $$$"""
            {"Id":"{{{id}}}","Kind":"Suspend","Target":"x","Description":"planted","CreatedAt":"2026-01-01T00:00:00+00:00",
             "Deadline":"2026-01-01T00:00:00+00:00","OwnerPid":999999,"Undo":[{"Action":"delete-path","Args":{"path":"{{{victim}}}"}}]}
            """);
        File.SetUnixFileMode(path, mode);
        return path;
    }

    [Fact]
    public void Folders_are_created_0700_and_records_0600()
    {
        if (!LedgerTrust.Enforced) return;
        var r = _ledger.Record("Test", "tmp", "test", null, []);
        Assert.Equal(LedgerTrust.FolderMode, File.GetUnixFileMode(_dir));
        Assert.Equal(LedgerTrust.FolderMode, File.GetUnixFileMode(_ledger.FaultDirectory));
        Assert.Equal(LedgerTrust.RecordMode, File.GetUnixFileMode(Path.Combine(_ledger.FaultDirectory, r.Id + ".json")));
    }

    [Fact]
    public void A_state_folder_others_can_write_is_refused_before_anything_is_read_or_written()
    {
        if (!LedgerTrust.Enforced) return;
        var victim = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "chaosps-victim-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            Plant("f260101000000-aaaaaa", victim, LedgerTrust.RecordMode);
            File.SetUnixFileMode(_dir, (UnixFileMode)0x1FF); // 0777
            Assert.Equal("UntrustedStateDirectory", Assert.Throws<ChaosException>(() => _ledger.List()).ErrorId);
            Assert.Equal("UntrustedStateDirectory", Assert.Throws<ChaosException>(() => _ledger.Record("Test", "x", "x", null, [])).ErrorId);
            var e = Assert.ThrowsAsync<ChaosException>(() => _ledger.RestoreAsync("f260101000000-aaaaaa", "test")).Result;
            Assert.Equal("UntrustedStateDirectory", e.ErrorId);
            Assert.Equal(ChaosErrorCategory.SecurityError, e.Category);
            Assert.True(Directory.Exists(victim), "the planted undo step must not run");
        }
        finally { Directory.Delete(victim, true); }
    }

    [Fact]
    public async Task A_record_others_can_write_is_refused_and_its_undo_never_runs()
    {
        if (!LedgerTrust.Enforced) return;
        var victim = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "chaosps-victim-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var mine = _ledger.Record("Test", "tmp", "mine", null, []);
            Plant("f260101000000-bbbbbb", victim, (UnixFileMode)0x1B6); // 0666
            var (records, refused) = _ledger.ListChecked();
            Assert.Equal(mine.Id, Assert.Single(records).Id);
            Assert.Equal("UntrustedFaultRecord", Assert.Single(refused).ErrorId);
            Assert.Equal("UntrustedFaultRecord", Assert.Throws<ChaosException>(() => _ledger.Get("f260101000000-bbbbbb")).ErrorId);
            await Assert.ThrowsAsync<ChaosException>(() => _ledger.RestoreAsync("f260101000000-bbbbbb", "test"));
            Assert.True(Directory.Exists(victim), "the planted undo step must not run");
        }
        finally { Directory.Delete(victim, true); }
    }

    [Fact]
    public async Task A_record_of_another_user_is_refused()
    {
        if (!LedgerTrust.Enforced || LedgerTrust.EffectiveUid != 0) return; // chown needs root
        var victim = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "chaosps-victim-" + Guid.NewGuid().ToString("N"))).FullName;
        try
        {
            var planted = Plant("f260101000000-cccccc", victim, LedgerTrust.RecordMode);
            Run("chown", "65534", planted);
            Assert.Equal("UntrustedFaultRecord", Assert.Single(_ledger.ListChecked().Refused).ErrorId);
            var e = await Assert.ThrowsAsync<ChaosException>(() => _ledger.RestoreAsync("f260101000000-cccccc", "test"));
            Assert.Contains("uid 65534", e.Message);
            Assert.True(Directory.Exists(victim));
        }
        finally { Directory.Delete(victim, true); }
    }

    [Fact]
    public void Sweep_removes_tmp_files_of_dead_writers_and_keeps_live_ones()
    {
        Directory.CreateDirectory(_ledger.FaultDirectory);
        string F(string name) { var p = Path.Combine(_ledger.FaultDirectory, name); File.WriteAllText(p, "{"); return p; }
        var dead = F("f260101000000-dddddd.json.999999999.tmp");            // no such pid
        var live = F($"f260101000000-eeeeee.json.{Environment.ProcessId}.tmp"); // a writer at work
        var oldLegacy = F("f260101000000-ffffff.json.tmp");
        File.SetLastWriteTimeUtc(oldLegacy, DateTime.UtcNow.AddMinutes(-5));
        var freshLegacy = F("f260101000000-000000.json.tmp");
        var orphanLock = F("f260101000000-111111.json.lock");
        var removed = _ledger.SweepStale();
        Assert.False(File.Exists(dead));
        Assert.False(File.Exists(oldLegacy));
        Assert.False(File.Exists(orphanLock));
        Assert.True(File.Exists(live));
        Assert.True(File.Exists(freshLegacy));
        Assert.Equal(3, removed.Count);
    }

    [Fact]
    public void A_rewrite_leaves_no_tmp_file_and_names_its_writer()
    {
        var r = _ledger.Record("Test", "tmp", "test", null, []);
        r.Description = "rewritten";
        Assert.True(_ledger.Rewrite(r));
        Assert.Empty(Directory.EnumerateFiles(_ledger.FaultDirectory, "*.tmp"));
        Assert.Equal("rewritten", _ledger.Get(r.Id)!.Description);
    }

    [Theory]
    [InlineData("http://admin:secret@127.0.0.1:8080/health", "http://admin:***@127.0.0.1:8080/health")]
    [InlineData("https://token@host/x?q=1", "https://***@host/x?q=1")]
    [InlineData("GET http://a:b@h/ failed; retry http://c:d@h2:1/", "GET http://a:***@h/ failed; retry http://c:***@h2:1/")]
    [InlineData("http://127.0.0.1/mail?to=a@b.c", "http://127.0.0.1/mail?to=a@b.c")]
    [InlineData("user@example.com", "user@example.com")]
    [InlineData("http://host/", "http://host/")]
    public void Userinfo_in_a_uri_is_masked(string text, string expected)
    {
        Assert.Equal(expected, UriRedaction.Redact(text));
        Assert.Equal(expected.Contains("***"), UriRedaction.HasUserInfo(text));
    }

    [Fact]
    public void A_uri_object_is_masked_too()
    {
        var u = UriRedaction.Redact(new Uri("http://admin:secret@127.0.0.1:9/v1/infer"));
        Assert.DoesNotContain("secret", u.ToString());
        Assert.Equal("admin:***", u.UserInfo);
        Assert.Equal(9, u.Port);
    }
}
