# Bad input, for every parameter of every exported cmdlet (found from the module's exports, so cmdlets added later
# are fuzzed too): each bad value must end in an ErrorRecord with a specific id, never a raw .NET exception, a hang or
# a silent success. Destructive cmdlets run with -WhatIf; targets are only the ones this file starts; traffic only to
# 127.0.0.1. The harness is tests/ChaosFuzz.psm1; it prints a summary and every failure as cmdlet/parameter/value.
BeforeAll {
    Import-Module $env:CHAOSPS_MODULE -Force
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    Import-Module "$PSScriptRoot/ChaosFuzz.psm1" -Force
    $script:scratch = Join-Path ([IO.Path]::GetTempPath()) "chaosps-fuzz-$([guid]::NewGuid().ToString('n').Substring(0,8))"
    New-Item -ItemType Directory $scratch | Out-Null
    # A fault ledger of this file's own: 'left no fault behind' judges only what the fuzz did.
    $script:outerState = $env:CHAOSPS_STATE_DIR
    $env:CHAOSPS_STATE_DIR = Join-Path $scratch 'state'
    $script:system = Start-ChaosTestbed -Workers 1 -TokenDelay 1ms
    $worker = $system.Workers[0].ProcessId
    $target = Get-ChaosTarget -ProcessId $worker
    $uri = $system.RouterUri.AbsoluteUri
    $requestFile = Join-Path $scratch 'requests.jsonl'
    '{"name":"ok","uri":"/health"}' | Set-Content $requestFile
    $proxyName = "fuzz$([guid]::NewGuid().ToString('n').Substring(0,6))"
    $script:proxy = Start-ChaosProxy -Name $proxyName -Upstream "127.0.0.1:$($system.RouterPort)" -Confirm:$false
    $script:proxyServer = Start-ChaosProxyServer -Listen '127.0.0.1:0' -Confirm:$false
    $fixture = [pscustomobject]@{
        ProxyServer = $proxyServer.Listen
        System = $system; Target = $target; Uri = $uri; HealthUri = "${uri}health"; Scratch = $scratch; RequestFile = $requestFile
        Proxy = $proxyName; Upstream = "127.0.0.1:$($system.RouterPort)"
        LoadResult = Start-LoadTest -Uri "${uri}health" -Iterations 1 -Concurrency 1
    }
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $script:results = @(Invoke-ChaosFuzz -ModulePath $env:CHAOSPS_MODULE -Fixture $fixture -Include ($env:CHAOSPS_FUZZ_INCLUDE ? $env:CHAOSPS_FUZZ_INCLUDE -split ',' : '*'))
    $sw.Stop()
    $summary = $results | Group-Object Outcome | ForEach-Object { "$($_.Name)=$($_.Count)" }
    Write-Host "Fuzz: $($results.Count) calls over $(@($results.Cmdlet | Sort-Object -Unique).Count) cmdlets in $([int]$sw.Elapsed.TotalSeconds)s: $($summary -join ', ')"
    foreach ($r in $results | Where-Object Outcome -in 'Raw', 'Hang', 'Silent', 'BaseFailed', 'BaseGeneric', 'Unavailable') {
        Write-Host ("  {0,-7} {1} -{2} {3}: {4}" -f $r.Outcome, $r.Cmdlet, $r.Parameter, $r.Label, $r.Detail)
    }
    if ($env:CHAOSPS_FUZZ_REPORT) { $results | ConvertTo-Json -Depth 3 | Set-Content $env:CHAOSPS_FUZZ_REPORT }
}

AfterAll {
    if ($script:proxyServer) { Stop-ChaosProxyServer -Listen $proxyServer.Listen -Confirm:$false -ErrorAction SilentlyContinue | Out-Null }
    if ($script:proxy) { Stop-ChaosProxy -Name $proxy.Name -Confirm:$false -ErrorAction SilentlyContinue | Out-Null }
    if ($script:system) { Stop-ChaosTestbed -InputObject $system -Confirm:$false -ErrorAction SilentlyContinue | Out-Null }
    Get-ChaosProxy -ErrorAction SilentlyContinue | Where-Object Name -like 'fuzz*' | Stop-ChaosProxy -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
    Restore-ChaosFault -All -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
    Stop-TestWatchdog $env:CHAOSPS_STATE_DIR | Out-Null
    $env:CHAOSPS_STATE_DIR = $outerState
    Remove-Item $scratch -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Bad input to every exported cmdlet' -Tag Fuzz {
    It 'fuzzed every exported cmdlet' {
        $exported = (Get-Module ChaosPS).ExportedCmdlets.Keys | Sort-Object
        ($results.Cmdlet | Sort-Object -Unique) | Should -Be $exported
    }

    It 'runs every known-good base call cleanly (so a refusal means the fuzzed value was refused)' {
        ($results | Where-Object Outcome -eq 'BaseFailed' | ForEach-Object { "$($_.Cmdlet) [$($_.Label)]: $($_.Detail)" }) | Should -BeNullOrEmpty
    }

    It 'never surfaces a raw .NET exception or an error id that is a type name' {
        ($results | Where-Object Outcome -eq 'Raw' | ForEach-Object { "$($_.Cmdlet) -$($_.Parameter) $($_.Label): $($_.Detail)" }) | Should -BeNullOrEmpty
    }

    It 'never hangs' {
        ($results | Where-Object Outcome -eq 'Hang' | ForEach-Object { "$($_.Cmdlet) -$($_.Parameter) $($_.Label)" }) | Should -BeNullOrEmpty
    }

    It 'never accepts a nonsense value silently' {
        ($results | Where-Object Outcome -eq 'Silent' | ForEach-Object { "$($_.Cmdlet) -$($_.Parameter) $($_.Label)" }) | Should -BeNullOrEmpty
    }

    It 'names a missing process as not found, not as a process without a diagnostic port' {
        $free = 4000000; while (Test-Path "/proc/$free") { $free++ }
        $e = $null; Save-WorkerDump -ProcessId $free -WhatIf -ErrorVariable e -ErrorAction SilentlyContinue
        $e[0].FullyQualifiedErrorId | Should -BeLike 'ProcessNotFound,*'
        $e = $null; Get-WorkerDiagnostics -ProcessId $free -ErrorVariable e -ErrorAction SilentlyContinue
        $e[0].FullyQualifiedErrorId | Should -BeLike 'ProcessNotFound,*'
    }

    It 'left no fault behind' {
        @(Get-ChaosFault) | Should -BeNullOrEmpty
    }
}
