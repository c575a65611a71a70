#Requires -Version 7.4
# Pester tests for the stressors. They import the BUILT module and use small sizes only: 200MB of memory,
# a 64MB tmpfs for disk fills (never the root filesystem), one core of CPU, a few hundred descriptors.

BeforeAll {
    # The runner sets CHAOSPS_STATE_DIR (a temp ledger) for the whole run; by hand, use one of our own.
    $script:OwnState = -not $env:CHAOSPS_STATE_DIR
    if ($script:OwnState) { $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-stress-state-$PID" }
    $script:State = $env:CHAOSPS_STATE_DIR
    New-Item -ItemType Directory -Force $script:State | Out-Null
    Import-Module $env:CHAOSPS_MODULE -Force
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    # The stressors' faults (other test files share the run's ledger).
    function script:Get-StressFault {
        Get-ChaosFault | Where-Object Kind -in 'CpuStress', 'MemoryStress', 'DiskFill', 'VramStress', 'FdStress', 'FdLimit', 'ConnectionStress'
    }

    $script:IsRoot = (id -u) -eq '0'
    function script:New-TestTmpfs([string] $Size = '64m') {
        $dir = Join-Path ([IO.Path]::GetTempPath()) "chaosps-fs-$([guid]::NewGuid().ToString('n').Substring(0,8))"
        New-Item -ItemType Directory $dir | Out-Null
        mount -t tmpfs -o "size=$Size" tmpfs $dir
        if ($LASTEXITCODE -ne 0) { throw "mount tmpfs on $dir failed" }
        $dir
    }
    function script:Remove-TestTmpfs([string] $Dir) {
        if ($Dir -and (Test-Path $Dir)) { umount $Dir 2>$null; Remove-Item $Dir -Recurse -Force -ErrorAction SilentlyContinue }
    }
    function script:Test-Alive([int] $ProcessId) {
        if (-not (Test-Path "/proc/$ProcessId/stat")) { return $false }
        $stat = Get-Content "/proc/$ProcessId/stat" -Raw -ErrorAction SilentlyContinue
        if (-not $stat) { return $false }
        $state = $stat.Substring($stat.LastIndexOf(')') + 2, 1)
        return $state -notin 'Z', 'X'
    }
}

AfterAll {
    Get-StressFault | Restore-ChaosFault -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
    if ($script:OwnState) { Remove-Item $script:State -Recurse -Force -ErrorAction SilentlyContinue; Remove-Item Env:CHAOSPS_STATE_DIR }
}

Describe 'Invoke-CpuExhaustion' -Tag 'Stress' {
    It 'holds a measured load on one core in a stressor process, then ends it and clears the ledger' {
        $r = Invoke-CpuExhaustion -Percent 40 -Cores 1 -Duration 3s -Confirm:$false
        $r.GetType().FullName | Should -Be 'ChaosPS.Stress.StressResult'
        $r.Kind | Should -Be 'Cpu'
        $r.TargetValue | Should -Be 40
        # Measured from the stressor's own CPU time: generous bounds (shared, noisy machine).
        $r.Reached | Should -BeGreaterThan 15
        $r.Reached | Should -BeLessThan 75
        $r.Samples.Count | Should -BeGreaterThan 2
        $r.Details['HostCpuPercent'] | Should -BeGreaterThan 0
        $r.Restore | Should -Be 'Restored'
        Test-Alive $r.StressorPid | Should -BeFalse
        Get-StressFault | Should -BeNullOrEmpty
    }

    It 'runs as a job that Receive-Job returns the result of' {
        $job = Invoke-CpuExhaustion -Percent 20 -Cores 1 -Duration 2s -AsJob -Confirm:$false
        $job | Wait-Job -Timeout 60 | Out-Null
        $r = Receive-Job $job
        Remove-Job $job -Force
        $r.Kind | Should -Be 'Cpu'
        $r.Restore | Should -Be 'Restored'
    }

    It '-WhatIf starts nothing' {
        Invoke-CpuExhaustion -Percent 50 -Duration 30s -WhatIf | Should -BeNullOrEmpty
        Get-StressFault | Should -BeNullOrEmpty
    }
}

Describe 'Invoke-MemoryExhaustion' -Tag 'Stress' {
    It 'adds 200MB of resident memory out of process and gives it back' {
        $before = (Get-Content /proc/meminfo | Select-String '^MemAvailable:').Line
        $r = Invoke-MemoryExhaustion -Size 200MB -Mode Add -Duration 2s -Confirm:$false
        $r.Kind | Should -Be 'Memory'
        $r.Details['Mode'] | Should -Be 'Add'
        # The pages were touched: the stressor's RSS covers the allocation.
        $r.Details['StressorRssPeakBytes'] | Should -BeGreaterThan (190MB)
        $r.Details['StressorHeldBytes'] | Should -Be (200MB)
        # The stressor's own fill (before it reported ready) covers the whole size, made resident by the kernel.
        $r.Details['FillBytes'] | Should -Be (200MB)
        $r.Details['FillSeconds'] | Should -BeGreaterThan 0
        $r.Details['FillRateGBps'] | Should -BeGreaterThan 0
        $r.Peak | Should -BeGreaterThan $r.Details['BaselineUsedPercent']
        $r.Restore | Should -Be 'Restored'
        Test-Alive $r.StressorPid | Should -BeFalse
        $r.StressorPid | Should -Not -Be $PID
        Get-StressFault | Should -BeNullOrEmpty
    }

    It 'Reach mode targets a level of total memory' {
        $m = Get-Content /proc/meminfo
        $total = [double](($m | Select-String '^MemTotal:').Line -split '\s+')[1]
        $avail = [double](($m | Select-String '^MemAvailable:').Line -split '\s+')[1]
        $usedPct = 100 * ($total - $avail) / $total
        $target = [math]::Round($usedPct + 1.5, 1)   # about 350MB above what is used now
        $r = Invoke-MemoryExhaustion -Percent $target -Duration 2s -Confirm:$false
        $r.Details['Mode'] | Should -Be 'Reach'
        $r.TargetValue | Should -Be $target
        $r.Peak | Should -BeGreaterThan ($target - 3)
        $r.Restore | Should -Be 'Restored'
    }

    It 'Reach mode gives way when another process takes memory and takes it back when that process lets go' {
        $m = Get-Content /proc/meminfo
        $total = [double](($m | Select-String '^MemTotal:').Line -split '\s+')[1] * 1KB
        $avail = [double](($m | Select-String '^MemAvailable:').Line -split '\s+')[1] * 1KB
        $target = [math]::Round(100 * ($total - $avail + 600MB) / $total, 1)
        $job = Invoke-MemoryExhaustion -Percent $target -Duration 120s -AsJob -Confirm:$false
        $other = $null
        try {
            Wait-Until { Get-ChaosFault -Kind MemoryStress | Where-Object { $_.Undo | Where-Object Action -eq 'kill-process' } } -TimeoutSeconds 60 | Should -BeTrue
            $hog = [int]((Get-ChaosFault -Kind MemoryStress).Undo | Where-Object Action -eq 'kill-process' | Select-Object -First 1).Args['pid']
            function Get-HogRss { try { [double](((Get-Content "/proc/$hog/status") -match '^RssAnon:')[0] -split '\s+')[1] * 1KB } catch { 0 } }
            Wait-Until { (Get-HogRss) -ge 400MB } -TimeoutSeconds 60 | Should -BeTrue
            $held = Get-HogRss
            # Another process takes 400 MB (resident): the hold must give back about that much.
            $other = Start-Process stress-ng -ArgumentList '--vm', 1, '--vm-bytes', '400M', '--vm-keep', '--vm-populate', '--vm-hang', 0, '--quiet' -PassThru
            Wait-Until { (Get-HogRss) -le $held - 250MB } -TimeoutSeconds 60 | Should -BeTrue
            # It lets go: the hold must take it back.
            kill -TERM $other.Id; $other.WaitForExit(30000) | Out-Null
            Wait-Until { (Get-HogRss) -ge $held - 100MB } -TimeoutSeconds 60 | Should -BeTrue
        }
        finally {
            if ($other -and -not $other.HasExited) { kill -KILL $other.Id 2>$null }
            $job | Stop-Job -ErrorAction SilentlyContinue; $job | Remove-Job -Force -ErrorAction SilentlyContinue
        }
    }
}

Describe 'Invoke-DiskExhaustion' -Tag 'Stress' {
    BeforeAll { if ($script:IsRoot) { $script:Fs = New-TestTmpfs '64m' } }
    AfterAll { Remove-TestTmpfs $script:Fs }

    It 'fills a 64MB tmpfs leaving 8MB free, then removes the fill file' {
        if (-not $script:IsRoot) { Set-ItResult -Skipped -Because 'mounting a tmpfs needs root'; return }
        $r = Invoke-DiskExhaustion -Path $script:Fs -LeaveFree 8MB -Duration 2s -Confirm:$false
        $r.Kind | Should -Be 'Disk'
        $r.Details['FilesystemType'] | Should -Be 'tmpfs'
        $r.Details['FillBytes'] | Should -BeGreaterThan (50MB)
        $r.Details['MinAvailableBytes'] | Should -BeLessOrEqual (9MB)
        $r.Peak | Should -BeGreaterThan 80
        $r.Details['FillFileRemoved'] | Should -BeTrue
        Test-Path $r.Details['FillFile'] | Should -BeFalse
        @(Get-ChildItem $script:Fs -Force).Count | Should -Be 0
        $r.Details['ReleasedAvailableBytes'] | Should -BeGreaterThan (60MB)
        Get-StressFault | Should -BeNullOrEmpty
    }

    It 'fills to a percentage' {
        if (-not $script:IsRoot) { Set-ItResult -Skipped -Because 'mounting a tmpfs needs root'; return }
        $r = Invoke-DiskExhaustion -Path $script:Fs -Percent 50 -Duration 1s -Confirm:$false
        $r.TargetValue | Should -BeGreaterOrEqual 49
        $r.Reached | Should -BeGreaterOrEqual 48
        $r.Reached | Should -BeLessThan 56
        Test-Path $r.Details['FillFile'] | Should -BeFalse
    }

    It 'refuses to fill the root filesystem below the safety margin without -Force' {
        $err = $null
        try { Invoke-DiskExhaustion -Path ([IO.Path]::GetTempPath()) -LeaveFree 0 -Duration 1s -Confirm:$false -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -Match '^ProtectedPath'
        @(Get-ChildItem ([IO.Path]::GetTempPath()) -Filter 'chaosps-fill-*').Count | Should -Be 0
        Get-StressFault | Should -BeNullOrEmpty
    }
}

Describe 'Bad input is refused before anything is allocated' -Tag 'Stress' {
    It '<Name>' -TestCases @(
        @{ Name = 'CPU percent 150'; Id = 'PercentOutOfRange'; Call = { Invoke-CpuExhaustion -Percent 150 -Duration 1s -Confirm:$false } }
        @{ Name = 'CPU percent -1'; Id = 'PercentOutOfRange'; Call = { Invoke-CpuExhaustion -Percent -1 -Duration 1s -Confirm:$false } }
        @{ Name = 'memory percent 101'; Id = 'PercentOutOfRange'; Call = { Invoke-MemoryExhaustion -Percent 101 -Duration 1s -Confirm:$false } }
        @{ Name = 'memory size larger than the machine'; Id = 'SizeTooLarge'; Call = { Invoke-MemoryExhaustion -Size 64TB -Duration 1s -Confirm:$false } }
        @{ Name = 'disk percent 200'; Id = 'PercentOutOfRange'; Call = { Invoke-DiskExhaustion -Path ([IO.Path]::GetTempPath()) -Percent 200 -Duration 1s -Confirm:$false } }
        @{ Name = 'disk path that does not exist'; Id = 'PathNotFound'; Call = { Invoke-DiskExhaustion -Path '/nonexistent/chaosps' -Percent 50 -Duration 1s -Confirm:$false } }
        @{ Name = 'disk path that is not writable'; Id = 'PathNotWritable'; Call = { Invoke-DiskExhaustion -Path '/proc/1' -Percent 50 -Duration 1s -Confirm:$false } }
        @{ Name = 'descriptor count 0'; Id = 'CountOutOfRange'; Call = { Invoke-FileDescriptorExhaustion -Count 0 -Duration 1s -Confirm:$false } }
        @{ Name = 'connections to a non-loopback address'; Id = 'NonLoopbackTarget'; Call = { Invoke-ConnectionExhaustion -Uri 'http://192.0.2.1:80/' -Count 1 -Duration 1s -Confirm:$false } }
    ) {
        param($Name, $Id, $Call)
        $err = $null
        try { & $Call -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -Match "^$Id"
        Get-StressFault | Should -BeNullOrEmpty
    }
}

Describe 'VRAM without a GPU' -Tag 'Stress' {
    BeforeAll { $script:HasNvml = [bool](Get-ChildItem -Path /usr/lib, /usr/lib64, /usr/lib/x86_64-linux-gnu -Filter 'libnvidia-ml.so.1' -Recurse -ErrorAction SilentlyContinue | Select-Object -First 1) }

    It 'Get-GpuInfo reports a clear NotInstalled/ResourceUnavailable error' {
        if ($script:HasNvml) { Set-ItResult -Skipped -Because 'this machine has an NVIDIA driver'; return }
        $err = $null
        try { Get-GpuInfo -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        "$($err.CategoryInfo.Category)" | Should -BeIn 'NotInstalled', 'ResourceUnavailable'
        $err.FullyQualifiedErrorId | Should -Match '^GpuDriver'
    }

    It 'Invoke-VramExhaustion fails the same way before recording a fault' {
        if ($script:HasNvml) { Set-ItResult -Skipped -Because 'this machine has an NVIDIA driver'; return }
        $err = $null
        try { Invoke-VramExhaustion -Device 0 -Percent 50 -Duration 1s -Confirm:$false -ErrorAction Stop } catch { $err = $_ }
        "$($err.CategoryInfo.Category)" | Should -BeIn 'NotInstalled', 'ResourceUnavailable'
        Get-StressFault | Should -BeNullOrEmpty
    }

    It 'a percent outside 0..100 is an argument error even without a GPU' {
        $err = $null
        try { Invoke-VramExhaustion -Percent 120 -Duration 1s -Confirm:$false -ErrorAction Stop } catch { $err = $_ }
        $err.FullyQualifiedErrorId | Should -Match '^PercentOutOfRange'
    }
}

Describe 'Invoke-FileDescriptorExhaustion' -Tag 'Stress' {
    It 'holds 300 descriptors in a stressor and releases them' {
        $r = Invoke-FileDescriptorExhaustion -Count 300 -Duration 2s -Confirm:$false
        $r.Kind | Should -Be 'FileDescriptor'
        $r.Peak | Should -Be 300
        $r.Reached | Should -Be 300
        $r.Details['PeakSystemFileHandles'] | Should -BeGreaterThan 300
        $r.Restore | Should -Be 'Restored'
        Test-Alive $r.StressorPid | Should -BeFalse
    }

    It 'lowers a process''s descriptor limit with -ProcessId and restores it' {
        $p = Start-Process sleep -ArgumentList 30 -PassThru
        try {
            $limitOf = { ((Get-Content "/proc/$($p.Id)/limits" | Select-String 'Max open files').Line -split '\s{2,}')[1] }
            $prior = & $limitOf
            $job = Invoke-FileDescriptorExhaustion -ProcessId $p.Id -Count 2 -Duration 3s -AsJob -Confirm:$false
            Wait-Until { [int](& $limitOf) -lt [int]$prior } -TimeoutSeconds 20 | Should -BeTrue
            [int](& $limitOf) | Should -BeLessThan 20
            $job | Wait-Job -Timeout 60 | Out-Null
            $r = Receive-Job $job; Remove-Job $job -Force
            $r.Restore | Should -Be 'Restored'
            & $limitOf | Should -Be $prior
        }
        finally { Stop-Process -Id $p.Id -Force -ErrorAction SilentlyContinue }
    }
}

Describe 'Invoke-ConnectionExhaustion' -Tag 'Stress' {
    It 'holds 200 TCP connections to a loopback listener' {
        $listener = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
        $listener.Start(1024)
        try {
            $port = $listener.LocalEndpoint.Port
            $r = Invoke-ConnectionExhaustion -Uri "http://127.0.0.1:$port/" -Count 200 -Duration 2s -Confirm:$false
            $r.Kind | Should -Be 'Connection'
            $r.Details['Opened'] | Should -Be 200
            $r.Peak | Should -Be 200
            $r.Restore | Should -Be 'Restored'
            Test-Alive $r.StressorPid | Should -BeFalse
        }
        finally { $listener.Stop() }
    }
}

Describe 'Test-GracefulDegradation' -Tag 'Stress' {
    BeforeAll {
        # A loopback HTTP target (TestHelpers): 200 normally; while $Mode.Value is set it answers that way instead.
        $script:Server = Start-TestHttpServer
        $script:Mode = $script:Server.Mode
        $script:Port = $script:Server.Port
    }
    AfterAll {
        Stop-TestHttpServer $script:Server
    }

    It 'judges load shedding with 503 and recovery as graceful, with the stressor results as evidence' {
        $mode = $script:Mode
        $v = Test-GracefulDegradation -Uri "http://127.0.0.1:$($script:Port)/" -Rate 20 -Baseline 1s -Confirm:$false -RecoveryTimeout 10s -Stress ({
            $mode.Value = 'shed'
            Invoke-CpuExhaustion -Percent 20 -Cores 1 -Duration 2s -Confirm:$false
            $mode.Value = 'ok'
        }.GetNewClosure())
        $v.GetType().FullName | Should -Be 'ChaosPS.Stress.DegradationVerdict'
        $v.Verdict | Should -Be 'Graceful'
        $v.Passed | Should -BeTrue
        $v.DegradationObserved | Should -BeTrue
        $v.Stress.Statuses['503'] | Should -BeGreaterThan 0
        $v.TimeToRecover | Should -Not -BeNullOrEmpty
        $v.StressResults[0].Kind | Should -Be 'Cpu'
    }

    It 'fails on unacceptable statuses past the error-rate bound' {
        $mode = $script:Mode
        $v = Test-GracefulDegradation -Uri "http://127.0.0.1:$($script:Port)/" -Rate 20 -Baseline 1s -Confirm:$false -RecoveryTimeout 10s -ErrorAction SilentlyContinue -Stress ({
            $mode.Value = 'broken'; Start-Sleep -Seconds 2; $mode.Value = 'ok'
        }.GetNewClosure())
        $v.Verdict | Should -Be 'NotGraceful'
        $v.ErrorRate | Should -BeGreaterThan 0.05
        ($v.Reasons -join ' ') | Should -Match 'status 500'
    }

    It 'fails on hangs beyond the timeout' {
        $mode = $script:Mode
        $v = Test-GracefulDegradation -Uri "http://127.0.0.1:$($script:Port)/" -Rate 10 -Baseline 1s -Confirm:$false -HangTimeout 500ms -RecoveryTimeout 15s -ErrorAction SilentlyContinue -Stress ({
            $mode.Value = 'hang'; Start-Sleep -Seconds 2; $mode.Value = 'ok'
        }.GetNewClosure())
        $v.Verdict | Should -Be 'NotGraceful'
        $v.Hangs | Should -BeGreaterThan 0
    }

    It 'refuses a non-loopback target' {
        { Test-GracefulDegradation -Uri 'http://192.0.2.1/' -Stress { } -ErrorAction Stop } | Should -Throw -ErrorId 'NonLoopbackTarget*'
    }
}

Describe 'A SIGKILLed pwsh leaves no stressor, fill file or fault behind' -Tag 'Stress' {
    It 'the stressors exit and the watchdog removes the fill file and the records' {
        if (-not $script:IsRoot) { Set-ItResult -Skipped -Because 'mounting a tmpfs needs root'; return }
        $fs = New-TestTmpfs '32m'
        $state = Join-Path ([IO.Path]::GetTempPath()) "chaosps-kill-$([guid]::NewGuid().ToString('n').Substring(0,8))"
        New-Item -ItemType Directory $state | Out-Null
        $child = $null
        try {
            $script = @"
`$env:CHAOSPS_STATE_DIR = '$state'
Import-Module '$($env:CHAOSPS_MODULE)'
`$job = Invoke-MemoryExhaustion -Size 100MB -Duration 120s -AsJob -Confirm:`$false
Invoke-DiskExhaustion -Path '$fs' -LeaveFree 4MB -Duration 120s -Confirm:`$false
"@
            $cmd = @(Get-PwshPath)
            $psi = [Diagnostics.ProcessStartInfo]::new($cmd[0])
            foreach ($a in $cmd[1..($cmd.Count)] + @('-NoProfile', '-NonInteractive', '-Command', $script)) { if ($a) { $psi.ArgumentList.Add($a) } }
            $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true; $psi.UseShellExecute = $false
            $psi.Environment['CHAOSPS_STATE_DIR'] = $state
            $child = [Diagnostics.Process]::Start($psi)
            $child.StandardOutput.ReadToEndAsync() | Out-Null; $child.StandardError.ReadToEndAsync() | Out-Null

            $faultsDir = Join-Path $state 'faults'
            $records = { @(Get-ChildItem $faultsDir -Filter *.json -ErrorAction SilentlyContinue | ForEach-Object { Get-Content $_.FullName -Raw | ConvertFrom-Json }) }
            Wait-Until {
                $r = & $records
                $mem = $r | Where-Object Kind -eq 'MemoryStress' | Where-Object { $_.Undo | Where-Object Action -eq 'kill-process' }
                $disk = $r | Where-Object Kind -eq 'DiskFill'
                $mem -and $disk -and (Get-ChildItem $fs -Filter 'chaosps-fill-*')
            } -TimeoutSeconds 90 | Should -BeTrue
            $r = & $records
            $stressorPid = [int](($r | Where-Object Kind -eq 'MemoryStress').Undo | Where-Object Action -eq 'kill-process' | Select-Object -First 1).Args.pid
            $fill = (($r | Where-Object Kind -eq 'DiskFill').Undo | Where-Object Action -eq 'delete-path' | Select-Object -First 1).Args.path
            Test-Alive $stressorPid | Should -BeTrue
            Test-Path $fill | Should -BeTrue
            # The stressor's command line carries its fault id.
            (Get-Content "/proc/$stressorPid/cmdline" -Raw) -replace "`0", ' ' | Should -Match '--fault f'

            $child.Kill()   # SIGKILL: no finally blocks, no Ctrl+C handlers run in the child
            $child.WaitForExit(10000) | Out-Null

            Wait-Until { -not (Test-Alive $stressorPid) } -TimeoutSeconds 60 | Should -BeTrue
            Wait-Until { -not (Test-Path $fill) } -TimeoutSeconds 60 | Should -BeTrue
            Wait-Until { @(& $records).Count -eq 0 } -TimeoutSeconds 60 | Should -BeTrue
            # Get-ChaosFault in a fresh session on that ledger lists nothing.
            $cmd = @(Get-PwshPath)
            $env:CHAOSPS_STATE_DIR = $state
            try { $left = & $cmd[0] @($cmd | Select-Object -Skip 1) -NoProfile -NonInteractive -Command "Import-Module '$($env:CHAOSPS_MODULE)'; @(Get-ChaosFault).Count" }
            finally { $env:CHAOSPS_STATE_DIR = $script:State }
            $left | Select-Object -Last 1 | Should -Be '0'
        }
        finally {
            if ($child -and -not $child.HasExited) { $child.Kill() }
            Remove-TestTmpfs $fs
            Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue
        }
    }
}

Describe 'Stopping a stressor (Ctrl+C / Stop-Job) still undoes it' -Tag 'Stress' {
    It 'Stop-Job on a memory stressor ends the stressor process and clears the ledger' {
        $job = Invoke-MemoryExhaustion -Size 100MB -Duration 120s -AsJob -Confirm:$false
        try {
            Wait-Until { Get-ChaosFault -Kind MemoryStress | Where-Object { $_.Undo | Where-Object Action -eq 'kill-process' } } -TimeoutSeconds 60 | Should -BeTrue
            $stressorPid = [int]((Get-ChaosFault -Kind MemoryStress).Undo | Where-Object Action -eq 'kill-process' | Select-Object -First 1).Args['pid']
            Test-Alive $stressorPid | Should -BeTrue
            $job | Stop-Job
            Wait-Until { -not (Test-Alive $stressorPid) } -TimeoutSeconds 30 | Should -BeTrue
            Wait-Until { -not (Get-StressFault) } -TimeoutSeconds 30 | Should -BeTrue
        }
        finally { $job | Remove-Job -Force -ErrorAction SilentlyContinue }
    }
}

Describe 'Stressors inside a container' -Tag 'Stress', 'Docker' {
    BeforeAll {
        Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
        $script:Ctr = $null
        if (-not (Test-DockerEngine)) { return }
        $script:Busybox = (Get-Command busybox -ErrorAction SilentlyContinue).Source
        if (-not $script:Busybox) { return }
        # A one-binary image from the host's static busybox (no registry): docker import of a tiny root filesystem.
        if (-not (docker images -q chaosps-stress-busybox:1)) {
            $root = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bb-$PID"
            New-Item -ItemType Directory -Force "$root/bin", "$root/data" | Out-Null
            Copy-Item $script:Busybox "$root/bin/busybox"
            tar -C $root -c . | docker import - chaosps-stress-busybox:1 | Out-Null
            Remove-Item $root -Recurse -Force
        }
        $script:Ctr = "chaosps-stress-$PID"
        docker run -d --name $script:Ctr --network host --memory 512m --tmpfs /data:size=32m chaosps-stress-busybox:1 /bin/busybox sleep 600 | Out-Null
        $script:CtrId = (docker inspect -f '{{.Id}}' $script:Ctr)
    }
    AfterAll { if ($script:Ctr) { docker rm -f $script:Ctr 2>$null | Out-Null } }

    It 'a CPU stressor joins the container''s cgroups' {
        Skip-WithoutDocker
        if (-not $script:Ctr) { Set-ItResult -Skipped -Because 'no static busybox on this host to build a test image from'; return }
        $job = Invoke-CpuExhaustion -Percent 30 -Cores 1 -Duration 4s -Container $script:Ctr -AsJob -Confirm:$false
        try {
            Wait-Until { (Get-ChaosFault -Kind CpuStress).Undo | Where-Object Action -eq 'kill-process' } -TimeoutSeconds 60 | Should -BeTrue
            $stressorPid = [int]((Get-ChaosFault -Kind CpuStress).Undo | Where-Object Action -eq 'kill-process' | Select-Object -First 1).Args['pid']
            Wait-Until { (Get-Content "/proc/$stressorPid/cgroup" -Raw -ErrorAction SilentlyContinue) -match $script:CtrId } -TimeoutSeconds 30 | Should -BeTrue
            $r = $job | Wait-Job -Timeout 60 | Receive-Job
            $r.Target | Should -Be "container $($script:Ctr)"
            $r.Restore | Should -Be 'Restored'
        }
        finally { $job | Remove-Job -Force -ErrorAction SilentlyContinue }
    }

    It 'memory -Percent is of the container''s limit' {
        Skip-WithoutDocker
        if (-not $script:Ctr) { Set-ItResult -Skipped -Because 'no static busybox on this host to build a test image from'; return }
        $r = Invoke-MemoryExhaustion -Percent 40 -Mode Reach -Container $script:Ctr -Duration 2s -Confirm:$false
        $r.Details['TotalBytes'] | Should -Be (512MB)
        $r.Details['StressorRssPeakBytes'] | Should -BeGreaterThan (120MB)
        $r.Details['StressorRssPeakBytes'] | Should -BeLessThan (400MB)
        $r.Restore | Should -Be 'Restored'
    }

    It 'a disk fill lands in the container''s own filesystem and is removed' {
        Skip-WithoutDocker
        if (-not $script:Ctr) { Set-ItResult -Skipped -Because 'no static busybox on this host to build a test image from'; return }
        $r = Invoke-DiskExhaustion -Path /data -Container $script:Ctr -LeaveFree 2MB -Duration 2s -Confirm:$false
        $r.Details['FilesystemType'] | Should -Be 'tmpfs'
        $r.Details['FillBytes'] | Should -BeGreaterThan (25MB)
        $r.Details['FillFileRemoved'] | Should -BeTrue
        (docker exec $script:Ctr /bin/busybox ls -A /data) | Should -BeNullOrEmpty
    }
}
