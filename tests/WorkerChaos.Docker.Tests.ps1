# Worker chaos against real containers (a tiny busybox image imported from local files, host networking, labelled
# chaosps.test so cleanup finds them): selection, kill/stop/restart, pause/unpause, a real OOM kill and the limit
# restored, the watchdog unpausing a container after its owner pwsh is SIGKILLed, Docker unreachable.
BeforeDiscovery { }

Describe 'Worker chaos on containers' -Tag 'WorkerChaos', 'Docker' {
    BeforeAll {
        Import-Module $env:CHAOSPS_MODULE -Force
        Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
        $script:state = Join-Path ([IO.Path]::GetTempPath()) "chaosps-wcd-$([guid]::NewGuid().ToString('n').Substring(0,8))"
        New-Item -ItemType Directory $state | Out-Null
        $script:outerState = $env:CHAOSPS_STATE_DIR
        $env:CHAOSPS_STATE_DIR = $state
        $script:run = [guid]::NewGuid().ToString('n').Substring(0, 8)
        $script:image = 'chaosps-test-busybox:1'
        $script:dockerOk = Test-DockerEngine
        $script:imageError = $null
        if ($dockerOk -and -not (docker images -q $image 2>$null)) {
            $bb = Get-Command busybox -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
            if (-not $bb) { $script:imageError = 'busybox is not installed (apt-get install busybox-static) to build the test image' }
            else {
                $root = Join-Path $state 'rootfs'
                New-Item -ItemType Directory "$root/bin" -Force | Out-Null
                Copy-Item $bb.Source "$root/bin/busybox"
                foreach ($c in 'sh', 'sleep', 'tail', 'cat') { ln -s busybox "$root/bin/$c" }
                tar -C $root -cf "$state/rootfs.tar" .
                docker import -c 'CMD ["/bin/sleep","3600"]' "$state/rootfs.tar" $image | Out-Null
                if ($LASTEXITCODE) { $script:imageError = 'docker import of the busybox test image failed' }
            }
        }
        function New-TestContainer([string[]] $Arguments = @(), [string] $Command = 'sleep 3600') {
            $id = docker run -d --network host --label "chaosps.test=$run" @Arguments $image /bin/sh -c $Command
            if ($LASTEXITCODE) { throw "docker run failed" }
            $id
        }
        function Skip-IfNoImage { Skip-WithoutDocker; if ($imageError) { if ($env:CHAOSPS_REQUIRE_DOCKER) { throw $imageError }; Set-ItResult -Skipped -Because $imageError } }
    }

    AfterAll {
        if ($dockerOk) {
            $ids = docker ps -aq --filter "label=chaosps.test=$run"
            if ($ids) { docker rm -f $ids | Out-Null }
        }
        Restore-ChaosFault -All -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
        $wd = Join-Path $state 'watchdog.lock'
        if (Test-Path $wd) { $w = Get-Content $wd -Raw -ErrorAction SilentlyContinue; if ($w -match '^\d+$') { Stop-Process -Id ([int]$w) -ErrorAction SilentlyContinue } }
        $env:CHAOSPS_STATE_DIR = $outerState
        Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'selects containers by label, name regex and id' {
        Skip-IfNoImage
        $a = New-TestContainer; $b = New-TestContainer
        $byLabel = @(Get-ChaosTarget -Label "chaosps.test=$run")
        $byLabel.Count | Should -Be 2
        $byLabel[0].Kind | Should -Be 'Container'
        $byLabel.ContainerId | Sort-Object | Should -Be (@($a, $b) | Sort-Object)
        $name = (docker inspect -f '{{.Name}}' $a).TrimStart('/')
        (Get-ChaosTarget -Kind Container -Regex "^$([regex]::Escape($name))$").ContainerId | Should -Be $a
        (Get-ChaosTarget -Kind Container -Id $a.Substring(0, 12)).ContainerId | Should -Be $a
        @(Get-ChaosTarget -Label "chaosps.test=$run" -Count 1 -Seed 4).Count | Should -Be 1
        docker rm -f $a $b | Out-Null
    }

    It 'kills a container with a signal and observes exit 137' {
        Skip-IfNoImage
        $c = New-TestContainer
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -Confirm:$false
        $r.Action | Should -Be 'Kill'
        $r.ExitCode | Should -Be 137
        $r.ObservedState | Should -Be 'exited'
        docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' $c | Should -Be 'exited 137'
    }

    It 'stops a container that ignores SIGTERM: force-killed after the grace period' {
        Skip-IfNoImage
        # PID 1 in a container has no default signal handlers: sh as PID 1 ignores SIGTERM.
        $c = New-TestContainer -Command 'while true; do sleep 1; done'
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -ContainerAction Stop -GracePeriod 2s -Confirm:$false
        $r.ExitCode | Should -Be 137
        $r.ForcedKill | Should -BeTrue
        $r.TimeToExit | Should -BeGreaterOrEqual ([TimeSpan]::FromMilliseconds(1900))
    }

    It 'restarts a container' {
        Skip-IfNoImage
        $c = New-TestContainer
        $before = docker inspect -f '{{.State.StartedAt}}' $c
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -ContainerAction Restart -GracePeriod 1s -Confirm:$false
        $r.ObservedState | Should -Be 'restarted'
        docker inspect -f '{{.State.Running}}' $c | Should -Be 'true'
        docker inspect -f '{{.State.StartedAt}}' $c | Should -Not -Be $before
        $rec = $r | Wait-ChaosRecovery -Timeout 30s
        $rec.Recovered | Should -BeTrue
        $rec.Probes[0].Kind | Should -Be 'Container'
    }

    It 'pauses a container for -Duration, unpauses it, and leaves the ledger empty' {
        Skip-IfNoImage
        $c = New-TestContainer
        $job = Start-ThreadJob { param($m, $c, $st) $env:CHAOSPS_STATE_DIR = $st; Import-Module $m; Get-ChaosTarget -Kind Container -Id $c | Suspend-ChaosTarget -Duration 2s -Confirm:$false } -ArgumentList $env:CHAOSPS_MODULE, $c, $state
        Wait-Until { (docker inspect -f '{{.State.Paused}}' $c) -eq 'true' } 30 | Should -BeTrue
        $r = $job | Wait-Job -Timeout 60 | Receive-Job
        $r.Outcome | Should -Be 'Resumed'
        docker inspect -f '{{.State.Status}}' $c | Should -Be 'running'
        @(Get-ChaosFault).Count | Should -Be 0
    }

    It 'OOM-kills a container for real and restores its original memory limit' {
        Skip-IfNoImage
        $c = New-TestContainer -Arguments '--memory', '256m', '--memory-swap', '256m'
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerOom -Confirm:$false -Timeout 60s
        $r.OomKilled | Should -BeTrue
        $r.ExitCode | Should -Be 137
        $r.AppliedLimit | Should -BeLessThan 256MB
        $r.OriginalLimit | Should -Be 256MB
        $r.LimitRestored | Should -BeTrue
        $r.RestoredLimit | Should -Be 256MB
        docker inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}} {{.HostConfig.Memory}}' $c | Should -Be "true 137 $(256MB)"
        @(Get-ChaosFault).Count | Should -Be 0
        Get-ChildItem "/dev/shm/chaosps-$($r.FaultId)*" -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'OOM-kills a container that had no memory limit and gives it back no limit (0, not the engine''s page-counter maximum)' {
        Skip-IfNoImage
        $c = New-TestContainer
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerOom -Confirm:$false -Timeout 60s
        $r.OomKilled | Should -BeTrue
        $r.OriginalLimit | Should -Be 0
        $r.LimitRestored | Should -BeTrue
        $r.RestoredLimit | Should -Be 0
        [long](docker inspect -f '{{.HostConfig.Memory}}' $c) | Should -BeIn @(0, 9223372036854771712)
        @(Get-ChaosFault).Count | Should -Be 0
    }

    It 'the watchdog unpauses a container when the pwsh that paused it is SIGKILLed' {
        Skip-IfNoImage
        $c = New-TestContainer
        $child = Invoke-ChildPwsh -NoWait -Environment @{ CHAOSPS_STATE_DIR = $state } -Script "`$env:CHAOSPS_STATE_DIR = '$state'; Import-Module '$env:CHAOSPS_MODULE'; Get-ChaosTarget -Kind Container -Id $c | Suspend-ChaosTarget -Confirm:`$false | Out-Null; Start-Sleep 600"
        try {
            Wait-Until { (docker inspect -f '{{.State.Paused}}' $c) -eq 'true' -and @(Get-ChaosFault).Count -eq 1 } 90 | Should -BeTrue
            kill -KILL $child.Id
            Wait-Until { (docker inspect -f '{{.State.Paused}}' $c) -eq 'false' -and @(Get-ChaosFault).Count -eq 0 } 60 | Should -BeTrue
            docker inspect -f '{{.State.Status}}' $c | Should -Be 'running'
        } finally { if (-not $child.HasExited) { $child.Kill() } }
    }

    It 'Docker unreachable: ResourceUnavailable naming the endpoint' {
        $ep = 'unix:///nonexistent/chaosps-docker.sock'
        $err = $null
        try { Get-ChaosTarget -Kind Container -Name x -DockerEndpoint $ep -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -BeLike 'DockerUnreachable*'
        $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
        "$err" | Should -Match ([regex]::Escape($ep))
    }
}
