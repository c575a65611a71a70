# The test command must fail when a test fails: a green CI has to mean something. These tests run the real
# `build.ps1 test` on a throwaway copy of the tree, with a deliberately failing xunit test and a deliberately
# failing Pester test added to the copy, and check the exit code of each run.
Describe 'build.ps1 test exit code' -Tag 'BuildScript' {
    BeforeAll {
        Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
        $root = Split-Path $PSScriptRoot
        $copy = Join-Path ([IO.Path]::GetTempPath()) "chaosps-buildscript-$PID"
        if (Test-Path $copy) { Remove-Item $copy -Recurse -Force }
        New-Item -ItemType Directory $copy | Out-Null

        # The tracked files (no bin/obj/out), as a clean checkout would have them.
        $files = git -C $root ls-files --cached --others --exclude-standard
        foreach ($f in $files) {
            $src = Join-Path $root $f
            if (-not (Test-Path $src -PathType Leaf)) { continue }
            $dst = Join-Path $copy $f
            $dir = Split-Path $dst
            if (-not (Test-Path $dir)) { New-Item -ItemType Directory -Force $dir | Out-Null }
            Copy-Item $src $dst
        }
        # The copy keeps only its own test files: the deliberate ones below, plus the helpers they import.
        Get-ChildItem "$copy/tests" -Filter *.Tests.ps1 | Remove-Item -Force
        Get-ChildItem "$copy/tests/ChaosPS.Engine.Tests" -Directory | Remove-Item -Recurse -Force
        Get-ChildItem "$copy/tests/ChaosPS.Engine.Tests" -Filter *.cs | Remove-Item -Force

        Set-Content "$copy/tests/ChaosPS.Engine.Tests/DeliberateTests.cs" @'
namespace ChaosPS.Engine.Tests;

public class DeliberateTests
{
    [Fact] public void DeliberatePass() => Assert.True(true);
    [Fact] public void DeliberateFail() => Assert.Fail("deliberately failing xunit test");
}
'@
        Set-Content "$copy/tests/Deliberate.Tests.ps1" @'
Describe 'deliberate' {
    It 'passes' -Tag 'DeliberatePass' { 1 | Should -Be 1 }
    It 'fails' -Tag 'DeliberateFail' { 1 | Should -Be 2 }
    It 'fails with control characters in its message' -Tag 'DeliberateControlChar' { throw "red `e[31mfailure`e[0m" }
}
'@
        $pwsh = @(Get-PwshPath)
        function Invoke-BuildTest {
            param([string[]] $Arguments)
            $log = Join-Path $copy "run-$([guid]::NewGuid().ToString('n')).log"
            $allArgs = @($pwsh | Select-Object -Skip 1) + @('-NoProfile', '-NonInteractive', '-File', "$copy/build.ps1", 'test') + $Arguments
            # The child's own Pester run gets a ledger of its own (and never the outer run's module path).
            $saved = $env:CHAOSPS_MODULE; $env:CHAOSPS_MODULE = $null
            try { & $pwsh[0] @allArgs *> $log; $code = $LASTEXITCODE } finally { $env:CHAOSPS_MODULE = $saved }
            # Colour codes stripped, so a failure message quoting the log stays plain text.
            [pscustomobject]@{ ExitCode = $code; Log = ((Get-Content $log -Raw) -replace "`e\[[0-9;]*[A-Za-z]", '') }
        }
        # The first run builds the copy; the others reuse that build.
        $script:passing = Invoke-BuildTest @('-Filter', 'FullyQualifiedName~DeliberatePass', '-Tag', 'DeliberatePass')
    }
    AfterAll {
        if ($copy -and (Test-Path $copy)) { Remove-Item $copy -Recurse -Force -ErrorAction SilentlyContinue }
    }

    It 'exits 0 when every selected test passes (the copy builds and runs)' {
        $passing.Log | Should -Match '(?m)^2 passed, 0 failed'
        $passing.ExitCode | Should -Be 0 -Because $passing.Log
    }

    It 'exits non-zero when a Pester test fails' {
        $r = Invoke-BuildTest @('-NoBuild', '-Filter', 'FullyQualifiedName~DeliberatePass', '-Tag', 'DeliberateFail')
        $r.Log | Should -Match '(?m)^1 passed, 1 failed'
        $r.ExitCode | Should -Not -Be 0 -Because $r.Log
    }

    It 'exits non-zero when an xunit test fails' {
        $r = Invoke-BuildTest @('-NoBuild', '-Filter', 'FullyQualifiedName~DeliberateFail', '-Tag', 'DeliberatePass')
        $r.Log | Should -Match '(?m)^1 passed, 1 failed'
        $r.ExitCode | Should -Not -Be 0 -Because $r.Log
    }

    It 'exits non-zero when a failing Pester test has control characters in its message' {
        # Pester's NUnit writer rejects such characters; that must not lose the failure.
        $r = Invoke-BuildTest @('-NoBuild', '-Filter', 'FullyQualifiedName~DeliberatePass', '-Tag', 'DeliberateControlChar')
        $r.Log | Should -Match '(?m)^1 passed, [12] failed'
        $r.ExitCode | Should -Not -Be 0 -Because $r.Log
    }

    It 'exits non-zero when no test ran at all' {
        $r = Invoke-BuildTest @('-NoBuild', '-Filter', 'FullyQualifiedName~NoSuchTest', '-Tag', 'NoSuchTag')
        $r.Log | Should -Match '(?m)^0 passed, 0 failed'
        $r.ExitCode | Should -Not -Be 0 -Because $r.Log
    }
}
