# Worker chaos against real host processes: selection, crashes with real signals, suspend/resume, a real OOM kill,
# recovery probes. Every fault is undone; the ledger of a private state dir must be empty after each test.
BeforeAll {
    Import-Module $env:CHAOSPS_MODULE -Force
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    $script:state = Join-Path ([IO.Path]::GetTempPath()) "chaosps-wc-$([guid]::NewGuid().ToString('n').Substring(0,8))"
    New-Item -ItemType Directory $state | Out-Null
    $script:outerState = $env:CHAOSPS_STATE_DIR
    $env:CHAOSPS_STATE_DIR = $state
    $script:started = [System.Collections.Generic.List[Diagnostics.Process]]::new()
    function Start-Sleeper([string] $Seconds = '600') {
        # env --default-signal: a shell that started the test run in the background (without job control) makes its
        # children ignore SIGINT and SIGQUIT, and an ignored signal survives exec; the signal tests need the defaults.
        $p = Start-Process env -ArgumentList '--default-signal=INT,QUIT', (Get-Command sleep -CommandType Application)[0].Source, $Seconds -PassThru
        $started.Add($p)
        Wait-Until { (Get-Content "/proc/$($p.Id)/comm" -ErrorAction SilentlyContinue) -eq 'sleep' } 10 | Out-Null
        $p
    }
    # A process that ignores SIGTERM (the ignored disposition survives exec).
    function Start-TermIgnorer {
        $psi = [Diagnostics.ProcessStartInfo]::new('/bin/sh')
        foreach ($a in '-c', "trap '' TERM; exec sleep 600") { $psi.ArgumentList.Add($a) }
        $p = [Diagnostics.Process]::Start($psi)
        $started.Add($p)
        Wait-Until { (Get-Content "/proc/$($p.Id)/cmdline" -Raw -ErrorAction SilentlyContinue) -match '^sleep' } 10 | Out-Null
        $p
    }
}

