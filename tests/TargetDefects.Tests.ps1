# The embedded testbed's deliberate defects (Start-ChaosTestbed -Defect). Each test runs the same scenario against a
# healthy target and against the defective one and shows the one difference the defect is documented to make, so an
# experiment aimed at the defect can be proven to catch it. Real processes, real signals, loopback only; no timed
# assertions (counts and status codes; waits are generous).
BeforeAll {
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    Import-Module (Get-ChaosModulePath) -Force

    function Invoke-Raw([string] $Uri, [string] $Body, [string] $Method = 'POST') {
        try { $r = Invoke-WebRequest -Uri $Uri -Method $Method -Body $Body -ContentType 'application/json' -SkipHttpErrorCheck -TimeoutSec 30 }
        catch { return [pscustomobject]@{ Status = 0; Body = $_.Exception.Message; Headers = @{} } }
        [pscustomobject]@{ Status = [int]$r.StatusCode; Body = [string]$r.Content; Headers = $r.Headers }
    }

    function Get-Metric([uri] $Base, [string] $Name) {
        # Sum of a Prometheus metric (all label sets) from /metrics.
        $text = (Invoke-Raw "$($Base)metrics" $null 'GET').Body
        $sum = 0
        foreach ($line in $text -split "`n") { if ($line -match "^$([regex]::Escape($Name))(\{[^}]*\})? (\d+)") { $sum += [long]$Matches[2] } }
        $sum
    }

    function Get-RouterWorker($t, [string] $Id) {
        (Invoke-Raw "$($t.RouterUri)workers" $null 'GET').Body | ConvertFrom-Json | Where-Object id -eq $Id
    }

    # Starts a target (healthy when $Defect is empty), runs $Scenario with it, always stops it.
    function Use-Target {
        param([Parameter(Mandatory, Position = 0)] [scriptblock] $Scenario, [string[]] $Defect, [hashtable] $With = @{})
        $p = @{} + $With
        if ($Defect) { $p.Defect = $Defect }
        $t = Start-ChaosTestbed @p
        try { & $Scenario $t }
        finally { Stop-ChaosTestbed $t }
    }

    # Sends one slow request through the router in a thread job; returns the job once a worker has it in flight,
    # with that worker's id in .Worker.
    function Start-SlowRequest($t, [int] $MaxTokens, [string] $Timeout) {
        $m = Get-ChaosModulePath
        $job = Start-ThreadJob -ArgumentList $m, $t.RouterUri, $MaxTokens, $Timeout {
            param($m, $u, $n, $to)
            Import-Module $m
            Invoke-ChaosInference -Uri $u -MaxTokens $n -Timeout $to
        }
        $seen = @{}
        $found = Wait-Until { $seen.Busy = (Invoke-Raw "$($t.RouterUri)workers" $null 'GET').Body | ConvertFrom-Json | Where-Object inflight -ge 1 | Select-Object -First 1; [bool]$seen.Busy } -IntervalMs 20
        $found | Should -BeTrue -Because 'the request must be in flight on a worker'
        $job | Add-Member -NotePropertyName Worker -NotePropertyValue $seen.Busy.id -PassThru
    }
}

Describe 'Start-ChaosTestbed -Defect: what the target shows' -Tag Target, TestbedDefects {
    It 'lists its defects on the object, in its table view, and on the router''s /health and /metrics' {
        Use-Target -Defect noretry, EmptyBody, EmptyBody -With @{ Workers = 1; TokenDelay = 0 } {
            param($t)
            $t.Defects | Should -Be @('NoRetry', 'EmptyBody')   # canonical names, duplicates dropped
            ($t | Out-String -Width 80) | Should -Match 'Defects: NoRetry, EmptyBody'
            ((Invoke-Raw "$($t.RouterUri)health" $null 'GET').Body | ConvertFrom-Json).defects | Should -Be @('EmptyBody', 'NoRetry')
            Get-Metric $t.RouterUri 'chaosps_testbed_defect' | Should -Be 2
            (Get-Metric $t.RouterUri 'chaosps_testbed_defects') | Should -Be 2
        }
    }

    It 'shows a healthy target as having none' {
        Use-Target -With @{ Workers = 1; TokenDelay = 0 } {
            param($t)
            $t.Defects | Should -HaveCount 0
            ($t | Out-String -Width 80) | Should -Match 'Defects: none'
            ((Invoke-Raw "$($t.RouterUri)health" $null 'GET').Body | ConvertFrom-Json).defects | Should -HaveCount 0
            Get-Metric $t.RouterUri 'chaosps_testbed_defects' | Should -Be 0
        }
    }
}

