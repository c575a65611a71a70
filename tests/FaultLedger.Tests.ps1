# The fault ledger and its watchdog, end to end: a fault started by a pwsh that is then SIGKILLed is undone by the
# watchdog, and the ledger is empty afterwards. Real processes, a real SIGSTOP, a real SIGKILL. Also: the ledger refuses
# what another user planted (a real second user, nobody), faults outlive a kill -9 of the watchdog, and SIGTERM/SIGINT
# to the owning pwsh undo its faults at once.
Describe 'Fault ledger deadman (watchdog)' -Tag 'FaultLedger', 'WorkerChaos' {
    BeforeAll {
        Import-Module $env:CHAOSPS_MODULE -Force
        Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
        $script:outerState = $env:CHAOSPS_STATE_DIR
        $exe = @(Get-PwshPath)
        $script:pwsh = $exe[0]
        $script:pwshArgs = @($exe | Select-Object -Skip 1)
        function Get-ProcState([int] $Id) {
            $stat = Get-Content "/proc/$Id/stat" -Raw -ErrorAction SilentlyContinue
            if (-not $stat) { return 'gone' }
            $stat.Substring($stat.LastIndexOf(')') + 2, 1)
        }
        # Starts a child pwsh with its own state dir that runs $Script (with $Target bound) and writes its PID to a file.
        $script:isRoot = (id -u) -eq '0'
        function Get-Mode([string] $Path) { (stat -c '%a' $Path) }
        # The ledger's log says who undid what: a watchdog ("owner process N is gone") or the owner ("process N on SIGTERM").
        function Get-LedgerLog([string] $StateDir) { Get-Content (Join-Path $StateDir 'watchdog.log') -Raw -ErrorAction SilentlyContinue }
        # A 64MB tmpfs for disk fills (never a real filesystem); root only.
        function New-SmallFs {
            $dir = Join-Path ([IO.Path]::GetTempPath()) "chaosps-ledger-fs-$([guid]::NewGuid().ToString('n').Substring(0,8))"
            New-Item -ItemType Directory $dir | Out-Null
            mount -t tmpfs -o size=64m tmpfs $dir
            if ($LASTEXITCODE -ne 0) { throw "mount tmpfs on $dir failed" }
            $dir
        }
        function Start-FaultOwner([string] $StateDir, [string] $Script, [string] $Target, [switch] $DefaultSigInt) {
            $ownerFile = Join-Path $StateDir 'owner.pid'
            $child = Join-Path $StateDir 'child.ps1'
            Set-Content $child @"
param(`$Target)
`$ErrorActionPreference = 'Stop'
`$env:CHAOSPS_STATE_DIR = '$StateDir'
Import-Module '$env:CHAOSPS_MODULE'
`$PID | Set-Content '$ownerFile'
$Script
Start-Sleep 600
"@
            # A process started from a non-interactive shell's background job inherits SIGINT ignored; a test that sends
            # SIGINT resets it to the default first (coreutils env), as a terminal's foreground job has it.
            $psi = if ($DefaultSigInt) { [Diagnostics.ProcessStartInfo]::new('env') } else { [Diagnostics.ProcessStartInfo]::new($pwsh) }
            $argv = @($pwshArgs + @('-NoProfile', '-NonInteractive', '-File', $child, $Target))
            if ($DefaultSigInt) { $argv = @('--default-signal=INT', $pwsh) + $argv }
            foreach ($a in $argv) { $psi.ArgumentList.Add($a) }
            $psi.Environment['CHAOSPS_STATE_DIR'] = $StateDir
            $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
            $p = [Diagnostics.Process]::Start($psi)
            $null = $p.StandardOutput.ReadToEndAsync(); $errTask = $p.StandardError.ReadToEndAsync()
            $ok = Wait-Until { (Test-Path $ownerFile) -or $p.HasExited } 120
            if ($p.HasExited -or -not $ok) { throw "The child pwsh did not start: $($errTask.Result)" }
            $env:CHAOSPS_STATE_DIR = $StateDir
            try { $ok = Wait-Until { @(Get-ChaosFault).Count -ge 1 -or $p.HasExited } 60 } finally { $env:CHAOSPS_STATE_DIR = $outerState }
            if ($p.HasExited -or -not $ok) { throw "The child pwsh did not start its fault: $($errTask.Result)" }
            [pscustomobject]@{ Process = $p; OwnerPid = [int](Get-Content $ownerFile) }
        }
    }

    BeforeEach {
        $script:state = Join-Path ([IO.Path]::GetTempPath()) "chaosps-ledger-$([guid]::NewGuid().ToString('n').Substring(0,8))"
        New-Item -ItemType Directory $state | Out-Null
        chmod 700 $state   # the ledger refuses a folder others can write, whatever the umask of the machine
        $script:sleeper = Start-Process sleep -ArgumentList 900 -PassThru
    }

    AfterEach {
        if ($sleeper -and -not $sleeper.HasExited) { kill -CONT $sleeper.Id; $sleeper.Kill() }
        $env:CHAOSPS_STATE_DIR = $state
        Restore-ChaosFault -All -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
        $env:CHAOSPS_STATE_DIR = $outerState
        Stop-TestWatchdog $state | Out-Null
        if ($script:fs) { umount $script:fs; Remove-Item $script:fs -Force -ErrorAction SilentlyContinue; $script:fs = $null }
        Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'resumes a process suspended by a pwsh that was SIGKILLed, and empties the ledger (run <_>)' -ForEach 1, 2 {
        $owner = Start-FaultOwner $state 'Get-ChaosTarget -Id $Target | Suspend-ChaosTarget -Confirm:$false | Out-Null' $sleeper.Id
        # The record is written before the signal is sent (ledger first): wait for the stop itself.
        Wait-Until { (Get-ProcState $sleeper.Id) -eq 'T' } 30 | Should -BeTrue -Because 'Suspend-ChaosTarget stopped it'
        $env:CHAOSPS_STATE_DIR = $state
        try {
            @(Get-ChaosFault).Count | Should -Be 1
            (Get-ChaosFault).OwnerPid | Should -Be $owner.OwnerPid
            $killedAt = [Diagnostics.Stopwatch]::StartNew()
            kill -KILL $owner.OwnerPid
            $owner.Process.WaitForExit(30000) | Should -BeTrue
            # Generous: the watchdog polls a few times a second; the CI machine is shared and noisy.
            Wait-Until { (Get-ProcState $sleeper.Id) -ne 'T' -and @(Get-ChaosFault).Count -eq 0 } 60 | Should -BeTrue
            Write-Host "  watchdog undid the fault $([int]$killedAt.Elapsed.TotalMilliseconds) ms after the SIGKILL"
            Get-ProcState $sleeper.Id | Should -BeIn @('S', 'R') -Because 'the watchdog sent SIGCONT'
            @(Get-ChaosFault).Count | Should -Be 0
            Get-Content (Join-Path $state 'watchdog.log') -Raw | Should -Match 'owner process \d+ is gone; Restored'
        } finally { $env:CHAOSPS_STATE_DIR = $outerState }
    }

    It 'resumes by the deadline when the owner lives on (Suspend -Duration, owner SIGSTOPped mid-fault)' {
        # The owner is frozen, not killed: only the deadline (planned duration + grace) can end the fault.
        $owner = Start-FaultOwner $state 'Get-ChaosTarget -Id $Target | Suspend-ChaosTarget -Duration 8s -Confirm:$false' $sleeper.Id
        $env:CHAOSPS_STATE_DIR = $state
        try {
            $fault = Get-ChaosFault
            $fault.Kind | Should -Be 'Suspend'
            kill -STOP $owner.OwnerPid
            try {
                Wait-Until { (Get-ProcState $sleeper.Id) -ne 'T' -and @(Get-ChaosFault).Count -eq 0 } 90 | Should -BeTrue
                [DateTimeOffset]::UtcNow | Should -BeGreaterOrEqual $fault.Deadline.AddSeconds(-1) -Because 'the owner is alive, so only the deadline ends it'
                Get-Content (Join-Path $state 'watchdog.log') -Raw | Should -Match 'deadline .* passed; Restored'
            } finally { kill -CONT $owner.OwnerPid; kill -KILL $owner.OwnerPid }
        } finally { $env:CHAOSPS_STATE_DIR = $outerState }
    }

    It 'Restore-ChaosFault -All is idempotent' {
        $env:CHAOSPS_STATE_DIR = $state
        try {
            $r = Get-ChaosTarget -Id $sleeper.Id | Suspend-ChaosTarget -Confirm:$false
            $r.Outcome | Should -Be 'Suspended'
            Get-ProcState $sleeper.Id | Should -Be 'T'
            $first = Restore-ChaosFault -All -Confirm:$false
            $first.Outcome | Should -Be 'Restored'
            Get-ProcState $sleeper.Id | Should -BeIn @('S', 'R')
            @(Restore-ChaosFault -All -Confirm:$false).Count | Should -Be 0
            (Restore-ChaosFault -Id $r.FaultId -Confirm:$false).Outcome | Should -Be 'AlreadyRestored'
        } finally { $env:CHAOSPS_STATE_DIR = $outerState }
    }

    It 'refuses a state folder another user (nobody) planted, and never carries out its undo step' -Tag 'LedgerTrust' {
        if (-not $isRoot -or -not (Get-Command setpriv -ErrorAction SilentlyContinue)) { Set-ItResult -Skipped -Because 'needs root and setpriv to act as a second user'; return }
        $planted = Join-Path ([IO.Path]::GetTempPath()) "chaosps-planted-$([guid]::NewGuid().ToString('n').Substring(0,8))"
        $victim = Join-Path ([IO.Path]::GetTempPath()) "chaosps-rootonly-$([guid]::NewGuid().ToString('n').Substring(0,8))"
        New-Item -ItemType Directory $victim | Out-Null
        chmod 700 $victim
        try {
            # As nobody: a state folder and a record whose owner is long gone and whose undo deletes root's folder.
            $id = 'f260101000000-abcdef'
            $json = '{"Id":"' + $id + '","Kind":"Suspend","Target":"x","Description":"planted","CreatedAt":"2026-01-01T00:00:00+00:00","Deadline":"2026-01-01T00:00:00+00:00","OwnerPid":999999,"Undo":[{"Action":"delete-path","Args":{"path":"' + $victim + '"}}]}'
            $json | setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c "umask 022; mkdir -p '$planted/faults' && cat > '$planted/faults/$id.json'"
            $LASTEXITCODE | Should -Be 0
            (stat -c '%U' "$planted/faults/$id.json") | Should -Be 'nobody'
            # As root: a new pwsh imports the module with CHAOSPS_STATE_DIR pointing there, lists and restores.
            $errFile = Join-Path $state 'errors.txt'
            $cmd = "`$env:CHAOSPS_STATE_DIR = '$planted'; Import-Module '$env:CHAOSPS_MODULE'; try { Get-ChaosFault } catch { }; try { Restore-ChaosFault -All -Confirm:`$false } catch { }; `$Error | ForEach-Object FullyQualifiedErrorId | Set-Content '$errFile'; Start-Sleep 3"
            & $pwsh @pwshArgs -NoProfile -NonInteractive -Command $cmd
            Start-Sleep 2   # a watchdog, had one been started, polls several times a second
            Test-Path $victim | Should -BeTrue -Because 'the planted delete-path step must not run'
            Test-Path "$planted/faults/$id.json" | Should -BeTrue -Because 'nothing in an untrusted ledger is touched'
            Test-Path "$planted/watchdog.lock" | Should -BeFalse -Because 'no watchdog is started for an untrusted ledger'
            $ids = @(Get-Content $errFile)
            $ids.Count | Should -Be 2
            $ids | ForEach-Object { $_ | Should -BeLike 'UntrustedStateDirectory,*' }
            # The same refusal in this session, as a terminating error with the specific id.
            $env:CHAOSPS_STATE_DIR = $planted
            try {
                { Get-ChaosFault -ErrorAction Stop } | Should -Throw -ErrorId 'UntrustedStateDirectory*'
                { Get-ChaosTarget -Id $sleeper.Id | Suspend-ChaosTarget -Confirm:$false -ErrorAction Stop } | Should -Throw
                Get-ProcState $sleeper.Id | Should -Not -Be 'T' -Because 'nothing is applied when its record cannot be written safely'
            } finally { $env:CHAOSPS_STATE_DIR = $outerState }
        } finally {
            Remove-Item $planted, $victim -Recurse -Force -ErrorAction SilentlyContinue
        }
    }

    It 'creates the state folder 0700 and records 0600' -Tag 'LedgerTrust' {
        $fresh = Join-Path $state 'new/state'
        $env:CHAOSPS_STATE_DIR = $fresh
        try {
            $r = Get-ChaosTarget -Id $sleeper.Id | Suspend-ChaosTarget -Confirm:$false
            Get-Mode $fresh | Should -Be '700'
            Get-Mode (Join-Path $fresh 'faults') | Should -Be '700'
            Get-Mode (Join-Path $fresh "faults/$($r.FaultId).json") | Should -Be '600'
            (Restore-ChaosFault -Id $r.FaultId -Confirm:$false).Outcome | Should -Be 'Restored'
        } finally {
            Stop-TestWatchdog $fresh | Out-Null
            $env:CHAOSPS_STATE_DIR = $outerState
        }
    }

    It 'removes, on import, tmp files whose writer is gone and keeps a live writer''s' -Tag 'LedgerTrust' {
        $faults = New-Item -ItemType Directory (Join-Path $state 'faults') -Force
        $dead = Join-Path $faults 'f260101000000-dddddd.json.999999999.tmp'
        $old = Join-Path $faults 'f260101000000-eeeeee.json.tmp'
        $live = Join-Path $faults "f260101000000-ffffff.json.$PID.tmp"
        foreach ($f in $dead, $old, $live) { Set-Content $f '{' }
        (Get-Item $old).LastWriteTimeUtc = [DateTime]::UtcNow.AddMinutes(-5)
        $cmd = "`$env:CHAOSPS_STATE_DIR = '$state'; Import-Module '$env:CHAOSPS_MODULE'"
        & $pwsh @pwshArgs -NoProfile -NonInteractive -Command $cmd
        Test-Path $dead | Should -BeFalse -Because 'its writer (no such pid) is gone'
        Test-Path $old | Should -BeFalse -Because 'a tmp file from before pids were in the name, minutes old'
        Test-Path $live | Should -BeTrue -Because 'its writer (this pwsh) is alive'
    }

    It 'undoes a SIGSTOP and a disk fill without any import after kill -9 of the watchdog and then of the owner' -Tag 'WatchdogLoss' {
        if (-not $isRoot) { Set-ItResult -Skipped -Because 'mounting a tmpfs for the disk fill needs root'; return }
        $script:fs = New-SmallFs
        $owner = Start-FaultOwner $state "Get-ChaosTarget -Id `$Target | Suspend-ChaosTarget -Confirm:`$false | Out-Null; Invoke-DiskExhaustion -Path '$fs' -LeaveFree 8MB -Duration 5m -Confirm:`$false" $sleeper.Id
        $env:CHAOSPS_STATE_DIR = $state
        try {
            Wait-Until { @(Get-ChaosFault).Count -eq 2 -and @(Get-ChildItem $fs -Filter 'chaosps-fill-*').Count -eq 1 } 60 | Should -BeTrue
            Wait-Until { (Get-WatchdogPid $state 0) -gt 0 } 30 | Should -BeTrue -Because 'a watchdog watches the ledger'
            $wd = Get-WatchdogPid $state 0
            kill -KILL $wd
            $killedAt = [Diagnostics.Stopwatch]::StartNew()
            kill -KILL $owner.OwnerPid
            $owner.Process.WaitForExit(30000) | Should -BeTrue
            $at = @{}   # the condition runs in a scope of its own: record the times in a shared table
            Wait-Until {
                if (-not $at.S -and (Get-ProcState $sleeper.Id) -ne 'T') { $at.S = [int]$killedAt.Elapsed.TotalMilliseconds }
                if (-not $at.F -and @(Get-ChildItem $fs -Filter 'chaosps-fill-*').Count -eq 0) { $at.F = [int]$killedAt.Elapsed.TotalMilliseconds }
                $at.S -and $at.F -and @(Get-ChaosFault).Count -eq 0 } 60 | Should -BeTrue
            Write-Host "  watchdog $wd killed, then the owner: SIGSTOP undone after $($at.S) ms, disk fill removed after $($at.F) ms"
            Get-LedgerLog $state | Should -Match 'Suspend .*owner process \d+ is gone; Restored'
            Get-LedgerLog $state | Should -Match 'DiskFill .*owner process \d+ is gone; Restored'
        } finally { $env:CHAOSPS_STATE_DIR = $outerState }
    }

    It 'restarts both watchdogs after kill -9 of both while the owner lives, then undoes after the owner is killed' -Tag 'WatchdogLoss' {
        $owner = Start-FaultOwner $state 'Get-ChaosTarget -Id $Target | Suspend-ChaosTarget -Confirm:$false | Out-Null' $sleeper.Id
        $env:CHAOSPS_STATE_DIR = $state
        try {
            Wait-Until { (Get-WatchdogPid $state 0) -gt 0 -and (Get-WatchdogPid $state 1) -gt 0 } 30 | Should -BeTrue
            $old = (Get-WatchdogPid $state 0), (Get-WatchdogPid $state 1)
            kill -KILL @old
            # The owner re-checks twice a second; generous wait on a shared machine.
            Wait-Until { $n0 = Get-WatchdogPid $state 0; $n1 = Get-WatchdogPid $state 1
                $n0 -gt 0 -and $n1 -gt 0 -and $n0 -notin $old -and $n1 -notin $old -and (Test-Path "/proc/$n0") -and (Test-Path "/proc/$n1") } 60 | Should -BeTrue
            Start-Sleep 1
            $killedAt = [Diagnostics.Stopwatch]::StartNew()
            kill -KILL $owner.OwnerPid
            Wait-Until { (Get-ProcState $sleeper.Id) -ne 'T' -and @(Get-ChaosFault).Count -eq 0 } 60 | Should -BeTrue
            Write-Host "  both watchdogs killed and restarted by the owner; owner killed: undone after $([int]$killedAt.Elapsed.TotalMilliseconds) ms"
            Get-LedgerLog $state | Should -Match 'owner process \d+ is gone; Restored'
        } finally { $env:CHAOSPS_STATE_DIR = $outerState }
    }

    It 'undoes its faults at once on SIGTERM (SIGSTOP and disk fill), before the process exits 143' -Tag 'Signals' {
        if (-not $isRoot) { Set-ItResult -Skipped -Because 'mounting a tmpfs for the disk fill needs root'; return }
        $script:fs = New-SmallFs
        $owner = Start-FaultOwner $state "Get-ChaosTarget -Id `$Target | Suspend-ChaosTarget -Confirm:`$false | Out-Null; Invoke-DiskExhaustion -Path '$fs' -LeaveFree 8MB -Duration 5m -Confirm:`$false" $sleeper.Id
        $env:CHAOSPS_STATE_DIR = $state
        try {
            Wait-Until { @(Get-ChaosFault).Count -eq 2 -and @(Get-ChildItem $fs -Filter 'chaosps-fill-*').Count -eq 1 } 60 | Should -BeTrue
            $sw = [Diagnostics.Stopwatch]::StartNew()
            kill -TERM $owner.OwnerPid
            Wait-Until { (Get-ProcState $sleeper.Id) -ne 'T' -and @(Get-ChildItem $fs -Filter 'chaosps-fill-*').Count -eq 0 } 60 | Should -BeTrue
            Write-Host "  SIGTERM: both faults undone $([int]$sw.Elapsed.TotalMilliseconds) ms after the signal"
            $owner.Process.WaitForExit(30000) | Should -BeTrue
            $owner.Process.ExitCode | Should -Be 143 -Because 'the process still ends as SIGTERM ends it'
            # Who undid them: the owner's signal handler, not a watchdog noticing a dead owner.
            $log = Get-LedgerLog $state
            $log | Should -Match "Suspend .*process $($owner.OwnerPid) on SIGTERM; Restored"
            $log | Should -Match "DiskFill .*process $($owner.OwnerPid) on SIGTERM; Restored"
            $log | Should -Not -Match 'owner process \d+ is gone; Restored'
            # The records go just after the undo is logged; wait for the ledger rather than read it in that instant.
            Wait-Until { @(Get-ChaosFault).Count -eq 0 } 30 | Should -BeTrue -Because "no record outlives its undo: $(@(Get-ChaosFault) | ForEach-Object { "$($_.Kind) $($_.Id)" })"
        } finally { $env:CHAOSPS_STATE_DIR = $outerState }
    }

    It 'Ctrl+C (SIGINT) reaches a script blocked in Wait-Job on a ChaosPS job, and the job''s fault is undone by its owner' -Tag 'Signals' {
        if (-not (Get-Command env -ErrorAction SilentlyContinue)) { Set-ItResult -Skipped -Because 'needs coreutils env'; return }
        $owner = Start-FaultOwner $state '$j = Invoke-CpuExhaustion -Cores 1 -Percent 5 -Duration 5m -AsJob -Confirm:$false; Wait-Job $j | Out-Null' $sleeper.Id -DefaultSigInt
        $env:CHAOSPS_STATE_DIR = $state
        try {
            $fault = Get-ChaosFault
            $fault.Kind | Should -Be 'CpuStress'
            Wait-Until { (Get-ChaosFault).Undo.Count -ge 1 } 60 | Should -BeTrue -Because 'the stressor is in the record'
            $hog = [int](Get-ChaosFault).Undo[0].Args['pid']
            Start-Sleep 1
            $sw = [Diagnostics.Stopwatch]::StartNew()
            kill -INT $owner.OwnerPid
            $owner.Process.WaitForExit(60000) | Should -BeTrue -Because 'Ctrl+C stops Wait-Job and the script'
            Wait-Until { -not (Test-Path "/proc/$hog") -and @(Get-ChaosFault).Count -eq 0 } 60 | Should -BeTrue
            Write-Host "  SIGINT: pwsh exited and the CPU stressor was gone $([int]$sw.Elapsed.TotalMilliseconds) ms after the signal"
            Get-LedgerLog $state | Should -Match "CpuStress .*process $($owner.OwnerPid) on (exit|SIGINT); Restored"
        } finally { $env:CHAOSPS_STATE_DIR = $outerState }
    }
}
