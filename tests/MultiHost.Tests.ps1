#Requires -Modules Pester
# Load over several generator hosts through PowerShell remoting over SSH, for real: each host is a network namespace
# this file creates (tests/MultiHostHelpers.psm1: a bridge on 198.18.x.0/24, a veth per host) with its own sshd whose
# powershell subsystem is the pwsh running these tests, key-based auth with a key made here; the target is an nginx in
# its own namespace on the same private network. Everything is torn down in AfterAll, also when a test fails.
# The hosts share this machine's filesystem, so they share one module folder (out/); gen3's subsystem gets a module
# path holding only a fake ChaosPS 0.0.1 (and gen1/gen2 can be given a session with another version loaded), so the
# version check meets a real mismatch.

BeforeAll {
    Import-Module $env:CHAOSPS_MODULE -Force
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    Import-Module "$PSScriptRoot/MultiHostHelpers.psm1" -Force
    $PSDefaultParameterValues['Start-LoadTest:ProgressAction'] = 'SilentlyContinue'
    $script:moduleRoot = Split-Path (Split-Path (Split-Path $env:CHAOSPS_MODULE))    # out/ (holds ChaosPS/<version>/)
    $script:fake = Join-Path ([IO.Path]::GetTempPath()) "chaosps-mh-fake-$([guid]::NewGuid().ToString('n').Substring(0, 6))"
    New-Item -ItemType Directory -Force "$fake/ChaosPS/0.0.1" | Out-Null
    Set-Content "$fake/ChaosPS/0.0.1/ChaosPS.psd1" "@{ ModuleVersion = '0.0.1'; GUID = '5f7a3c2e-8d1b-4e6a-9c0f-2b4d6e8a1c3f'; FunctionsToExport = @() }"
    $script:lab = New-TestHostLab -Hosts gen1, gen2, gen3, gen4 -DefaultModulePath $moduleRoot -ModulePath @{ gen3 = $fake }
    $script:s1 = New-LabSession $lab gen1
    $script:s2 = New-LabSession $lab gen2
    $script:ssh = @{ UserName = $lab.User; KeyFilePath = $lab.KeyFile; SshOption = $lab.SshOption }

    # Requests nginx logged from one generator address (its access log: "<remote_addr> <request_time>").
    function Get-TargetCount([string] $From) {
        @(Get-Content (Join-Path $lab.State 'access.log') -ErrorAction SilentlyContinue | Where-Object { $_ -like "$From *" }).Count
    }

    # An independent reader of a result's latency histogram (base64 of HdrHistogram's uncompressed V2 encoding, µs,
    # 3 significant digits, lowest 1): every recorded latency as (highest equivalent value, count), big-endian header,
    # ZigZag LEB128 counts, negative = a run of empty buckets.
    function Read-HdrHistogram([string] $Base64) {
        $b = [Convert]::FromBase64String($Base64)
        $len = ([int]$b[4] -shl 24) -bor ([int]$b[5] -shl 16) -bor ([int]$b[6] -shl 8) -bor [int]$b[7]
        $digits = [int]$b[15]
        $subBucketCount = [math]::Pow(2, [math]::Ceiling([math]::Log(2 * [math]::Pow(10, $digits), 2)))
        $half = [long]($subBucketCount / 2); $halfMag = [int][math]::Log($half, 2)
        $pos = 40; $end = 40 + $len; $index = 0
        while ($pos -lt $end) {
            [long]$v = 0; $shift = 0
            do { $x = $b[$pos++]; $v = $v -bor ([long]($x -band 0x7f) -shl $shift); $shift += 7 } while (($x -band 0x80) -and $shift -lt 63)
            $count = ($v -shr 1) -bxor (-($v -band 1))
            if ($count -lt 0) { $index += -$count; continue }
            if ($count -gt 0) {
                $bucket = ($index -shr $halfMag) - 1; $sub = ($index -band ($half - 1)) + $half
                if ($bucket -lt 0) { $sub -= $half; $bucket = 0 }
                $low = [long]$sub -shl $bucket
                [pscustomobject]@{ Value = $low + ([long]1 -shl $bucket) - 1; Count = $count }
            }
            $index++
        }
    }
    # Nearest-rank percentile (HdrHistogram's rule: rank = max(1, round(p/100 * n))) over (value, count) pairs, in ms.
    function Get-Percentile($Pairs, [double] $P) {
        $sorted = @($Pairs | Sort-Object Value)
        $n = ($sorted | Measure-Object Count -Sum).Sum
        $rank = [math]::Max(1, [long][math]::Floor($P / 100 * $n + 0.5))
        $seen = 0
        foreach ($x in $sorted) { $seen += $x.Count; if ($seen -ge $rank) { return [math]::Round($x.Value / 1000.0, 3) } }
    }
}

