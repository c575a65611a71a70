# The fault ledger and its watchdog, end to end: a fault started by a pwsh that is then SIGKILLed is undone by the
# watchdog, and the ledger is empty afterwards. Real processes, a real SIGSTOP, a real SIGKILL.
Describe 'Fault ledger deadman (watchdog)' -Tag 'FaultLedger', 'WorkerChaos' {
    BeforeAll {
        Import-Module $env:CHAOSPS_MODULE -Force
        $script:outerState = $env:CHAOSPS_STATE_DIR
        $script:pwsh = [Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
        $script:pwshArgs = if ((Split-Path $pwsh -Leaf) -match '^pwsh(\.exe)?$') { @() } else { @((Join-Path $PSHOME 'pwsh.dll')) }
        function Get-ProcState([int] $Id) {
            $stat = Get-Content "/proc/$Id/stat" -Raw -ErrorAction SilentlyContinue
            if (-not $stat) { return 'gone' }
            $stat.Substring($stat.LastIndexOf(')') + 2, 1)
        }
        function Wait-Until([scriptblock] $Condition, [int] $Seconds = 60) {
            $sw = [Diagnostics.Stopwatch]::StartNew()
            while ($sw.Elapsed.TotalSeconds -lt $Seconds) { if (& $Condition) { return $true }; Start-Sleep -Milliseconds 100 }
            return [bool](& $Condition)
        }
        # Starts a child pwsh with its own state dir that runs $Script (with $Target bound) and writes its PID to a file.
        function Start-FaultOwner([string] $StateDir, [string] $Script, [string] $Target) {
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
            $psi = [Diagnostics.ProcessStartInfo]::new($pwsh)
            foreach ($a in $pwshArgs + @('-NoProfile', '-NonInteractive', '-File', $child, $Target)) { $psi.ArgumentList.Add($a) }
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
        $script:sleeper = Start-Process sleep -ArgumentList 900 -PassThru
    }

    AfterEach {
        if ($sleeper -and -not $sleeper.HasExited) { kill -CONT $sleeper.Id; $sleeper.Kill() }
        $env:CHAOSPS_STATE_DIR = $state
        Restore-ChaosFault -All -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
        $env:CHAOSPS_STATE_DIR = $outerState
        $wd = Join-Path $state 'watchdog.lock'
        if (Test-Path $wd) {
            $wdPid = Get-Content $wd -Raw -ErrorAction SilentlyContinue
            if ($wdPid -match '^\d+$') { Stop-Process -Id ([int]$wdPid) -Force -ErrorAction SilentlyContinue }
        }
        Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'resumes a process suspended by a pwsh that was SIGKILLed, and empties the ledger (run <_>)' -ForEach 1, 2 {
        $owner = Start-FaultOwner $state 'Get-ChaosTarget -Id $Target | Suspend-ChaosTarget -Confirm:$false | Out-Null' $sleeper.Id
        Get-ProcState $sleeper.Id | Should -Be 'T' -Because 'Suspend-ChaosTarget stopped it'
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
}