AfterAll {
    foreach ($p in $started) { if (-not $p.HasExited) { kill -CONT $p.Id 2>$null; $p.Kill() } }
    Restore-ChaosFault -All -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
    Stop-TestWatchdog $state | Out-Null
    $env:CHAOSPS_STATE_DIR = $outerState
    Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Get-ChaosTarget' -Tag 'WorkerChaos', 'Unit' {
    It 'selects a process by id and by command-line pattern, as typed objects' {
        $s = Start-Sleeper '601.25'
        $t = Get-ChaosTarget -Id $s.Id
        $t.GetType().FullName | Should -Be 'ChaosPS.Chaos.ChaosTarget'
        $t.ProcessId | Should -Be $s.Id
        $t.Name | Should -Be 'sleep'
        (Get-ChaosTarget -CommandLine '*sleep 601.25').ProcessId | Should -Be $s.Id
        (Get-ChaosTarget -Regex 'sleep 601\.25$').ProcessId | Should -Be $s.Id
    }

    It 'picks -Count at random, reproducibly with -Seed, and -Percent rounded up' {
        $ids = 1..4 | ForEach-Object { (Start-Sleeper '602.5').Id }
        $a = @(Get-ChaosTarget -CommandLine '*sleep 602.5' -Count 2 -Seed 11).ProcessId
        $b = @(Get-ChaosTarget -CommandLine '*sleep 602.5' -Count 2 -Seed 11).ProcessId
        $a.Count | Should -Be 2
        $a | Should -Be $b
        $a | ForEach-Object { $_ | Should -BeIn $ids }
        @(Get-ChaosTarget -CommandLine '*sleep 602.5' -Percent 50).Count | Should -Be 2
        @(Get-ChaosTarget -CommandLine '*sleep 602.5' -Percent 60).Count | Should -Be 3
        @(Get-ChaosTarget -CommandLine '*sleep 602.5').Count | Should -Be 4
    }

    It 'selects nothing without a criterion' {
        { Get-ChaosTarget -ErrorAction Stop } | Should -Throw -ErrorId 'NoTargetSelector*'
    }

    It 'refuses PID 1, this pwsh and its parents unless -Force' {
        $out = Get-ChaosTarget -Id 1, $PID -ErrorVariable errs -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        @($errs).Count | Should -Be 2
        $errs | ForEach-Object { $_.FullyQualifiedErrorId | Should -BeLike 'ProtectedTarget*' }
        $errs[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
        $parent = (Get-Process -Id $PID).Parent.Id
        Get-ChaosTarget -Id $parent -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        (Get-ChaosTarget -Id 1 -Force).IsProtected | Should -BeTrue
    }

    It 'reports one ObjectNotFound per missing target and returns the others' {
        $s = Start-Sleeper
        $out = Get-ChaosTarget -Id 4194000, $s.Id, 4194001 -ErrorVariable errs -ErrorAction SilentlyContinue
        $out.ProcessId | Should -Be $s.Id
        @($errs).Count | Should -Be 2
        $errs | ForEach-Object { $_.CategoryInfo.Category | Should -Be 'ObjectNotFound' }
    }

    It 'takes ProcessId from piped objects (the testbed''s workers)' {
        $s = Start-Sleeper
        $t = [pscustomobject]@{ Id = 'w9'; ProcessId = $s.Id; Uri = 'http://127.0.0.1:1/' } | Get-ChaosTarget
        $t.ProcessId | Should -Be $s.Id
        $t.Uri | Should -Be 'http://127.0.0.1:1/'
    }
}

Describe 'Invoke-WorkerCrash on processes' -Tag 'WorkerChaos' {
    It '-WhatIf hits nothing' {
        $s = Start-Sleeper
        $r = Get-ChaosTarget -Id $s.Id | Invoke-WorkerCrash -WhatIf
        $r | Should -BeNullOrEmpty
        Get-ProcessState $s.Id | Should -Not -BeNullOrEmpty
        $s.HasExited | Should -BeFalse
    }

    It 'kills with SIG<_> and reports what it observed' -ForEach 'KILL', 'TERM', 'INT', 'QUIT', 'ABRT', 'SEGV' {
        $s = Start-Sleeper
        $r = Get-ChaosTarget -Id $s.Id | Invoke-WorkerCrash -Signal $_ -Confirm:$false
        $r.GetType().FullName | Should -Be 'ChaosPS.Chaos.CrashResult'
        $r.Signal | Should -Be $_
        $r.ObservedState | Should -Be 'exited'
        $s.WaitForExit(5000) | Should -BeTrue
        $signo = @{ KILL = 9; TERM = 15; INT = 2; QUIT = 3; ABRT = 6; SEGV = 11 }[$_]
        $s.ExitCode | Should -Be (128 + $signo) -Because 'the process really died of that signal'
        if ($null -ne $r.ExitCode) { $r.ExitCode | Should -Be (128 + $signo) }
    }

    It 'sends TERM, waits the grace period, then SIGKILLs a process that ignores TERM' {
        $p = Start-TermIgnorer
        $r = Get-ChaosTarget -Id $p.Id | Invoke-WorkerCrash -GracePeriod 1s -Confirm:$false
        $r.Action | Should -Be 'TermThenKill'
        $r.Signal | Should -Be 'TERM'
        $r.ForcedKill | Should -BeTrue
        $r.TimeToExit | Should -BeGreaterOrEqual ([TimeSpan]::FromMilliseconds(950))
        $p.WaitForExit(5000) | Should -BeTrue
        $p.ExitCode | Should -Be 137
    }

    It 'does not force-kill a process that honours TERM within the grace period' {
        $s = Start-Sleeper
        $r = Get-ChaosTarget -Id $s.Id | Invoke-WorkerCrash -GracePeriod 5s -Confirm:$false
        $r.ForcedKill | Should -BeFalse
        $r.ObservedState | Should -Be 'exited'
    }

    It 'crashes -Count of the piped set' {
        $ps = 1..3 | ForEach-Object { Start-Sleeper '603.5' }
        $r = Get-ChaosTarget -CommandLine '*sleep 603.5' | Invoke-WorkerCrash -Count 2 -Seed 5 -Confirm:$false
        @($r).Count | Should -Be 2
        Start-Sleep -Milliseconds 200
        @($ps | Where-Object { -not $_.HasExited }).Count | Should -Be 1
    }

    It 'rejects a bad signal and a negative duration before touching anything' {
        $s = Start-Sleeper
        $t = Get-ChaosTarget -Id $s.Id
        { $t | Invoke-WorkerCrash -Signal BOGUS -Confirm:$false -ErrorAction Stop } | Should -Throw
        { $t | Invoke-WorkerCrash -GracePeriod ([TimeSpan]::FromSeconds(-1)) -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidDuration*'
        { $t | Invoke-WorkerCrash -GracePeriod '-1s' -Confirm:$false -ErrorAction Stop } | Should -Throw
        { $t | Invoke-WorkerCrash -Interval 1s -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'IntervalNeedsDuration*'
        $s.HasExited | Should -BeFalse
    }

    It 'reports a target that vanished before the crash as ObjectNotFound and crashes the others' {
        $a = Start-Sleeper; $b = Start-Sleeper
        $targets = Get-ChaosTarget -Id $a.Id, $b.Id
        $a.Kill(); $a.WaitForExit()
        $r = $targets | Invoke-WorkerCrash -Confirm:$false -ErrorVariable errs -ErrorAction SilentlyContinue
        @($r).Count | Should -Be 1
        $r.ProcessId | Should -Be $b.Id
        $errs[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
    }

    It 'runs a chaos-monkey loop (-Interval/-Duration), one crash per round' {
        $ps = 1..3 | ForEach-Object { Start-Sleeper '604.5' }
        $r = Get-ChaosTarget -CommandLine '*sleep 604.5' | Invoke-WorkerCrash -Interval 400ms -Duration 3s -Count 1 -Confirm:$false -WarningAction SilentlyContinue
        @($r).Count | Should -Be 3 -Because 'three rounds found a live sleeper; later rounds found none'
        @($r.ProcessId | Sort-Object -Unique).Count | Should -Be 3
        $ps | ForEach-Object { $_.WaitForExit(5000) | Should -BeTrue }
    }

    It 'writes a dump of a .NET worker before crashing it (-Dump)' {
        $child = Invoke-ChildPwsh -Script 'Start-Sleep 120' -NoWait
        $started.Add($child)
        Wait-Until { (Get-ChildItem "/tmp/dotnet-diagnostic-$($child.Id)-*" -ErrorAction SilentlyContinue) } 60 | Should -BeTrue
        $dir = Join-Path $state 'dumps'
        $r = Get-ChaosTarget -Id $child.Id | Invoke-WorkerCrash -Dump -DumpType Mini -DumpDirectory $dir -Confirm:$false
        $r.DumpPath | Should -Exist
        (Get-Item $r.DumpPath).Length | Should -BeGreaterThan 100KB
        [IO.File]::ReadAllBytes($r.DumpPath)[0..3] | Should -Be @(0x7f, 0x45, 0x4c, 0x46) -Because 'a Linux core dump is an ELF file'
        $r.ObservedState | Should -Be 'exited'
        Remove-Item $dir -Recurse -Force
    }
}

Describe 'Suspend-ChaosTarget / Resume-ChaosTarget on processes' -Tag 'WorkerChaos' {
    It 'hangs a process for -Duration and resumes it, leaving nothing in the ledger' {
        $s = Start-Sleeper
        $job = Start-ThreadJob { param($m, $id, $st) $env:CHAOSPS_STATE_DIR = $st; Import-Module $m; Get-ChaosTarget -Id $id | Suspend-ChaosTarget -Duration 2s -Confirm:$false } -ArgumentList $env:CHAOSPS_MODULE, $s.Id, $state
        Wait-Until { (Get-ProcessState $s.Id) -eq 'T' } 20 | Should -BeTrue
        @(Get-ChaosFault -Kind Suspend).Count | Should -Be 1
        $r = $job | Wait-Job -Timeout 60 | Receive-Job
        $r.Outcome | Should -Be 'Resumed'
        $r.ObservedState | Should -BeIn 'S', 'R'
        Get-ProcessState $s.Id | Should -BeIn 'S', 'R'
        @(Get-ChaosFault).Count | Should -Be 0
    }

    It 'leaves a process suspended (ledgered) until Resume-ChaosTarget' {
        $s = Start-Sleeper
        $r = Get-ChaosTarget -Id $s.Id | Suspend-ChaosTarget -Confirm:$false
        $r.ObservedState | Should -Be 'T'
        (Get-ChaosFault -Id $r.FaultId).Kind | Should -Be 'Suspend'
        $back = Get-ChaosTarget -Id $s.Id | Resume-ChaosTarget
        $back.Outcome | Should -Be 'Resumed'
        Get-ProcessState $s.Id | Should -BeIn 'S', 'R'
        Get-ChaosFault -Id $r.FaultId | Should -BeNullOrEmpty
    }

    It 'warns and drops the undo when the target disappears mid-fault' {
        $s = Start-Sleeper
        # Kill it once it is suspended (state T), from another thread, while Suspend-ChaosTarget holds it.
        $killer = Start-ThreadJob { param($id) $sw = [Diagnostics.Stopwatch]::StartNew()
            while ($sw.Elapsed.TotalSeconds -lt 30) { $st = Get-Content "/proc/$id/stat" -Raw -ErrorAction SilentlyContinue; if ($st -and $st.Substring($st.LastIndexOf(')') + 2, 1) -eq 'T') { break }; Start-Sleep -Milliseconds 20 }
            Start-Sleep -Milliseconds 300; kill -KILL $id } -ArgumentList $s.Id
        $r = Get-ChaosTarget -Id $s.Id | Suspend-ChaosTarget -Duration 3s -Confirm:$false -WarningVariable warns -WarningAction SilentlyContinue
        $killer | Wait-Job | Remove-Job
        $r.Outcome | Should -Be 'TargetGone'
        "$warns" | Should -Match 'exited while suspended'
        @(Get-ChaosFault).Count | Should -Be 0
    }

    It 'Ctrl+C (stopping the pipeline) still resumes the target' {
        $s = Start-Sleeper
        $ps = [powershell]::Create()
        $null = $ps.AddScript({ param($m, $id, $st) $env:CHAOSPS_STATE_DIR = $st; Import-Module $m; Get-ChaosTarget -Id $id | Suspend-ChaosTarget -Duration 5m -Confirm:$false }).
            AddArgument($env:CHAOSPS_MODULE).AddArgument($s.Id).AddArgument($state)
        $h = $ps.BeginInvoke()
        try {
            Wait-Until { (Get-ProcessState $s.Id) -eq 'T' } 20 | Should -BeTrue
            $ps.Stop()
            Wait-Until { (Get-ProcessState $s.Id) -ne 'T' } 30 | Should -BeTrue
            Get-ProcessState $s.Id | Should -BeIn 'S', 'R'
            @(Get-ChaosFault).Count | Should -Be 0
        } finally { $ps.Dispose() }
    }
}

Describe 'Invoke-WorkerOom on a host process' -Tag 'WorkerChaos' {
    It 'gets the process OOM-killed by the kernel and removes its memory cgroup' {
        $s = Start-Sleeper
        $r = Get-ChaosTarget -Id $s.Id | Invoke-WorkerOom -Confirm:$false -Timeout 30s -ErrorVariable errs -ErrorAction SilentlyContinue
        if (-not $r -and $errs -and $errs[0].FullyQualifiedErrorId -like 'OomNotSupported*') {
            $errs[0].Exception.Message | Should -Match 'cannot OOM-kill .*: .+'
            Set-ItResult -Skipped -Because "host-process OOM is not supported here: $($errs[0].Exception.Message)"
            return
        }
        $r.GetType().FullName | Should -Be 'ChaosPS.Chaos.OomResult'
        $r.OomKilled | Should -BeTrue
        $r.ExitCode | Should -Be 137
        $s.WaitForExit(5000) | Should -BeTrue
        $s.ExitCode | Should -Be 137 -Because 'the OOM killer sends SIGKILL'
        $r.LimitRestored | Should -BeTrue
        @(Get-ChaosFault).Count | Should -Be 0
        Get-ChildItem "/dev/shm/chaosps-$($r.FaultId)*" -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $cg = ((Get-Content /proc/self/cgroup) -match ':memory:')[0] -replace '^.*:memory:', ''
        Get-ChildItem "/sys/fs/cgroup/memory$cg" -Directory -Filter 'chaosps-*' -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'rejects a limit below 6MB before touching anything' {
        $s = Start-Sleeper
        { Get-ChaosTarget -Id $s.Id | Invoke-WorkerOom -Limit 1MB -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'LimitTooSmall*'
        $s.HasExited | Should -BeFalse
    }
}

Describe 'Wait-ChaosRecovery' -Tag 'WorkerChaos' {
    It 'reports no recovery (with a time-to-detect) when a crashed process never comes back' {
        $s = Start-Sleeper '605.5'
        $r = Get-ChaosTarget -Id $s.Id | Invoke-WorkerCrash -Confirm:$false | Wait-ChaosRecovery -Timeout 1500ms -ErrorAction SilentlyContinue
        $r.GetType().FullName | Should -Be 'ChaosPS.Recovery.RecoveryResult'
        $r.Recovered | Should -BeFalse
        $r.TimeToDetect | Should -Not -BeNullOrEmpty
        $r.TimeToRecover | Should -BeNullOrEmpty
        $r.Probes[0].Kind | Should -Be 'Process'
    }

    It 'sees a process of the same command line back under a new pid' {
        $s = Start-Sleeper '606.5'
        $crash = Get-ChaosTarget -Id $s.Id | Invoke-WorkerCrash -Confirm:$false
        $job = Start-ThreadJob { Start-Sleep -Milliseconds 500; (Start-Process sleep -ArgumentList '606.5' -PassThru).Id }
        $r = $crash | Wait-ChaosRecovery -Timeout 30s
        $newPid = $job | Wait-Job | Receive-Job
        try {
            $r.Recovered | Should -BeTrue
            $r.TimeToRecover | Should -BeGreaterThan ([TimeSpan]::FromMilliseconds(400))
            $r.LastProbe | Should -Match "back as pid $newPid"
        } finally { Stop-Process -Id $newPid -ErrorAction SilentlyContinue }
    }

    It 'says so when no piped crash took (the target ignored SIGTERM): FaultsWithoutEffect and a warning, nothing to recover from' {
        $p = Start-TermIgnorer
        $crash = Get-ChaosTarget -Id $p.Id | Invoke-WorkerCrash -Signal TERM -ObserveTimeout 1s -Confirm:$false -WarningAction SilentlyContinue
        $crash.Survived | Should -BeTrue -Because $crash.ObservedState
        $r = $crash | Wait-ChaosRecovery -Timeout 10s -WarningVariable w -WarningAction SilentlyContinue
        $r.Recovered | Should -BeTrue -Because 'the same pid still runs: the system is healthy'
        $r.CrashCount | Should -Be 1
        $r.FaultCount | Should -Be 1
        $r.FaultsWithoutEffect.Count | Should -Be 1
        $r.FaultsWithoutEffect[0] | Should -Match 'running \('
        "$w" | Should -Match 'no piped fault took effect'
        "$w" | Should -Match "$($p.Id)"
        # A crash that took: no such warning.
        $s = Start-Sleeper '607.5'
        $gone = Get-ChaosTarget -Id $s.Id | Invoke-WorkerCrash -Confirm:$false
        $gone.Survived | Should -BeFalse
        $r2 = $gone | Wait-ChaosRecovery -Timeout 1s -WarningVariable w2 -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
        $r2.FaultsWithoutEffect.Count | Should -Be 0
        "$w2" | Should -Not -Match 'no piped fault took effect'
    }

    It 'probes TCP: a closed port is not healthy' {
        $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $port = $l.LocalEndpoint.Port; $l.Stop()
        $r = Wait-ChaosRecovery -TcpEndpoint "127.0.0.1:$port" -Timeout 1s -ErrorAction SilentlyContinue
        $r.Recovered | Should -BeFalse
        $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start()
        try { (Wait-ChaosRecovery -TcpEndpoint "127.0.0.1:$($l.LocalEndpoint.Port)" -Timeout 5s).Recovered | Should -BeTrue } finally { $l.Stop() }
    }

    It 'rejects bad input before probing' {
        { Wait-ChaosRecovery -ErrorAction Stop } | Should -Throw -ErrorId 'NoProbe*'
        { Wait-ChaosRecovery -Uri 'not a uri' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidUri*'
        { Wait-ChaosRecovery -TcpEndpoint 'nohostport' -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidEndpoint*'
        { Wait-ChaosRecovery -Uri 'http://127.0.0.1:1/' -Timeout ([TimeSpan]::FromSeconds(-1)) -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidDuration*'
    }
}

Describe 'Worker chaos against the embedded testbed (Process runtime)' -Tag 'WorkerChaos', 'Target' {
    BeforeAll { $script:t = Start-ChaosTestbed -Workers 4 }
    AfterAll { if ($t) { Stop-ChaosTestbed $t } }

    It 'selects workers by listening port and by piping the worker objects' {
        $w = $t.Workers[1]
        (Get-ChaosTarget -Port $w.Port).ProcessId | Should -Be $w.ProcessId
        $all = $t.Workers | Get-ChaosTarget
        @($all).Count | Should -Be 4
        $all.WorkerId | Sort-Object | Should -Be @('w1', 'w2', 'w3', 'w4')
    }

    It 'Get-ChaosTarget -Percent 50 | Invoke-WorkerCrash | Wait-ChaosRecovery reports recovery with times' {
        $rec = $t.Workers | Get-ChaosTarget -Percent 50 -Seed 3 | Invoke-WorkerCrash -Confirm:$false -PassThru |
            Wait-ChaosRecovery -Uri ([Uri]::new($t.RouterUri, '/health')) -Timeout 60s
        $rec.Recovered | Should -BeTrue
        $rec.CrashCount | Should -Be 2
        $rec.TimeToRecover | Should -BeGreaterThan ([TimeSpan]::Zero)
        Write-Host "  2 of 4 workers: detect $([int]$rec.TimeToDetect.TotalMilliseconds) ms, recover $([int]$rec.TimeToRecover.TotalMilliseconds) ms"
        @($t.Refresh().Workers | Where-Object Restarts -ge 1).Count | Should -Be 2
    }
}

Describe 'Get-WorkerDiagnostics / Save-WorkerDump' -Tag 'WorkerChaos' {
    BeforeAll {
        # A .NET worker that allocates and throws steadily: a child pwsh.
        $script:marker = Join-Path $state 'busy.started'
        $script:busy = Invoke-ChildPwsh -NoWait -Script "`$end = (Get-Date).AddMinutes(2); `$n = 0; while ((Get-Date) -lt `$end) { `$null = [byte[]]::new(1MB); try { throw 'x' } catch { }; if (++`$n -eq 20) { Set-Content '$marker' go }; Start-Sleep -Milliseconds 5 }"
        $started.Add($busy)
        Wait-Until { Test-Path $marker } 60 | Out-Null
    }

    It 'samples System.Runtime counters of a .NET process over EventPipe' {
        $d = Get-ChaosTarget -Id $busy.Id | Get-WorkerDiagnostics -Duration 3s
        $d.GetType().FullName | Should -Be 'ChaosPS.Diagnostics.WorkerCounters'
        $d.ProcessId | Should -Be $busy.Id
        $d.Samples | Should -BeGreaterOrEqual 1
        $d.CpuPercent | Should -Not -BeNullOrEmpty
        $d.GcHeapMB | Should -BeGreaterThan 0
        $d.AllocationRateMBPerSecond | Should -BeGreaterThan 0.1 -Because 'the worker allocates 1 MB arrays in a loop'
        $d.ExceptionsPerSecond | Should -BeGreaterThan 0.1 -Because 'the worker throws in a loop'
        $d.Counters.Keys | Should -Contain 'threadpool-queue-length'
    }

    It 'reports a process that is not .NET' {
        $s = Start-Sleeper
        Get-ChaosTarget -Id $s.Id | Get-WorkerDiagnostics -Duration 1s -ErrorVariable errs -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'NotADotnetProcess*'
        { Get-WorkerDiagnostics -ProcessId $s.Id -Duration ([TimeSpan]::FromSeconds(-1)) -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidDuration*'
    }

    It 'writes a dump with Save-WorkerDump' {
        $dir = Join-Path $state 'dumps2'
        $r = Get-ChaosTarget -Id $busy.Id | Save-WorkerDump -DumpType Mini -Path $dir -Confirm:$false
        $r.Path | Should -Exist
        $r.SizeBytes | Should -BeGreaterThan 100KB
        Remove-Item $dir -Recurse -Force
    }
}