AfterAll {
    Get-PSSession | Remove-PSSession -ErrorAction SilentlyContinue
    Remove-TestHostLab $lab
    Remove-Item $fake -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Start-LoadTest over several hosts' -Tag 'MultiHost' {
    It 'splits the rate evenly, starts the hosts together and merges exactly (counts checked at the target)' {
        $gen1 = $lab.Hosts.gen1.Address; $gen2 = $lab.Hosts.gen2.Address
        $before1 = Get-TargetCount $gen1; $before2 = Get-TargetCount $gen2
        $sw = [Diagnostics.Stopwatch]::StartNew()
        # A threshold only the merged data can pass: each host alone sends ~150 req/s.
        $r = Start-LoadTest -Uri $lab.Target -Session $s1, $s2 -Rate 300 -Duration 4s -AllowNonLoopback -Threshold 'http_reqs: rate>220', 'http_req_failed: rate<0.01'
        $sw.Stop()
        $r.Hosts.Count | Should -Be 2
        $r.Partial | Should -BeFalse
        $r.Hosts.Status | Should -Be 'Completed', 'Completed'
        $r.Hosts.Share | Should -Be 150, 150
        $r.TargetRate | Should -Be 300
        $r.Hosts.ModuleVersion | Should -Be (Get-Module ChaosPS).Version.ToString(), (Get-Module ChaosPS).Version.ToString()
        # Counts: merged = sum of hosts = what nginx logged from each generator's address.
        $h1 = $r.Hosts[0]; $h2 = $r.Hosts[1]
        $r.Requests | Should -Be ($h1.Requests + $h2.Requests)
        Wait-Until { (Get-TargetCount $gen1) - $before1 -eq $h1.Requests -and (Get-TargetCount $gen2) - $before2 -eq $h2.Requests } -TimeoutSeconds 10 | Should -BeTrue
        $r.Failed | Should -Be 0
        # req/s: merged = requests over the longest host run; per host = its requests over its own run.
        $sum = $h1.RequestsPerSecond + $h2.RequestsPerSecond
        [math]::Abs($r.RequestsPerSecond - $sum) / $sum | Should -BeLessThan 0.03
        # Thresholds on the merged data: passes although neither host alone reaches 220 req/s.
        $r.Passed | Should -BeTrue
        $h1.Result.Passed | Should -BeFalse
        # Exactness: merged percentiles = percentiles of both hosts' recorded latencies taken together.
        $pairs = @(Read-HdrHistogram $h1.Result.LatencyHistogram) + @(Read-HdrHistogram $h2.Result.LatencyHistogram)
        ($pairs | Measure-Object Count -Sum).Sum | Should -Be $r.Requests
        foreach ($p in @(@{ P = 50; Name = 'P50' }, @{ P = 99; Name = 'P99' }, @{ P = 99.9; Name = 'P999' })) {
            $raw = Get-Percentile $pairs $p.P
            $r.Latency.($p.Name) | Should -Be $raw -Because "merged $($p.Name) must equal the percentile of both hosts' latencies together"
        }
        # The views show the breakdown.
        ($r | Out-String -Width 200) | Should -Match "Hosts\s*:\s*$([regex]::Escape($gen1)): \d+ req"
        ($r.Hosts | Format-Table | Out-String -Width 200) | Should -Match 'StartLatency'
        # Same as Merge-LoadTestResult over the hosts' own results.
        $m = $r.Hosts.Result | Merge-LoadTestResult
        $m.Latency.P99 | Should -Be $r.Latency.P99
        $m.Requests | Should -Be $r.Requests
        # A common start: both hosts began within a second of each other, and soon after the call.
        [math]::Abs(($h1.StartLatency - $h2.StartLatency).TotalMilliseconds) | Should -BeLessThan 1000
        $h1.StartLatency.TotalSeconds | Should -BeLessThan 30
        $h1.ClockOffset.Duration().TotalSeconds | Should -BeLessThan 5
        Write-Host ("two hosts: merged {0} req/s, sum {1} req/s; p50 {2} p99 {3} p99.9 {4} ms (from raw: {5} {6} {7}); averaged p99 would be {8}; start {9:0} / {10:0} ms after the call; call took {11:0.0} s" -f
            $r.RequestsPerSecond, $sum, $r.Latency.P50, $r.Latency.P99, $r.Latency.P999, (Get-Percentile $pairs 50), (Get-Percentile $pairs 99), (Get-Percentile $pairs 99.9),
            (($h1.Latency.P99 + $h2.Latency.P99) / 2), $h1.StartLatency.TotalMilliseconds, $h2.StartLatency.TotalMilliseconds, $sw.Elapsed.TotalSeconds)
        # The same rate from one host alone, for comparison.
        $one = Start-LoadTest -Uri $lab.Target -Session $s1 -Rate 300 -Duration 4s -AllowNonLoopback
        $one.Hosts.Count | Should -Be 1
        $one.Requests | Should -BeGreaterThan 0
        Write-Host ("one host alone: {0} req/s, p50 {1} p99 {2} p99.9 {3} ms" -f $one.RequestsPerSecond, $one.Latency.P50, $one.Latency.P99, $one.Latency.P999)
    }

    It 'fails the merged thresholds on the merged data' {
        $r = Start-LoadTest -Uri $lab.Target -Session $s1, $s2 -Concurrency 2 -Iterations 40 -AllowNonLoopback -Threshold 'http_reqs: count==41' -ErrorVariable ev -ErrorAction SilentlyContinue
        $r.Requests | Should -Be 40
        $r.Passed | Should -BeFalse
        @($ev | Where-Object { $_.FullyQualifiedErrorId -like 'ChaosPS.ThresholdsFailed*' }).Count | Should -Be 1
    }

    It 'splits by -Weight: virtual users and iterations' {
        $r = Start-LoadTest -Uri $lab.Target -Session $s1, $s2 -Weight 3, 1 -Concurrency 4 -Iterations 400 -AllowNonLoopback
        $r.Hosts.Share | Should -Be 3, 1
        $r.Hosts.Requests | Should -Be 300, 100
        $r.Requests | Should -Be 400
    }

    It '-HostName opens SSH sessions itself and closes them afterwards' {
        $gen2 = $lab.Hosts.gen2
        $pwshBefore = @(Get-LabProcess $lab $gen2.Namespace | Where-Object CommandLine -match 'pwsh').Count
        $r = Start-LoadTest -Uri $lab.Target -HostName $lab.Hosts.gen1.Address, $gen2.Address @ssh -Concurrency 2 -Iterations 60 -AllowNonLoopback
        $r.Requests | Should -Be 60
        $r.Hosts.HostName | Should -Be $lab.Hosts.gen1.Address, $gen2.Address
        # Nothing left running: the remote pwsh the cmdlet started is gone.
        Wait-Until { @(Get-LabProcess $lab $gen2.Namespace | Where-Object CommandLine -match 'pwsh').Count -eq $pwshBefore } -TimeoutSeconds 30 | Should -BeTrue
    }

    It 'keeps the other hosts'' results and marks the result partial when a session dies mid-test' {
        $victim = New-LabSession $lab gen2
        $remotePid = Invoke-Command $victim { $PID }
        # SIGKILL the host's pwsh (the one sshd's powershell subsystem started for this session) 2.5 s into the run.
        $psi = [Diagnostics.ProcessStartInfo]::new('bash')
        foreach ($a in '-c', "sleep 2.5; kill -9 $remotePid") { $psi.ArgumentList.Add($a) }
        $killer = [Diagnostics.Process]::Start($psi)
        $r = Start-LoadTest -Uri $lab.Target -Session $s1, $victim -Rate 100 -Duration 5s -AllowNonLoopback -ErrorVariable ev -ErrorAction SilentlyContinue
        $killer.WaitForExit()
        $r | Should -Not -BeNullOrEmpty
        $r.Partial | Should -BeTrue
        $r.Passed | Should -BeFalse -Because 'a run that lost a host is missing evidence'
        ($r | Out-String -Width 200) | Should -Match 'PARTIAL'
        $r.Hosts[0].Status | Should -Be 'Completed'
        $r.Hosts[1].Status | Should -Be 'Failed'
        $r.Requests | Should -Be $r.Hosts[0].Requests
        $r.Hosts[0].Requests | Should -BeGreaterThan 200
        $err = @($ev | Where-Object { $_.FullyQualifiedErrorId -like 'ChaosPS.RemoteHostFailed*' })
        $err.Count | Should -Be 1
        "$err" | Should -Match ([regex]::Escape($lab.Hosts.gen2.Address))
        $r.Generator.Notes | Should -Match 'PARTIAL'
        Remove-PSSession $victim -ErrorAction SilentlyContinue
    }

    It 'Ctrl+C stops every host (and leaves the given sessions usable)' {
        $gen1 = $lab.Hosts.gen1.Address; $gen2 = $lab.Hosts.gen2.Address
        # A pipeline of its own to stop (as Ctrl+C does), with sessions of its own that stay open after the stop.
        $ps = [powershell]::Create()
        $null = $ps.AddScript({
                param($Module, $Target, $Hosts, $Lab)
                Import-Module $Module
                $global:labSessions = @($Hosts | ForEach-Object { New-PSSession -HostName $_ -UserName $Lab.User -KeyFilePath $Lab.KeyFile -Options $Lab.SshOption -ErrorAction Stop })
                Start-LoadTest -Uri $Target -Session $global:labSessions -Rate 100 -Duration 120s -AllowNonLoopback
            }).AddArgument($env:CHAOSPS_MODULE).AddArgument($lab.Target).AddArgument(@($gen1, $gen2)).AddArgument($lab)
        $async = $ps.BeginInvoke()
        try {
            $c1 = Get-TargetCount $gen1; $c2 = Get-TargetCount $gen2
            Wait-Until { (Get-TargetCount $gen1) -gt $c1 + 50 -and (Get-TargetCount $gen2) -gt $c2 + 50 } -TimeoutSeconds 60 | Should -BeTrue
            $ps.Stop()
            # Both hosts stop sending: the counts at the target stop growing.
            $still = { $a = (Get-TargetCount $gen1) + (Get-TargetCount $gen2); Start-Sleep -Milliseconds 1500; $a -eq (Get-TargetCount $gen1) + (Get-TargetCount $gen2) }
            Wait-Until $still -TimeoutSeconds 30 | Should -BeTrue
            # The sessions are idle again and take the next command.
            $ps.Commands.Clear()
            $null = $ps.AddScript({ $global:labSessions | ForEach-Object { "$($_.Runspace.RunspaceAvailability)"; Invoke-Command $_ { 'alive' } } })
            $ps.Invoke() | Should -Be 'Available', 'alive', 'Available', 'alive'
            $ps.Commands.Clear()
            $null = $ps.AddScript({ $global:labSessions | Remove-PSSession })
            $ps.Invoke()
        }
        finally { $ps.Dispose() }
    }
}

