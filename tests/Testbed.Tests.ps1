# The embedded testbed, as users drive it: Start-ChaosTestbed, real inference requests, a worker killed by
# hand, the supervisor bringing it back, the router routing around it, and Stop-ChaosTestbed leaving nothing behind.
BeforeAll {
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    Import-Module (Get-ChaosModulePath) -Force

    function Invoke-Raw([string] $Uri, [string] $Body, [string] $Method = 'POST') {
        # Status and body without PowerShell turning 4xx/5xx into exceptions.
        try { $r = Invoke-WebRequest -Uri $Uri -Method $Method -Body $Body -ContentType 'application/json' -SkipHttpErrorCheck -TimeoutSec 30 }
        catch { return [pscustomobject]@{ Status = 0; Body = $_.Exception.Message; Headers = @{} } }   # refused, reset
        [pscustomobject]@{ Status = [int]$r.StatusCode; Body = [string]$r.Content; Headers = $r.Headers }
    }
}

Describe 'Start-ChaosTestbed -Runtime Process' -Tag Target {
    BeforeAll {
        $script:t = Start-ChaosTestbed -Workers 3 -TokenDelay 10ms
    }
    AfterAll {
        if ($t) { Stop-ChaosTestbed $t }
    }

    It 'returns the router, the supervisor and each worker with a pid and a URI on 127.0.0.1' {
        $t.GetType().FullName | Should -Be 'ChaosPS.Testbed.ChaosTestbed'
        $t.RouterUri.Host | Should -Be '127.0.0.1'
        $t.SupervisorProcessId | Should -BeGreaterThan 0
        $t.Workers | Should -HaveCount 3
        foreach ($w in $t.Workers) {
            $w.ProcessId | Should -BeGreaterThan 0
            Get-ProcessState $w.ProcessId | Should -Not -BeNullOrEmpty
            $w.Uri.Host | Should -Be '127.0.0.1'
        }
        ($t.Workers.Port + $t.RouterPort | Sort-Object -Unique) | Should -HaveCount 4
    }

    It 'answers JSON inference requests through the router, spread over the workers' {
        $r = Invoke-ChaosInference -Uri $t.RouterUri -Count 9 -Concurrency 3 -MaxTokens 4
        $r | Should -HaveCount 9
        $r.StatusCode | Sort-Object -Unique | Should -Be 200
        ($r.Worker | Sort-Object -Unique).Count | Should -BeGreaterThan 1
        $r[0].Tokens | Should -Be 4
        $r[0].Text.Split(' ') | Should -HaveCount 4
    }

    It 'streams tokens as server-sent events' {
        $r = $t | Invoke-ChaosInference -Stream -MaxTokens 5
        $r.StatusCode | Should -Be 200
        $r.Error | Should -BeNullOrEmpty
        $r.Tokens | Should -Be 5
        $r.TimeToFirstToken | Should -BeLessThan $r.Duration
        $raw = Invoke-Raw "$($t.Workers[0].Uri)v1/infer" '{"prompt":"hi","max_tokens":2,"stream":true}'
        $raw.Headers['Content-Type'] | Should -Match 'text/event-stream'
        ($raw.Body -split "`n" | Where-Object { $_ -like 'data: *' }) | Should -HaveCount 3   # 2 tokens + [DONE]
    }

    It 'answers malformed input with 400 and a JSON error' {
        foreach ($bad in '{not json', '{"max_tokens":3}', '{"prompt":"x","max_tokens":0}', '{"prompt":"x","stream":"yes"}', '') {
            $r = Invoke-Raw "$($t.Workers[0].Uri)v1/infer" $bad
            $r.Status | Should -Be 400 -Because "body '$bad' is malformed"
            ($r.Body | ConvertFrom-Json).error.message | Should -Not -BeNullOrEmpty
        }
    }

    It 'serves /health and /metrics on the router' {
        (Invoke-Raw "$($t.RouterUri)health" $null 'GET').Status | Should -Be 200
        (Invoke-Raw "$($t.RouterUri)metrics" $null 'GET').Body | Should -Match 'chaosps_router_worker_up\{worker="w1"\} 1'
    }

    It 'routes around a worker killed by hand and the supervisor brings it back under a new pid' {
        $victim = $t.Workers[0]
        $oldPid = $victim.ProcessId
        & kill -KILL $oldPid
        # Requests right after the kill still succeed: the router retries on another worker.
        $r = Invoke-ChaosInference -Uri $t.RouterUri -Count 12 -Concurrency 4 -MaxTokens 2
        $r.StatusCode | Sort-Object -Unique | Should -Be 200
        Wait-Until { $null = $t.Refresh(); $t.Workers[0].ProcessId -gt 0 -and $t.Workers[0].ProcessId -ne $oldPid } -TimeoutSeconds 30 | Should -BeTrue
        $t.Workers[0].Restarts | Should -BeGreaterOrEqual 1
        $t.Workers[0].LastExitCode | Should -Be 137
        Wait-Until { (Invoke-Raw "$($t.Workers[0].Uri)health" $null 'GET').Status -eq 200 } -TimeoutSeconds 30 | Should -BeTrue
    }

    It 'answers 503 with Retry-After when no worker is healthy, and recovers when they are back' {
        $pids = $t.Refresh().Workers.ProcessId
        try {
            foreach ($p in $pids) { & kill -STOP $p }
            Wait-Until { (Invoke-Raw "$($t.RouterUri)health" $null 'GET').Status -eq 503 } -TimeoutSeconds 30 | Should -BeTrue
            $r = Invoke-Raw "$($t.RouterUri)v1/infer" '{"prompt":"x","max_tokens":1}'
            $r.Status | Should -Be 503
            $r.Headers['Retry-After'] | Should -Not -BeNullOrEmpty
        }
        finally { foreach ($p in $pids) { & kill -CONT $p } }
        Wait-Until { (Invoke-Raw "$($t.RouterUri)health" $null 'GET').Status -eq 200 } -TimeoutSeconds 30 | Should -BeTrue
        (Invoke-ChaosInference -Uri $t.RouterUri -MaxTokens 1).StatusCode | Should -Be 200
    }

    It 'moves a restarted worker to a free port when its own was taken meanwhile, and the router follows' {
        $w = $t.Refresh().Workers[1]
        $oldPort = $w.Port
        & kill -KILL $w.ProcessId
        # Take the port before the supervisor restarts the worker (its first back-off is 100 ms).
        $squatter = $null
        $sw = [Diagnostics.Stopwatch]::StartNew()
        while (-not $squatter -and $sw.ElapsedMilliseconds -lt 2000) {
            try { $squatter = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, $oldPort); $squatter.Start() }
            catch { $squatter = $null; Start-Sleep -Milliseconds 5 }
        }
        try {
            $squatter | Should -Not -BeNullOrEmpty -Because 'the test must hold the old port'
            Wait-Until { $null = $t.Refresh(); $t.Workers[1].Port -ne $oldPort -and $t.Workers[1].State -eq 'running' } -TimeoutSeconds 30 | Should -BeTrue
            $t.Workers[1].Uri.Port | Should -Be $t.Workers[1].Port
            $routerSeesIt = {
                $w2 = (Invoke-Raw "$($t.RouterUri)workers" $null 'GET').Body | ConvertFrom-Json | Where-Object id -eq 'w2'
                $w2.healthy -and $w2.uri -match ":$($t.Workers[1].Port)/"
            }
            Wait-Until $routerSeesIt -TimeoutSeconds 30 | Should -BeTrue
            $r = Invoke-ChaosInference -Uri $t.Workers[1].Uri -MaxTokens 1 -Timeout 10s
            $r.StatusCode | Should -Be 200 -Because "$($r.Uri): $($r.Error)"
        }
        finally { if ($squatter) { $squatter.Stop() } }
    }

    It 'leaves no process behind after Stop-ChaosTestbed' {
        $id = $t.Id
        @(Get-TargetProcess $id).Count | Should -BeGreaterOrEqual 5   # supervisor, router, 3 workers
        Stop-ChaosTestbed $t
        Wait-Until { @(Get-TargetProcess $id).Count -eq 0 } -TimeoutSeconds 20 | Should -BeTrue
        Test-Path $t.RunDirectory | Should -BeFalse
        $script:t = $null
    }
}