Describe 'Start-ChaosTestbed -Defect: bad input' -Tag Target, TestbedDefects, Unit {
    BeforeAll {
        $script:targetsDir = Join-Path $env:CHAOSPS_STATE_DIR 'targets'
        function Get-RunDirCount { @(Get-ChildItem $targetsDir -Directory -ErrorAction SilentlyContinue).Count }
    }

    It 'rejects an unknown defect at parameter binding, naming the valid ones' {
        $err = $null
        try { Start-ChaosTestbed -Defect NoRetry, Bogus -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'ParameterArgumentValidationError,ChaosPS.Commands.StartChaosTestbedCommand'
        $err.Exception.Message | Should -Match 'Bogus'
        $err.Exception.Message | Should -Match 'UnhealthyAfterRestart'
    }

    It 'rejects <Case> before anything starts' -ForEach @(
        @{ Case = '-ErrorEvery without the ErrorEveryNth defect'; Params = @{ ErrorEvery = 5 }; ErrorId = 'ErrorEveryWithoutDefect' }
        @{ Case = '-ErrorEvery 1'; Params = @{ Defect = 'ErrorEveryNth'; ErrorEvery = 1 }; ErrorId = 'InvalidErrorEvery' }
        @{ Case = 'a negative -ErrorEvery'; Params = @{ Defect = 'ErrorEveryNth'; ErrorEvery = -3 }; ErrorId = 'InvalidErrorEvery' }
    ) {
        $before = Get-RunDirCount
        { Start-ChaosTestbed @Params -ErrorAction Stop } | Should -Throw -ErrorId "$ErrorId,ChaosPS.Commands.StartChaosTestbedCommand"
        Get-RunDirCount | Should -Be $before
    }
}

Describe 'Start-ChaosTestbed -Defect: each defect against the healthy target' -Tag Target, TestbedDefects {
    It 'NoRetry: a worker killed mid-request costs the client an error (502) where the healthy router retries' {
        $observe = {
            param($t)
            $job = Start-SlowRequest $t -MaxTokens 20 -Timeout 30s
            $victim = $t.Workers | Where-Object Id -eq $job.Worker
            & kill -KILL $victim.ProcessId
            $r = $job | Receive-Job -Wait -AutoRemoveJob
            [pscustomobject]@{ Status = $r.StatusCode; Error = $r.Error; FailedWithoutRetry = Get-Metric $t.RouterUri 'chaosps_router_failed_without_retry_total'; Retries = Get-Metric $t.RouterUri 'chaosps_router_retries_total' }
        }
        $opts = @{ Workers = 2; TokenDelay = '100ms' }   # 20 tokens: the request is in flight for 2 s
        $healthy = Use-Target -With $opts $observe
        $broken = Use-Target -Defect NoRetry -With $opts $observe
        $healthy.Status | Should -Be 200 -Because "the healthy router retries on the other worker ($($healthy.Error))"
        $healthy.Retries | Should -BeGreaterOrEqual 1
        $broken.Status | Should -Be 502 -Because 'NoRetry answers the failed attempt'
        $broken.Error | Should -Match 'failed'
        $broken.FailedWithoutRetry | Should -Be 1
        $broken.Retries | Should -Be 0
    }

    It 'NoRestart: a killed worker stays dead where the healthy supervisor restarts it' {
        $opts = @{ Workers = 2; TokenDelay = 0 }
        Use-Target -With $opts {
            param($t)
            $old = $t.Workers[0].ProcessId
            & kill -KILL $old
            Wait-Until { $null = $t.Refresh(); $t.Workers[0].ProcessId -gt 0 -and $t.Workers[0].ProcessId -ne $old } | Should -BeTrue
            $t.Workers[0].Restarts | Should -Be 1
        }
        Use-Target -Defect NoRestart -With $opts {
            param($t)
            $old = $t.Workers[0].ProcessId
            & kill -KILL $old
            Wait-Until { $null = $t.Refresh(); $t.Workers[0].State -eq 'exited' } | Should -BeTrue
            Start-Sleep -Seconds 3   # many back-off periods of the healthy supervisor (100 ms first)
            $null = $t.Refresh()
            $t.Workers[0].State | Should -Be 'exited'
            $t.Workers[0].ProcessId | Should -Be 0
            $t.Workers[0].Restarts | Should -Be 0
            $t.Workers[0].LastExitCode | Should -Be 137
            (Invoke-Raw "$($t.Workers[0].Uri)health" $null 'GET').Status | Should -Be 0 -Because 'nothing listens on its port'
            Wait-Until { -not (Get-RouterWorker $t 'w1').healthy } | Should -BeTrue
            # The rest of the system carries on: the router still serves through w2.
            (Invoke-ChaosInference -Uri $t.RouterUri -Count 4 -MaxTokens 1).StatusCode | Sort-Object -Unique | Should -Be 200
        }
    }

    It 'NoShedding: overload gets no 429, the requests queue and wait where the healthy worker sheds' {
        $observe = {
            param($t)
            $r = Invoke-ChaosInference -Uri $t.Workers[0].Uri -Count 6 -Concurrency 6 -MaxTokens 5 -Timeout 60s
            [pscustomobject]@{
                Codes = @($r.StatusCode); Longest = ($r.Duration | Measure-Object -Maximum TotalSeconds).Maximum
                Queued = Get-Metric $t.Workers[0].Uri 'chaosps_worker_queued_total'; Rejected = Get-Metric $t.Workers[0].Uri 'chaosps_worker_rejected_total'
            }
        }
        $opts = @{ Workers = 1; MaxConcurrency = 1; TokenDelay = '100ms' }
        $healthy = Use-Target -With $opts $observe
        $broken = Use-Target -Defect NoShedding -With $opts $observe
        $healthy.Codes | Should -Contain 429
        $healthy.Queued | Should -Be 0
        $broken.Codes | Sort-Object -Unique | Should -Be 200 -Because 'NoShedding never answers 429'
        $broken.Rejected | Should -Be 0
        $broken.Queued | Should -BeGreaterOrEqual 1
        # Six 0.5 s requests served one at a time: the last one waited for the others (a lower bound, not a deadline).
        $broken.Longest | Should -BeGreaterThan 1.5
    }

    It 'IgnoreDiskFull: a worker that cannot write its data folder answers 200 where the healthy one answers 507' {
        $observe = {
            param($t)
            $w = $t.Workers[0]
            $before = (Invoke-ChaosInference -Uri $w.Uri -MaxTokens 1).StatusCode
            Remove-Item $w.DataPath -Recurse -Force   # every write of the spool record now fails (as on a full disk)
            $r = Invoke-ChaosInference -Uri $w.Uri -MaxTokens 1
            [pscustomobject]@{ Before = $before; After = $r.StatusCode; Text = $r.Text; Ignored = Get-Metric $w.Uri 'chaosps_worker_disk_errors_ignored_total' }
        }
        $opts = @{ Workers = 1; TokenDelay = 0 }
        $healthy = Use-Target -With $opts $observe
        $broken = Use-Target -Defect IgnoreDiskFull -With $opts $observe
        $healthy.Before | Should -Be 200
        $healthy.After | Should -Be 507
        $broken.Before | Should -Be 200
        $broken.After | Should -Be 200 -Because 'IgnoreDiskFull swallows the write error'
        $broken.Text | Should -Not -BeNullOrEmpty
        $broken.Ignored | Should -Be 1
    }

    It 'NoAttemptTimeout: a request to a hung (suspended) worker hangs where the healthy router gives up after its attempt timeout' {
        $observe = {
            param($t)
            $victim = Get-ChaosTarget -ProcessId $t.Workers[0].ProcessId
            # The request goes out right after the SIGSTOP, while the router still counts the worker healthy (its health
            # probe needs two failed 1 s probes to mark it down).
            $null = $victim | Suspend-ChaosTarget -Confirm:$false
            try { $r = Invoke-ChaosInference -Uri $t.RouterUri -MaxTokens 1 -Timeout 10s }
            finally { $null = $victim | Resume-ChaosTarget -Confirm:$false }
            [pscustomobject]@{ Status = $r.StatusCode; Error = $r.Error; Failures = (Get-RouterWorker $t 'w1').failures }
        }
        $opts = @{ Workers = 1; TokenDelay = 0; AttemptTimeout = '1s' }
        $healthy = Use-Target -With $opts $observe
        $broken = Use-Target -Defect NoAttemptTimeout -With $opts $observe
        $healthy.Status | Should -Be 503 -Because "the healthy router stops waiting after 1 s and, with no other worker, says so ($($healthy.Error))"
        $healthy.Failures | Should -Be 1 -Because 'the attempt timed out on the hung worker'
        $broken.Status | Should -Be 0 -Because "NoAttemptTimeout waits on the hung worker past the client's 10 s ($($broken.Error))"
        $broken.Error | Should -Match 'timed out'
    }

    It 'UnhealthyAfterRestart: the restarted worker passes /health but fails every request where the healthy one serves' {
        $observe = {
            param($t)
            $first = Invoke-ChaosInference -Uri $t.RouterUri -Count 3 -MaxTokens 1
            $old = $t.Workers[0].ProcessId
            & kill -KILL $old
            Wait-Until { $null = $t.Refresh(); $t.Workers[0].ProcessId -gt 0 -and $t.Workers[0].ProcessId -ne $old } | Should -BeTrue
            Wait-Until { (Invoke-Raw "$($t.Workers[0].Uri)health" $null 'GET').Status -eq 200 } | Should -BeTrue
            Wait-Until { (Get-RouterWorker $t 'w1').healthy } | Should -BeTrue
            $after = Invoke-ChaosInference -Uri $t.RouterUri -Count 3 -MaxTokens 1
            [pscustomobject]@{
                First = @($first.StatusCode); After = @($after.StatusCode); Error = $after[0].Error
                WorkerHealth = (Invoke-Raw "$($t.Workers[0].Uri)health" $null 'GET').Status; RouterHealth = (Invoke-Raw "$($t.RouterUri)health" $null 'GET').Status
            }
        }
        $opts = @{ Workers = 1; TokenDelay = 0 }
        $healthy = Use-Target -With $opts $observe
        $broken = Use-Target -Defect UnhealthyAfterRestart -With $opts $observe
        $healthy.After | Sort-Object -Unique | Should -Be 200
        $broken.First | Sort-Object -Unique | Should -Be 200 -Because 'the first start is fine'
        $broken.After | Sort-Object -Unique | Should -Be 500 -Because 'after the restart every inference request fails'
        $broken.Error | Should -Match 'did not load'
        $broken.WorkerHealth | Should -Be 200 -Because 'its health check still passes'
        $broken.RouterHealth | Should -Be 200
    }

    It 'EmptyBody: the router answers 200 with an empty body where the healthy one answers the JSON' {
        $observe = {
            param($t)
            $raw = Invoke-Raw "$($t.RouterUri)v1/infer" '{"prompt":"x","max_tokens":2}'
            $stream = Invoke-ChaosInference -Uri $t.RouterUri -Stream -MaxTokens 2
            $checked = Invoke-ChaosInference -Uri $t.RouterUri -MaxTokens 1
            [pscustomobject]@{ Status = $raw.Status; Body = $raw.Body; StreamStatus = $stream.StatusCode; StreamTokens = $stream.Tokens; StreamError = $stream.Error
                Emptied = Get-Metric $t.RouterUri 'chaosps_router_emptied_total'; Checked = $checked }
        }
        $opts = @{ Workers = 1; TokenDelay = 0 }
        $healthy = Use-Target -With $opts $observe
        $broken = Use-Target -Defect EmptyBody -With $opts $observe
        $healthy.Status | Should -Be 200
        ($healthy.Body | ConvertFrom-Json).text | Should -Not -BeNullOrEmpty
        $healthy.StreamTokens | Should -Be 2
        $healthy.Checked.Success | Should -BeTrue
        $broken.Status | Should -Be 200 -Because 'a status-only check sees nothing wrong'
        $broken.Body | Should -BeNullOrEmpty
        $broken.StreamStatus | Should -Be 200
        $broken.StreamTokens | Should -Be 0
        $broken.StreamError | Should -Match 'DONE'
        $broken.Checked.StatusCode | Should -Be 200
        $broken.Checked.Success | Should -BeFalse -Because 'a check of the body catches it'
        $broken.Emptied | Should -Be 3
    }

    It 'ErrorEveryNth: each worker answers 500 to every 20th request (about 5%) where the healthy one answers none' {
        $observe = {
            param($t)
            $r = Invoke-ChaosInference -Uri $t.RouterUri -Count 100 -Concurrency 4 -MaxTokens 1
            [pscustomobject]@{ Errors = @($r | Where-Object StatusCode -eq 500).Count; Ok = @($r | Where-Object StatusCode -eq 200).Count }
        }
        $opts = @{ Workers = 2; TokenDelay = 0 }
        $healthy = Use-Target -With $opts $observe
        $broken = Use-Target -Defect ErrorEveryNth -With $opts $observe
        $healthy.Errors | Should -Be 0
        $healthy.Ok | Should -Be 100
        # Two workers share the 100 requests (n1 + n2 = 100): floor(n1/20) + floor(n2/20) is 4 or 5.
        $broken.Errors | Should -BeIn 4, 5
        $broken.Ok | Should -Be (100 - $broken.Errors)
    }

    It 'ErrorEveryNth -ErrorEvery 3: exactly every third request of a worker fails' {
        Use-Target -Defect ErrorEveryNth -With @{ Workers = 1; TokenDelay = 0; ErrorEvery = 3 } {
            param($t)
            $t.ErrorEvery | Should -Be 3
            $codes = 1..9 | ForEach-Object { (Invoke-ChaosInference -Uri $t.Workers[0].Uri -MaxTokens 1).StatusCode }
            $codes | Should -Be @(200, 200, 500, 200, 200, 500, 200, 200, 500)
            Get-Metric $t.Workers[0].Uri 'chaosps_worker_injected_errors_total' | Should -Be 3
        }
    }
}

Describe 'Start-ChaosTestbed -Defect with -Runtime Docker' -Tag Target, TestbedDefects, Docker {
    It 'gives the containers the same defects: ErrorEveryNth answers 500s, NoRestart leaves a killed container exited' {
        Skip-WithoutDocker
        $t = Start-ChaosTestbed -Workers 2 -Runtime Docker -TokenDelay 0 -Defect ErrorEveryNth, NoRestart -ErrorEvery 2
        try {
            $c = docker inspect $t.Workers[0].ContainerId | ConvertFrom-Json
            ($c.Config.Cmd -join ' ') | Should -Match '--defects ErrorEveryNth,NoRestart --error-every 2'
            $codes = 1..4 | ForEach-Object { (Invoke-ChaosInference -Uri $t.Workers[0].Uri -MaxTokens 1).StatusCode }
            $codes | Should -Be @(200, 500, 200, 500)
            docker kill $t.Workers[0].ContainerId | Out-Null
            Wait-Until { $null = $t.Refresh(); $t.Workers[0].State -eq 'exited' } | Should -BeTrue
            Start-Sleep -Seconds 3
            (docker inspect $t.Workers[0].ContainerId | ConvertFrom-Json).State.Running | Should -BeFalse
            $null = $t.Refresh()
            $t.Workers[0].Restarts | Should -Be 0
        }
        finally { Stop-ChaosTestbed $t }
    }

    It 'UnhealthyAfterRestart: a killed container comes back with a passing /health and fails every request' {
        Skip-WithoutDocker
        $t = Start-ChaosTestbed -Workers 1 -Runtime Docker -TokenDelay 0 -Defect UnhealthyAfterRestart
        try {
            (Invoke-ChaosInference -Uri $t.RouterUri -MaxTokens 1).StatusCode | Should -Be 200
            docker kill $t.Workers[0].ContainerId | Out-Null
            Wait-Until { $null = $t.Refresh(); $t.Workers[0].Restarts -ge 1 -and $t.Workers[0].State -eq 'running' } | Should -BeTrue
            Wait-Until { (Invoke-Raw "$($t.Workers[0].Uri)health" $null 'GET').Status -eq 200 } | Should -BeTrue
            Wait-Until { (Get-RouterWorker $t 'w1').healthy } | Should -BeTrue
            $r = Invoke-ChaosInference -Uri $t.RouterUri -Count 3 -MaxTokens 1
            $r.StatusCode | Sort-Object -Unique | Should -Be 500
            $r[0].Error | Should -Match 'did not load'
        }
        finally { Stop-ChaosTestbed $t }
    }
}