Describe 'Start-LoadTest over several hosts: bad input' -Tag 'MultiHost' {
    It 'refuses a host without ChaosPS, naming the host and what it has, before any host starts' {
        $gen3 = $lab.Hosts.gen3.Address
        $before = Get-TargetCount $lab.Hosts.gen1.Address
        { Start-LoadTest -Uri $lab.Target -HostName $lab.Hosts.gen1.Address, $gen3 @ssh -Rate 50 -Duration 2s -AllowNonLoopback -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChaosPS.RemoteModuleMissing*' -ExpectedMessage "*'$gen3'*0.0.1*"
        Get-TargetCount $lab.Hosts.gen1.Address | Should -Be $before
    }

    It 'refuses a session with another ChaosPS version loaded' {
        $other = New-LabSession $lab gen3
        try {
            Invoke-Command $other { Import-Module ChaosPS -RequiredVersion 0.0.1 }
            { Start-LoadTest -Uri $lab.Target -Session $s1, $other -Rate 50 -Duration 2s -AllowNonLoopback -ErrorAction Stop } |
                Should -Throw -ErrorId 'ChaosPS.RemoteModuleVersionMismatch*' -ExpectedMessage "*$($lab.Hosts.gen3.Address)*0.0.1*"
        }
        finally { Remove-PSSession $other }
    }

    It 'works once the module is copied to the host with the one-liner the error recommends' {
        $s3 = New-LabSession $lab gen3
        $dest = Join-Path $fake "ChaosPS/$((Get-Module ChaosPS).Version)"
        try {
            $err = $null
            try { Start-LoadTest -Uri $lab.Target -Session $s3 -Concurrency 1 -Iterations 5 -AllowNonLoopback -ErrorAction Stop } catch { $err = $_ }
            $err.FullyQualifiedErrorId | Should -BeLike 'ChaosPS.RemoteModuleMissing*'
            $err.ErrorDetails.RecommendedAction | Should -Match 'Copy-Item -ToSession \$session -Recurse -Path \(Get-Module ChaosPS\).ModuleBase'
            # The recommended copy, into the host's module folder of this lab host (its subsystem's PSModulePath).
            Copy-Item -ToSession $s3 -Recurse -Path (Get-Module ChaosPS).ModuleBase -Destination $dest
            $r = Start-LoadTest -Uri $lab.Target -Session $s3 -Concurrency 1 -Iterations 5 -AllowNonLoopback
            $r.Requests | Should -Be 5
            $r.Hosts[0].ModuleVersion | Should -Be (Get-Module ChaosPS).Version.ToString()
        }
        finally {
            Remove-PSSession $s3 -ErrorAction SilentlyContinue
            Remove-Item $dest -Recurse -Force -ErrorAction SilentlyContinue
        }
    }

    It 'refuses a session that is no longer open, naming its host' {
        $dead = New-LabSession $lab gen2
        $remotePid = Invoke-Command $dead { $PID }
        Stop-Process -Id $remotePid -Force
        Wait-Until { $dead.State -ne 'Opened' } -TimeoutSeconds 30 | Should -BeTrue
        { Start-LoadTest -Uri $lab.Target -Session $s1, $dead -Rate 50 -Duration 2s -AllowNonLoopback -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChaosPS.RemoteSessionNotOpen*' -ExpectedMessage "*'$($lab.Hosts.gen2.Address)'*"
        Remove-PSSession $dead -ErrorAction SilentlyContinue
    }

    It 'measures a host''s clock offset and still starts the hosts together; refuses a clock far off' {
        if (-not (Test-Path $FakeTimeLibrary)) { throw "libfaketime is missing ($FakeTimeLibrary); .ci/run installs it" }
        $gen4 = $lab.Hosts.gen4
        # gen4's pwsh sees its wall clock 20 s behind: its share must still start with gen1's, not 20 s later.
        Set-Content $gen4.Skew '-20s'
        $behind = New-LabSession $lab gen4
        try {
            $r = Start-LoadTest -Uri $lab.Target -Session $s1, $behind -Rate 100 -Duration 2s -AllowNonLoopback
            $r.Hosts[1].ClockOffset.TotalSeconds | Should -BeLessThan -19
            $r.Hosts[1].ClockOffset.TotalSeconds | Should -BeGreaterThan -21
            [math]::Abs(($r.Hosts[0].StartLatency - $r.Hosts[1].StartLatency).TotalMilliseconds) | Should -BeLessThan 1000
            $r.Hosts.Status | Should -Be 'Completed', 'Completed'
            Write-Host ("a host 20 s behind: measured offset {0:0.000} s; starts {1:0} / {2:0} ms after the call" -f $r.Hosts[1].ClockOffset.TotalSeconds, $r.Hosts[0].StartLatency.TotalMilliseconds, $r.Hosts[1].StartLatency.TotalMilliseconds)
        }
        finally { Remove-PSSession $behind -ErrorAction SilentlyContinue }
        Set-Content $gen4.Skew '+2m'
        $ahead = New-LabSession $lab gen4
        try {
            $before = Get-TargetCount $lab.Hosts.gen1.Address
            { Start-LoadTest -Uri $lab.Target -Session $s1, $ahead -Rate 50 -Duration 2s -AllowNonLoopback -ErrorAction Stop } |
                Should -Throw -ErrorId 'ChaosPS.RemoteClockSkew*' -ExpectedMessage "*'$($gen4.Address)'*"
            Get-TargetCount $lab.Hosts.gen1.Address | Should -Be $before -Because 'no host starts when one is not ready'
        }
        finally { Remove-PSSession $ahead -ErrorAction SilentlyContinue; Remove-Item $gen4.Skew -ErrorAction SilentlyContinue }
    }

    It 'names an unreachable host' {
        $addr = $lab.Hosts.gen1.Address
        { Start-LoadTest -Uri $lab.Target -HostName $addr @ssh -Port 2222 -Rate 50 -Duration 2s -AllowNonLoopback -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChaosPS.RemoteHostUnreachable*' -ExpectedMessage "*'$addr'*"
    }

    It 'refuses <Case> before contacting any host' -TestCases @(
        @{ Case = 'weights that do not match the hosts'; Id = 'ChaosPS.InvalidWeight'; Extra = @{ HostName = '198.18.0.250', '198.18.0.251'; Weight = 1, 2, 3; Rate = 10; Duration = '1s' } }
        @{ Case = 'a zero weight'; Id = 'ChaosPS.InvalidWeight'; Extra = @{ HostName = '198.18.0.250', '198.18.0.251'; Weight = 1, 0; Rate = 10; Duration = '1s' } }
        @{ Case = '-Session with -HostName'; Id = 'ChaosPS.SessionAndHostName'; Extra = @{ HostName = '198.18.0.250'; Rate = 10; Duration = '1s' }; WithSession = $true }
        @{ Case = 'a host name that is an ssh option'; Id = 'ChaosPS.InvalidHostName'; Extra = @{ HostName = '-oProxyCommand=touch /tmp/x'; Rate = 10; Duration = '1s' } }
        @{ Case = 'fewer virtual users than hosts'; Id = 'ChaosPS.TooFewForHosts'; Extra = @{ HostName = '198.18.0.250', '198.18.0.251'; Concurrency = 1; Duration = '1s' } }
        @{ Case = '-AsJob'; Id = 'ChaosPS.MultiHostAsJob'; Extra = @{ HostName = '198.18.0.250'; Rate = 10; Duration = '1s'; AsJob = $true } }
        @{ Case = 'an SSH option without -HostName'; Id = 'ChaosPS.HostOptionWithoutHosts'; Extra = @{ UserName = 'root'; Rate = 10; Duration = '1s' } }
        @{ Case = '-Weight without hosts'; Id = 'ChaosPS.HostOptionWithoutHosts'; Extra = @{ Weight = 1; Rate = 10; Duration = '1s' } }
        @{ Case = 'an SSH option with -Session'; Id = 'ChaosPS.HostOptionWithoutHosts'; Extra = @{ KeyFilePath = '/etc/hostname'; Rate = 10; Duration = '1s' }; WithSession = $true }
        @{ Case = 'a user name that is an ssh option'; Id = 'ChaosPS.InvalidUserName'; Extra = @{ HostName = '198.18.0.250'; UserName = '-oProxyCommand=x'; Rate = 10; Duration = '1s' } }
        @{ Case = 'a key file that does not exist'; Id = 'ChaosPS.KeyFileNotFound'; Extra = @{ HostName = '198.18.0.250'; KeyFilePath = '/nonexistent/key'; Rate = 10; Duration = '1s' } }
        @{ Case = 'an ssh option with a newline'; Id = 'ChaosPS.InvalidSshOption'; Extra = @{ HostName = '198.18.0.250'; SshOption = @{ ProxyCommand = "x`ny" }; Rate = 10; Duration = '1s' } }
    ) {
        param($Case, $Id, $Extra, $WithSession)
        $p = @{ Uri = $lab.Target; AllowNonLoopback = $true } + $Extra
        if ($WithSession) { $p.Session = $s1 }
        { Start-LoadTest @p -ErrorAction Stop } | Should -Throw -ErrorId "$Id*"
    }
}

Describe 'Chaos on a remote host through its session' -Tag 'MultiHost' {
    It 'keeps the fault in the remote host''s ledger, and that host undoes it when <_> is killed mid-fault' -ForEach 'the SSH connection', 'the remote pwsh' {
        $how = $_
        $gen1 = $lab.Hosts.gen1
        # The victim runs on the remote host (in its namespace).
        $victim = Start-Process ip -ArgumentList 'netns', 'exec', $gen1.Namespace, 'sleep', '600' -PassThru
        $s = New-LabSession $lab gen1
        try {
            Wait-Until { (Get-ProcessState $victim.Id) -eq 'S' } -TimeoutSeconds 10 | Should -BeTrue
            $remote = Invoke-Command $s {
                param($Victim)
                Import-Module ChaosPS
                $null = Get-ChaosTarget -ProcessId $Victim | Suspend-ChaosTarget -Confirm:$false
                [pscustomobject]@{ Pid = $PID; Ledger = $env:CHAOSPS_STATE_DIR; Faults = @(Get-ChaosFault).Count }
            } -ArgumentList $victim.Id
            $remote.Ledger | Should -Be $gen1.Ledger
            $remote.Faults | Should -Be 1
            Get-ProcessState $victim.Id | Should -Be 'T'
            # The fault is in the remote host's ledger, owned by the remote pwsh, and not in this one's.
            @(Get-ChaosFault | Where-Object OwnerPid -eq $remote.Pid).Count | Should -Be 0
            $outer = $env:CHAOSPS_STATE_DIR
            try {
                $env:CHAOSPS_STATE_DIR = $gen1.Ledger
                $f = @(Get-ChaosFault)
                $f.Count | Should -Be 1
                $f[0].OwnerPid | Should -Be $remote.Pid
            }
            finally { $env:CHAOSPS_STATE_DIR = $outer }
            if ($how -eq 'the SSH connection') {
                # SIGKILL this side's ssh client of that session: the remote pwsh loses its connection.
                $kill = @(Get-Process ssh -ErrorAction SilentlyContinue | Where-Object { $_.CommandLine -match [regex]::Escape($gen1.Address) -and $_.CommandLine -match 'powershell' } | ForEach-Object Id)
            }
            else { $kill = @($remote.Pid) }   # SIGKILL the remote pwsh itself: only the host's watchdog is left to undo it
            $kill.Count | Should -BeGreaterOrEqual 1
            $killedAt = [Diagnostics.Stopwatch]::StartNew()
            $kill | ForEach-Object { Stop-Process -Id $_ -Force }
            Wait-Until { (Get-ProcessState $victim.Id) -ne 'T' } -TimeoutSeconds 60 | Should -BeTrue -Because 'the remote host''s watchdog resumes the target once the owning pwsh is gone'
            $undoneMs = $killedAt.Elapsed.TotalMilliseconds
            Get-ProcessState $victim.Id | Should -BeIn 'S', 'R'
            try {
                $env:CHAOSPS_STATE_DIR = $gen1.Ledger
                Wait-Until { @(Get-ChaosFault).Count -eq 0 } -TimeoutSeconds 30 | Should -BeTrue
            }
            finally { $env:CHAOSPS_STATE_DIR = $outer }
            # Who undid it, from the host's ledger log: the pwsh on its way out (the connection dropped), or the watchdog (pwsh killed).
            # The undo deletes the record, then writes its log line: wait for the line rather than read in between.
            $who = if ($how -eq 'the SSH connection') { "(process $($remote.Pid) on exit|owner process $($remote.Pid) is gone); Restored" } else { "owner process $($remote.Pid) is gone; Restored" }
            Wait-Until { (Get-Content (Join-Path $gen1.Ledger 'watchdog.log') -Raw) -match $who } -TimeoutSeconds 30 | Out-Null
            $log = Get-Content (Join-Path $gen1.Ledger 'watchdog.log') -Raw
            $log | Should -Match $who
            $by = if ($log -match "owner process $($remote.Pid) is gone") { 'the remote watchdog' } else { 'the remote pwsh on exit' }
            Write-Host ("{0} killed mid-fault: {1} undid the SIGSTOP {2:0} ms later" -f $how, $by, $undoneMs)
        }
        finally {
            Remove-PSSession $s -ErrorAction SilentlyContinue
            if (-not $victim.HasExited) { Stop-Process -Id $victim.Id -Force -ErrorAction SilentlyContinue; kill -CONT $victim.Id 2>$null }
        }
    }
}

Describe 'build.ps1 package: a .nupkg for PSResourceGet' -Tag 'MultiHost', 'Package' {
    It 'publishes a .nupkg that Save-PSResource installs into a clean module path, where it imports and runs' {
        $root = Split-Path $PSScriptRoot
        $version = (Get-Module ChaosPS).Version.ToString()
        $pwsh = @(Get-PwshPath)
        & $pwsh[0] @($pwsh | Select-Object -Skip 1) -NoProfile -NonInteractive -File "$root/build.ps1" package -NoBuild | Out-Null
        $LASTEXITCODE | Should -Be 0
        $nupkg = Join-Path $root "out/package/ChaosPS.$version.nupkg"
        Test-Path $nupkg | Should -BeTrue
        # Install from the folder as a file repository, into a module path of its own.
        $feed = Join-Path $lab.State 'feed'; $clean = Join-Path $lab.State 'clean-modules'
        New-Item -ItemType Directory $feed, $clean | Out-Null
        Copy-Item $nupkg $feed
        $repo = "chaosps-test-$($lab.Run)"
        Register-PSResourceRepository -Name $repo -Uri $feed -Trusted
        try {
            Save-PSResource -Name ChaosPS -Version $version -Repository $repo -Path $clean -TrustRepository -ErrorAction Stop
        }
        finally { Unregister-PSResourceRepository -Name $repo }
        Test-Path (Join-Path $clean "ChaosPS/$version/ChaosPS.psd1") | Should -BeTrue
        # A fresh pwsh that only knows the clean path imports it by name and drives a request through it.
        $out = Invoke-ChildPwsh -Environment @{ PSModulePath = $clean } -Script "Import-Module ChaosPS -ErrorAction Stop; `$m = Get-Module ChaosPS; `"BASE=`$(`$m.ModuleBase)`"; `"VER=`$(`$m.Version)`"; `$r = Start-LoadTest -Uri '$($lab.Target)' -Concurrency 1 -Iterations 5 -AllowNonLoopback -ProgressAction SilentlyContinue; `"REQ=`$(`$r.Requests)`""
        $out.ExitCode | Should -Be 0
        $out = @($out.Output -split "`r?`n")
        $out | Should -Contain "BASE=$(Join-Path $clean "ChaosPS/$version")"
        $out | Should -Contain "VER=$version"
        $out | Should -Contain 'REQ=5'
    }
}