Describe 'Worker back-pressure and disk' -Tag Target {
    It 'answers 429 past its concurrency limit' {
        $t = Start-ChaosTestbed -Workers 1 -MaxConcurrency 1 -TokenDelay 100ms
        try {
            $w = $t.Workers[0].Uri
            $jobs = 1..4 | ForEach-Object { Start-ThreadJob { param($u) (Invoke-WebRequest "$($u)v1/infer" -Method Post -Body '{"prompt":"x","max_tokens":5}' -ContentType application/json -SkipHttpErrorCheck).StatusCode } -ArgumentList $w }
            $codes = $jobs | Receive-Job -Wait -AutoRemoveJob
            $codes | Should -Contain 200
            $codes | Should -Contain 429
        }
        finally { Stop-ChaosTestbed $t }
    }

    It 'answers 507 when it cannot write its disk, and 200 again once there is room' {
        if (-not $IsLinux -or (id -u) -ne 0) { Set-ItResult -Skipped -Because 'needs root on Linux to mount a small tmpfs'; return }
        $mnt = Join-Path ([IO.Path]::GetTempPath()) "chaosps-disk-$PID"
        New-Item -ItemType Directory $mnt | Out-Null
        & mount -t tmpfs -o size=1m tmpfs $mnt
        $LASTEXITCODE | Should -Be 0
        try {
            $t = Start-ChaosTestbed -Workers 1 -DataPath $mnt -TokenDelay 0
            try {
                $w = $t.Workers[0]
                (Invoke-ChaosInference -Uri $w.Uri -MaxTokens 1).StatusCode | Should -Be 200
                $fill = Join-Path $mnt 'fill.bin'
                & dd if=/dev/zero of=$fill bs=64k 2>$null
                (Invoke-ChaosInference -Uri $w.Uri -MaxTokens 1).StatusCode | Should -Be 507
                Remove-Item $fill
                (Invoke-ChaosInference -Uri $w.Uri -MaxTokens 1).StatusCode | Should -Be 200
            }
            finally { Stop-ChaosTestbed $t }
            # The worker's data folder was ChaosPS's own: gone with the system, nothing left on the user's disk.
            @(Get-ChildItem $mnt -Force) | Should -HaveCount 0
        }
        finally { & umount $mnt; Remove-Item $mnt -Recurse -Force }
    }
}

