# The five worker-crash scenarios (three of them also on the Docker runtime), run as users run them (a fresh pwsh, the built module), shortened with -Scale.
# Each must exit 0 with a PASSED verdict whose every measured check held.
BeforeDiscovery {
    $script:cases = @(
        @{ Name = 'worker-half-killed'; Runtime = 'Process' }
        @{ Name = 'worker-crash-during-inference'; Runtime = 'Process' }
        @{ Name = 'worker-crash-during-startup'; Runtime = 'Process' }
        @{ Name = 'worker-oom'; Runtime = 'Process' }
        @{ Name = 'worker-term-ignored'; Runtime = 'Process' }
    )
    $script:dockerCases = @(
        @{ Name = 'worker-half-killed'; Runtime = 'Docker' }
        @{ Name = 'worker-oom'; Runtime = 'Docker' }
        @{ Name = 'worker-term-ignored'; Runtime = 'Docker' }
    )
}

BeforeAll {
    Import-Module $env:CHAOSPS_MODULE -Force
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    $script:scenarioDir = Join-Path (Split-Path $PSScriptRoot) 'scripts/scenarios'
    function Invoke-Scenario([string] $Name, [string] $Runtime) {
        $verdictPath = Join-Path ([IO.Path]::GetTempPath()) "chaosps-verdict-$Name-$Runtime-$([guid]::NewGuid().ToString('n').Substring(0,6)).json"
        $state = Join-Path ([IO.Path]::GetTempPath()) "chaosps-scn-$([guid]::NewGuid().ToString('n').Substring(0,8))"
        $script = "& '$scenarioDir/$Name.ps1' -ModulePath '$env:CHAOSPS_MODULE' -Runtime $Runtime -Scale 0.5 -VerdictPath '$verdictPath'; exit `$LASTEXITCODE"
        $r = Invoke-ChildPwsh -Script $script -Environment @{ CHAOSPS_STATE_DIR = $state }
        $verdict = if (Test-Path $verdictPath) { Get-Content $verdictPath -Raw | ConvertFrom-Json } else { $null }
        Remove-Item $verdictPath -ErrorAction SilentlyContinue
        $leftover = @(Get-ChildItem "$state/faults" -Filter *.json -ErrorAction SilentlyContinue)
        Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue
        [pscustomobject]@{ ExitCode = $r.ExitCode; Output = $r.Output + $r.Error; Verdict = $verdict; LeftoverFaults = $leftover.Count }
    }
}

Describe 'Worker scenarios (Process runtime)' -Tag 'WorkerChaos', 'Scenario' {
    It '<Name> passes with measured checks' -ForEach $cases {
        $r = Invoke-Scenario $Name $Runtime
        Write-Host (($r.Output -split "`n" | Where-Object { $_ -match 'Scenario|\[ok\]|\[FAIL\]|time-to|load:|error' }) -join "`n")
        $r.Verdict | Should -Not -BeNullOrEmpty -Because "the scenario writes its verdict: $($r.Output)"
        $r.Verdict.Error | Should -BeNullOrEmpty
        $r.Verdict.Checks | Where-Object { -not $_.Passed } | ForEach-Object { "$($_.Name): $($_.Measured)" } | Should -BeNullOrEmpty
        $r.Verdict.Passed | Should -BeTrue
        $r.ExitCode | Should -Be 0
        $r.Verdict.TimeToRecoverMs | Should -BeGreaterThan 0
        $r.Verdict.Load.Requests | Should -BeGreaterThan 0
        $r.LeftoverFaults | Should -Be 0
    }
}

Describe 'Worker scenarios (Docker runtime)' -Tag 'WorkerChaos', 'Scenario', 'Docker' {
    It '<Name> passes with measured checks' -ForEach $dockerCases {
        Skip-WithoutDocker
        $r = Invoke-Scenario $Name $Runtime
        Write-Host (($r.Output -split "`n" | Where-Object { $_ -match 'Scenario|\[ok\]|\[FAIL\]|time-to|load:|error' }) -join "`n")
        $r.Verdict | Should -Not -BeNullOrEmpty -Because "the scenario writes its verdict: $($r.Output)"
        $r.Verdict.Checks | Where-Object { -not $_.Passed } | ForEach-Object { "$($_.Name): $($_.Measured)" } | Should -BeNullOrEmpty
        $r.Verdict.Passed | Should -BeTrue
        $r.ExitCode | Should -Be 0
        $r.LeftoverFaults | Should -Be 0
    }
}

Describe 'A failing scenario fails' -Tag 'WorkerChaos', 'Scenario' {
    It 'exits non-zero with a FAILED verdict when the target cannot start' {
        $verdictPath = Join-Path ([IO.Path]::GetTempPath()) "chaosps-verdict-fail-$([guid]::NewGuid().ToString('n').Substring(0,6)).json"
        $r = Invoke-ChildPwsh -Script "& '$scenarioDir/worker-half-killed.ps1' -ModulePath '$env:CHAOSPS_MODULE' -Workers 0 -VerdictPath '$verdictPath'; exit `$LASTEXITCODE"
        $r.ExitCode | Should -Be 1
        (Get-Content $verdictPath -Raw | ConvertFrom-Json).Passed | Should -BeFalse
        Remove-Item $verdictPath -ErrorAction SilentlyContinue
    }
}
