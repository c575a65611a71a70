#Requires -Modules Pester
# Experiments whose activities run on named hosts (Invoke-ChaosExperiment -Session @{ name = $session }), for real:
# the hosts are network namespaces with their own sshd (tests/MultiHostHelpers.psm1), each with its own fault ledger,
# and the target is an nginx reachable only inside that private network. Torn down in AfterAll, also on failure.

BeforeAll {
    Import-Module $env:CHAOSPS_MODULE -Force
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    Import-Module "$PSScriptRoot/MultiHostHelpers.psm1" -Force
    $script:moduleRoot = Split-Path (Split-Path (Split-Path $env:CHAOSPS_MODULE))    # out/ (holds ChaosPS/<version>/)
    $script:lab = New-TestHostLab -Hosts gen1, gen2 -DefaultModulePath $moduleRoot
    $script:s1 = New-LabSession $lab gen1
    $script:s2 = New-LabSession $lab gen2
    $script:work = Join-Path ([IO.Path]::GetTempPath()) "chaosps-exphosts-$([guid]::NewGuid().ToString('n').Substring(0, 6))"
    New-Item -ItemType Directory -Force $work | Out-Null
}

AfterAll {
    Get-PSSession | Remove-PSSession -ErrorAction SilentlyContinue
    Remove-TestHostLab $lab
    Remove-Item $work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Experiment activities on named hosts' -Tag 'MultiHost', 'ExperimentHosts' {
    It 'runs an activity on the host it names: the fault lives in that host''s ledger and is undone there; remote results are judged' {
        $gen1 = $lab.Hosts.gen1
        # The victim runs on gen1 (in its namespace); the suspension must be made by gen1's pwsh, in gen1's ledger.
        $victim = Start-Process ip -ArgumentList 'netns', 'exec', $gen1.Namespace, 'sleep', '600' -PassThru
        try {
            Wait-Until { (Get-ProcessState $victim.Id) -eq 'S' } -TimeoutSeconds 10 | Should -BeTrue
            $exp = @{
                title = 'a fault on a named host'
                description = 'suspend a process on gen1 through its session; probe from here'
                'steady-state-hypothesis' = @{ title = 'victim runs'; probes = @(
                    @{ type = 'probe'; name = 'victim-running'; tolerance = $true; provider = @{ type = 'powershell'; arguments = @{ Id = $victim.Id }
                        script = { param($Id) (Get-Content "/proc/$Id/stat" -Raw) -match '^\d+ \(.*\) [SR] ' } } }) }
                method = @(
                    @{ type = 'probe'; name = 'where'; tolerance = $gen1.Ledger; provider = @{ type = 'powershell'; host = 'gen1'
                        script = { $env:CHAOSPS_STATE_DIR } } }
                    # Watches from here while the fault is on: the victim stopped, one fault in gen1's ledger, none in this one's.
                    @{ type = 'action'; name = 'watch'; background = $true; provider = @{ type = 'powershell'; arguments = @{ Id = $victim.Id; Remote = "$($gen1.Ledger)/faults" }
                        script = {
                            param($Id, $Remote)
                            $until = [datetime]::UtcNow.AddSeconds(60)
                            while ([datetime]::UtcNow -lt $until -and (Get-Content "/proc/$Id/stat" -Raw) -notmatch '^\d+ \(.*\) T ') { Start-Sleep -Milliseconds 50 }
                            [pscustomobject]@{
                                State = if ((Get-Content "/proc/$Id/stat" -Raw) -match '^\d+ \(.*\) (\w) ') { $Matches[1] } else { '?' }
                                RemoteFaults = @(Get-ChildItem $Remote -Filter *.json -ErrorAction SilentlyContinue).Count
                                LocalFaults = @(Get-ChaosFault).Count
                            }
                        } } }
                    @{ type = 'action'; name = 'suspend-there'; provider = @{ type = 'chaosps'; host = 'gen1'; cmdlet = 'Suspend-ChaosTarget'
                        target = @{ ProcessId = $victim.Id }; arguments = @{ Duration = '3s' } } }
                    @{ type = 'probe'; name = 'gen1-ledger-empty'; tolerance = 0; provider = @{ type = 'powershell'; host = 'gen1'; script = { @(Get-ChaosFault).Count } } }
                    # A remote result judged by a thresholds tolerance: it comes back deserialized.
                    @{ type = 'probe'; name = 'load-from-gen1'; tolerance = @{ type = 'thresholds' }; provider = @{ type = 'chaosps'; host = 'gen1'; cmdlet = 'Start-LoadTest'
                        arguments = @{ Uri = $lab.Target; Iterations = 20; Concurrency = 1; AllowNonLoopback = $true; Threshold = @('http_req_failed: rate==0', 'http_reqs: count==20') } } }
                    # The load split over two named hosts, one merged result.
                    @{ type = 'probe'; name = 'load-from-both'; tolerance = @{ type = 'thresholds' }; provider = @{ type = 'chaosps'; sessions = @('gen1', 'gen2'); cmdlet = 'Start-LoadTest'
                        arguments = @{ Uri = $lab.Target; Iterations = 20; Concurrency = 2; AllowNonLoopback = $true; Threshold = @('http_reqs: count==20') } } }
                )
            }
            $j = Invoke-ChaosExperiment -Experiment $exp -Session @{ gen1 = $s1; gen2 = $s2 } -JournalPath (Join-Path $work 'j.json')
            $j.Verdict | Should -Be 'Passed' -Because $j.Reason
            $runs = @{}; $j.Run | ForEach-Object { $runs[$_.Name] = $_ }
            $runs['where'].Output.ToString() | Should -Be $gen1.Ledger
            $runs['where'].Activity['provider']['host'].ToString() | Should -Be 'gen1'
            $runs['suspend-there'].Status | Should -Be 'succeeded'
            $w = $runs['watch'].Output
            $w['State'].ToString() | Should -Be 'T'
            [int]$w['RemoteFaults'].ToString() | Should -Be 1 -Because 'the suspension is ledgered on gen1'
            [int]$w['LocalFaults'].ToString() | Should -Be 0 -Because 'nothing of it is in this pwsh''s ledger'
            $runs['gen1-ledger-empty'].ToleranceMet | Should -BeTrue
            $runs['load-from-gen1'].ToleranceMet | Should -BeTrue
            $runs['load-from-gen1'].Output['Requests'].GetValue[long]() | Should -Be 20
            $runs['load-from-both'].ToleranceMet | Should -BeTrue
            @($runs['load-from-both'].Output['Hosts']).Count | Should -Be 2
            Get-ProcessState $victim.Id | Should -BeIn 'S', 'R'
            # The journal file names the host too.
            (Get-Content (Join-Path $work 'j.json') -Raw | ConvertFrom-Json -AsHashtable).run[0].activity.provider.host | Should -Be 'gen1'
        }
        finally {
            if (-not $victim.HasExited) { Stop-Process -Id $victim.Id -Force -ErrorAction SilentlyContinue; kill -CONT $victim.Id 2>$null }
        }
    }

    It 'restores at the end what an activity left in a host''s ledger, there, and journals it' {
        $gen1 = $lab.Hosts.gen1
        $victim = Start-Process ip -ArgumentList 'netns', 'exec', $gen1.Namespace, 'sleep', '600' -PassThru
        try {
            Wait-Until { (Get-ProcessState $victim.Id) -eq 'S' } -TimeoutSeconds 10 | Should -BeTrue
            $exp = @{
                title = 'a fault left on a named host'; description = 'no duration, no rollback: the run must undo it on gen1'
                method = @(
                    @{ type = 'action'; name = 'suspend-and-leave'; provider = @{ type = 'chaosps'; host = 'gen1'; cmdlet = 'Suspend-ChaosTarget'; target = @{ ProcessId = $victim.Id } } }
                    @{ type = 'probe'; name = 'left'; tolerance = 1; provider = @{ type = 'powershell'; host = 'gen1'; script = { @(Get-ChaosFault | Where-Object OwnerPid -eq $PID).Count } } }
                )
            }
            $j = Invoke-ChaosExperiment -Experiment $exp -Session @{ gen1 = $s1 } -JournalPath (Join-Path $work 'left.json')
            $j.Verdict | Should -Be 'Passed' -Because $j.Reason
            $j.Faults.Count | Should -Be 1
            $j.Faults[0].Restored | Should -BeTrue
            $j.Faults[0].Target | Should -BeLike "*on host 'gen1'"
            Get-ProcessState $victim.Id | Should -BeIn 'S', 'R'
            Invoke-Command $s1 { @(Get-ChaosFault | Where-Object OwnerPid -eq $PID).Count } | Should -Be 0
        }
        finally {
            if (-not $victim.HasExited) { Stop-Process -Id $victim.Id -Force -ErrorAction SilentlyContinue; kill -CONT $victim.Id 2>$null }
        }
    }

    It 'a failing remote threshold is judged as not met (deserialized results are not waved through)' {
        $exp = @{
            title = 'remote thresholds fail'; description = 'd'
            'steady-state-hypothesis' = @{ title = 'h'; probes = @(@{ type = 'probe'; name = 'ok'; tolerance = $true; provider = @{ type = 'powershell'; script = { $true } } }) }
            method = @(@{ type = 'probe'; name = 'load'; tolerance = @{ type = 'thresholds' }; provider = @{ type = 'chaosps'; host = 'gen1'; cmdlet = 'Start-LoadTest'
                arguments = @{ Uri = $lab.Target; Iterations = 5; Concurrency = 1; AllowNonLoopback = $true; Threshold = @('http_reqs: count==6') } } })
        }
        $j = Invoke-ChaosExperiment -Experiment $exp -Session @{ gen1 = $s1 } -JournalPath (Join-Path $work 'fail.json') -ErrorAction SilentlyContinue
        $j.Run[0].Status | Should -Be 'succeeded'
        $j.Run[0].ToleranceMet | Should -BeFalse
    }

    It 'refuses an activity that names an unknown host before anything runs, naming the activity and the host' {
        $marker = Join-Path $work 'ran'
        $exp = @{
            title = 'unknown host'; description = 'd'
            'steady-state-hypothesis' = @{ title = 'h'; probes = @(@{ type = 'probe'; name = 'ok'; tolerance = $true; provider = @{ type = 'powershell'; arguments = @{ M = $marker }; script = { param($M) Set-Content $M x; $true } } }) }
            method = @(@{ type = 'action'; name = 'crash-there'; provider = @{ type = 'powershell'; host = 'gen9'; script = { 'x' } } })
        }
        { Invoke-ChaosExperiment -Experiment $exp -Session @{ gen1 = $s1 } -JournalPath $work -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChaosPS.UnknownExperimentHost*' -ExpectedMessage "*activity 'crash-there' names host 'gen9'*"
        Test-Path $marker | Should -BeFalse
        $file = Join-Path $work 'unknown.psd1'
        Set-Content $file "@{ title = 't'; description = 'd'; method = @(@{ type = 'action'; name = 'load'; provider = @{ type = 'chaosps'; cmdlet = 'Start-LoadTest'; sessions = @('gen1', 'nohost'); arguments = @{ Uri = 'http://127.0.0.1:1/' } } }) }"
        Test-ChaosExperiment $file -Session @{ gen1 = $s1 } -ErrorVariable ev -ErrorAction SilentlyContinue | Should -BeFalse
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'ChaosPS.UnknownExperimentHost*'
        "$($ev[0])" | Should -BeLike "*activity 'load' names host 'nohost'*"
        { Invoke-ChaosExperiment -Experiment @{ title = 't'; description = 'd'; method = @() } -Session @{ gen1 = 'not a session' } -ErrorAction Stop } |
            Should -Throw -ErrorId 'ChaosPS.InvalidExperimentSession*'
    }
}