Describe 'Start-ChaosTestbed bad input' -Tag Target, Unit {
    BeforeAll {
        $script:targetsDir = Join-Path $env:CHAOSPS_STATE_DIR 'targets'
        function Get-RunDirCount { @(Get-ChildItem $targetsDir -Directory -ErrorAction SilentlyContinue).Count }
    }

    It 'rejects <Case> before anything starts' -ForEach @(
        @{ Case = '-Workers 0'; Params = @{ Workers = 0 }; ErrorId = 'InvalidWorkerCount' }
        @{ Case = 'a negative token delay'; Params = @{ TokenDelay = [timespan]::FromSeconds(-1) }; ErrorId = 'InvalidTokenDelay' }
        @{ Case = 'a missing data path'; Params = @{ DataPath = '/nonexistent/chaosps' }; ErrorId = 'DataPathNotFound' }
    ) {
        $before = Get-RunDirCount
        { Start-ChaosTestbed @Params -ErrorAction Stop } | Should -Throw -ErrorId "$ErrorId,ChaosPS.Commands.StartChaosTestbedCommand"
        Get-RunDirCount | Should -Be $before
    }

    It 'rejects an unknown runtime at parameter binding' {
        { Start-ChaosTestbed -Runtime Podman } | Should -Throw -ErrorId 'ParameterArgumentValidationError,ChaosPS.Commands.StartChaosTestbedCommand'
    }

    It 'names the Docker endpoint it tried and what to do when Docker is unreachable' {
        $before = Get-RunDirCount
        $err = $null
        try { Start-ChaosTestbed -Runtime Docker -DockerEndpoint 'unix:///nonexistent/docker.sock' -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Be 'DockerUnreachable,ChaosPS.Commands.StartChaosTestbedCommand'
        $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        $err.Exception.Message | Should -Match 'unix:///nonexistent/docker\.sock'
        $err.ErrorDetails.RecommendedAction | Should -Match 'dockerd'
        Get-RunDirCount | Should -Be $before
    }
}

Describe 'A target whose owner dies' -Tag Target {
    It 'stops itself when the pwsh that started it is SIGKILLed' {
        $m = Get-ChaosModulePath
        $p = Invoke-ChildPwsh -NoWait -Script "Import-Module '$m'; `$t = Start-ChaosTestbed -Workers 2; 'TARGET=' + `$t.Id; Start-Sleep 600"
        $id = $null
        while (-not $id -and -not $p.HasExited) {
            $line = $p.StandardOutput.ReadLine()
            if ($line -match '^TARGET=(\w+)') { $id = $Matches[1] }
        }
        $id | Should -Not -BeNullOrEmpty
        @(Get-TargetProcess $id).Count | Should -BeGreaterOrEqual 4
        & kill -KILL $p.Id
        Wait-Until { @(Get-TargetProcess $id).Count -eq 0 } -TimeoutSeconds 30 | Should -BeTrue
    }
}

Describe 'Start-ChaosTestbed -Runtime Docker' -Tag Target, Docker {
    BeforeAll {
        $script:t = $null
        if (Test-DockerEngine) { $script:t = Start-ChaosTestbed -Workers 2 -Runtime Docker -TokenDelay 5ms }
    }
    AfterAll { if ($t) { Stop-ChaosTestbed $t } }

    It 'runs the workers as real containers on host networking and answers through the router' {
        Skip-WithoutDocker
        foreach ($w in $t.Workers) {
            $w.ContainerId | Should -Not -BeNullOrEmpty
            $c = docker inspect $w.ContainerId | ConvertFrom-Json
            $c.State.Running | Should -BeTrue
            $c.HostConfig.NetworkMode | Should -Be 'host'
            $c.Config.Labels.'chaosps.testbed' | Should -Be $t.Id
        }
        $r = Invoke-ChaosInference -Uri $t.RouterUri -Count 6 -Concurrency 2 -MaxTokens 3
        $r.StatusCode | Sort-Object -Unique | Should -Be 200
        ($t | Invoke-ChaosInference -Stream -MaxTokens 3).Tokens | Should -Be 3
    }

    It 'restarts a killed container while the router routes around it' {
        Skip-WithoutDocker
        $victim = $t.Workers[0]
        docker kill $victim.ContainerId | Out-Null
        $r = Invoke-ChaosInference -Uri $t.RouterUri -Count 8 -Concurrency 2 -MaxTokens 2
        $r.StatusCode | Sort-Object -Unique | Should -Be 200
        Wait-Until { $null = $t.Refresh(); $t.Workers[0].Restarts -ge 1 -and $t.Workers[0].State -eq 'running' } -TimeoutSeconds 30 | Should -BeTrue
        (docker inspect $victim.ContainerId | ConvertFrom-Json).State.Running | Should -BeTrue
    }

    It 'removes every container on Stop-ChaosTestbed' {
        Skip-WithoutDocker
        $id = $t.Id
        Stop-ChaosTestbed $t
        $script:t = $null
        docker ps -aq --filter "label=chaosps.testbed=$id" | Should -BeNullOrEmpty
        @(Get-TargetProcess $id).Count | Should -Be 0
    }
}
