# Worker chaos against real containers (a tiny busybox image imported from local files, host networking, labelled
# chaosps.test so cleanup finds them): selection, a crash as a signal to the main process (each restart policy brings
# the container back; Docker's API kill does not), docker kill/stop/restart, pause/unpause, a real OOM kill and the
# limit restored, the watchdog unpausing a container after its owner pwsh is SIGKILLed, Docker unreachable.
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
        # A service in a container: busybox httpd as the container's main process (pid 1), answering /health on a free
        # loopback port (host networking), so recovery is measured by probing the service, not only the engine.
        function New-HttpContainer([string] $Policy = 'no') {
            $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $port = $l.LocalEndpoint.Port; $l.Stop()
            $id = New-TestContainer -Arguments '--restart', $Policy -Command "mkdir -p /tmp/www && echo ok > /tmp/www/health && exec /bin/busybox httpd -f -p 127.0.0.1:$port -h /tmp/www"
            $up = Wait-Until { try { (Invoke-WebRequest "http://127.0.0.1:$port/health" -TimeoutSec 2).StatusCode -eq 200 } catch { $false } } 30
            if (-not $up) { throw "busybox httpd in $id does not answer on port $port" }
            [pscustomobject]@{ Id = $id; Port = $port; Health = "http://127.0.0.1:$port/health" }
        }
        function Skip-IfNoImage { Skip-WithoutDocker; if ($imageError) { if ($env:CHAOSPS_REQUIRE_DOCKER) { throw $imageError }; Set-ItResult -Skipped -Because $imageError } }
    }

    AfterAll {
        if ($dockerOk) {
            $ids = docker ps -aq --filter "label=chaosps.test=$run"
            if ($ids) { docker rm -f $ids | Out-Null }
        }
        Restore-ChaosFault -All -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
        Stop-TestWatchdog $state | Out-Null
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

    It 'crashes a container with SIGKILL to its main process (its host pid) and observes exit 137' {
        Skip-IfNoImage
        $c = New-TestContainer
        $pid0 = [int](docker inspect -f '{{.State.Pid}}' $c)
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -Confirm:$false
        $r.Method | Should -Be 'Signal'
        $r.Action | Should -Be 'Signal'
        $r.Signal | Should -Be 'KILL'
        $r.ProcessId | Should -Be $pid0
        $r.RestartPolicy | Should -Be 'no'
        $r.ExitCode | Should -Be 137
        $r.ObservedState | Should -Be 'exited'
        docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' $c | Should -Be 'exited 137'
        ($r | Format-Table | Out-String -Width 200) | Should -Match '\bSignal\b.*\bKILL\b.*\bSignal\b.*\bexited\b'
    }

    It 'a crash lets restart policy <_> restart the container, and Wait-ChaosRecovery sees it back' -ForEach 'always', 'on-failure', 'unless-stopped' {
        Skip-IfNoImage
        $svc = New-HttpContainer -Policy $_
        $pid0 = [int](docker inspect -f '{{.State.Pid}}' $svc.Id)
        $r = Get-ChaosTarget -Kind Container -Id $svc.Id | Invoke-WorkerCrash -Confirm:$false
        $r.Method | Should -Be 'Signal'
        $r.RestartPolicy | Should -Be $_
        $r.ExitCode | Should -Be 137
        $rec = $r | Wait-ChaosRecovery -Uri $svc.Health -Timeout 60s
        $rec.Recovered | Should -BeTrue -Because $rec.LastProbe
        $rec.TimeToDetect | Should -Not -BeNullOrEmpty
        ($rec.Probes | Where-Object Kind -eq 'Container').Healthy | Should -BeTrue
        ($rec.Probes | Where-Object Kind -eq 'Http').Healthy | Should -BeTrue
        $state = docker inspect -f '{{.RestartCount}} {{.State.Status}} {{.State.Pid}} {{.State.StartedAt}}' $svc.Id
        $count, $status, $newPid, $started = $state -split ' '
        [int]$count | Should -Be 1
        $status | Should -Be 'running'
        [int]$newPid | Should -Not -Be $pid0
        $restartedAfter = [DateTimeOffset]::Parse($started, [Globalization.CultureInfo]::InvariantCulture) - $r.CrashedAt
        Write-Host ("    restart policy {0}: crash to running again {1:0} ms (engine StartedAt), to recovered {2:0} ms (probes: Http + Container), RestartCount {3}" -f $_, $restartedAfter.TotalMilliseconds, $rec.TimeToRecover.TotalMilliseconds, $count)
    }

    It 'DockerKill: Docker records an API kill as deliberate, so --restart always does NOT restart the container' {
        Skip-IfNoImage
        $svc = New-HttpContainer -Policy always
        $r = Get-ChaosTarget -Kind Container -Id $svc.Id | Invoke-WorkerCrash -ContainerAction DockerKill -Confirm:$false -WarningVariable warned -WarningAction SilentlyContinue
        $r.Method | Should -Be 'DockerKill'
        $r.Action | Should -Be 'Kill'
        $r.ExitCode | Should -Be 137
        $r.Note | Should -Match "restart policy 'always' does not restart"
        "$warned" | Should -Match "restart policy 'always'"
        # Docker would restart a crashed container within about a second; give it ten.
        $rec = $r | Wait-ChaosRecovery -Uri $svc.Health -Timeout 10s -ErrorAction SilentlyContinue
        $rec.Recovered | Should -BeFalse
        docker inspect -f '{{.RestartCount}} {{.State.Status}}' $svc.Id | Should -Be '0 exited'
    }

    It '--restart no: the crashed container stays down and the verdict says not recovered, naming the restart policy' {
        Skip-IfNoImage
        $svc = New-HttpContainer -Policy no
        $r = Get-ChaosTarget -Kind Container -Id $svc.Id | Invoke-WorkerCrash -Confirm:$false
        $r.Method | Should -Be 'Signal'
        $r.ObservedState | Should -Be 'exited'
        $rec = $r | Wait-ChaosRecovery -Uri $svc.Health -Timeout 5s -ErrorAction SilentlyContinue
        $rec.Recovered | Should -BeFalse
        $rec.TimeToDetect | Should -Not -BeNullOrEmpty
        $rec.TimeToRecover | Should -BeNullOrEmpty
        ($rec.Probes | Where-Object Kind -eq 'Container').LastDetail | Should -Match 'exited, restarts 0, exit code 137, restart policy no'
        "$rec" | Should -Match '^Not recovered'
    }

    It 'TERM to a pid 1 without a handler is dropped by the kernel: SIGKILL after the grace period, said so, and the restart policy fires' {
        Skip-IfNoImage
        # busybox sleep as the container's pid 1 has no SIGTERM handler.
        $c = New-TestContainer -Arguments '--restart', 'always'
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -Signal TERM -GracePeriod 2s -Confirm:$false
        $r.Method | Should -Be 'Signal'
        $r.Action | Should -Be 'TermThenKill'
        $r.Signal | Should -Be 'TERM'
        $r.ForcedKill | Should -BeTrue
        $r.ExitCode | Should -Be 137
        $r.TimeToExit | Should -BeGreaterOrEqual ([TimeSpan]::FromMilliseconds(1900))
        $r.Note | Should -Match 'pid 1 of its pid namespace and has no handler for SIGTERM.*SIGKILL after the 2s grace period'
        Wait-Until { (docker inspect -f '{{.RestartCount}} {{.State.Status}}' $c) -eq '1 running' } 30 | Should -BeTrue
    }

    It 'TERM to a pid 1 that handles it: the container exits with its own code within the grace period, no SIGKILL' {
        Skip-IfNoImage
        $c = New-TestContainer -Command 'trap "exit 143" TERM; while true; do sleep 1; done'
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -GracePeriod 20s -Confirm:$false
        $r.Action | Should -Be 'TermThenKill'
        $r.ForcedKill | Should -BeFalse
        $r.ExitCode | Should -Be 143
        $r.Note | Should -BeNullOrEmpty
        docker inspect -f '{{.State.Status}} {{.State.ExitCode}}' $c | Should -Be 'exited 143'
    }

    It 'TERM without a grace period to a pid 1 that drops it: reported as still running, with the reason and a warning' {
        Skip-IfNoImage
        $c = New-TestContainer
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -Signal TERM -ObserveTimeout 2s -Confirm:$false -WarningVariable warned -WarningAction SilentlyContinue
        $r.ObservedState | Should -BeLike 'running*'
        $r.ForcedKill | Should -BeFalse
        $r.ExitCode | Should -BeNullOrEmpty
        $r.Note | Should -Match 'no handler for SIGTERM'
        "$warned" | Should -Match 'GracePeriod'
        docker inspect -f '{{.State.Status}}' $c | Should -Be 'running'
    }

    It '-WhatIf names the signal and the host pid, and touches nothing' {
        Skip-IfNoImage
        $c = New-TestContainer
        $pid0 = docker inspect -f '{{.State.Pid}}' $c
        # The host writes "What if:" lines to the console: read them from a child pwsh's output.
        $child = Invoke-ChildPwsh -Environment @{ CHAOSPS_STATE_DIR = $state } -Script "Import-Module '$env:CHAOSPS_MODULE'; Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -WhatIf"
        $child.Output | Should -Match "SIGKILL to its main process \(host pid $pid0\)"
        docker inspect -f '{{.State.Status}} {{.State.Pid}}' $c | Should -Be "running $pid0"
    }

    It 'warns when a container action ignores -GracePeriod (DockerKill) or -Signal (DockerStop), before -WhatIf' {
        Skip-IfNoImage
        $c = New-TestContainer
        $null = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -ContainerAction DockerKill -GracePeriod 1s -WhatIf -WarningVariable w1 3>$null
        "$w1" | Should -Match '-GracePeriod does not apply to containers with -ContainerAction DockerKill'
        $null = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -ContainerAction DockerStop -Signal INT -WhatIf -WarningVariable w2 3>$null
        "$w2" | Should -Match '-Signal does not apply to containers with -ContainerAction DockerStop'
        $null = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -GracePeriod 1s -WhatIf -WarningVariable w3 3>$null
        @($w3).Count | Should -Be 0 -Because 'the default action (a signal to the main process) uses both'
        docker inspect -f '{{.State.Status}}' $c | Should -Be 'running'
    }

    It 'refuses the signal when the engine''s pid is not this container''s process here (another pid namespace): ContainerProcessNotVisible, nothing touched' {
        Skip-IfNoImage
        $c = New-TestContainer -Arguments '--restart', 'always'
        $pid0 = docker inspect -f '{{.State.Pid}}' $c
        $exe = @(Get-PwshPath)
        $script = "`$env:CHAOSPS_STATE_DIR = '$state'; Import-Module '$env:CHAOSPS_MODULE'; try { Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -Confirm:`$false -ErrorAction Stop | Out-Null; 'CRASHED' } catch { `$_.FullyQualifiedErrorId; `$_.CategoryInfo.Category; `"`$_`"; `$_.ErrorDetails.RecommendedAction }"
        # A fresh pid namespace with its own /proc: the host pids the engine reports do not exist in it.
        $out = unshare --pid --fork --mount-proc @exe -NoProfile -NonInteractive -Command $script 2>&1 | Out-String
        $out | Should -Match 'ContainerProcessNotVisible'
        $out | Should -Match 'ResourceUnavailable'
        $out | Should -Match 'DockerKill'
        docker inspect -f '{{.State.Status}} {{.State.Pid}} {{.RestartCount}}' $c | Should -Be "running $pid0 0"
    }

    It 'stops a container that ignores SIGTERM: force-killed after the grace period' {
        Skip-IfNoImage
        # PID 1 in a container has no default signal handlers: sh as PID 1 ignores SIGTERM.
        $c = New-TestContainer -Command 'while true; do sleep 1; done'
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -ContainerAction DockerStop -GracePeriod 2s -Confirm:$false
        $r.Method | Should -Be 'DockerStop'
        $r.ExitCode | Should -Be 137
        $r.ForcedKill | Should -BeTrue
        $r.TimeToExit | Should -BeGreaterOrEqual ([TimeSpan]::FromMilliseconds(1900))
    }

    It 'restarts a container' {
        Skip-IfNoImage
        $c = New-TestContainer
        $before = docker inspect -f '{{.State.StartedAt}}' $c
        $r = Get-ChaosTarget -Kind Container -Id $c | Invoke-WorkerCrash -ContainerAction DockerRestart -GracePeriod 1s -Confirm:$false
        $r.Method | Should -Be 'DockerRestart'
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
