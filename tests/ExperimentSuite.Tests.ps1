# The shipped experiment suite (module/experiments), proven honest: every experiment runs at a small -Scale against
# the healthy embedded target (it must pass) and against each deliberate target defect it exists to catch (it must
# fail or deviate, with the evidence in its journal). An experiment that passes against its defect is a bug in the
# experiment. Real processes, real signals, loopback only; no timed assertions (verdicts and journal contents).
BeforeDiscovery {
    # Experiment, the embedded target's options, and the defects it must catch. Scale 0.2 keeps the matrix short.
    $script:matrix = @(
        @{ Experiment = 'worker-crash-during-inference'; With = @{ TokenDelay = '40ms' }; Defects = @('NoRetry', 'UnhealthyAfterRestart') }
        @{ Experiment = 'worker-half-killed'; With = @{ TokenDelay = '40ms' }; Defects = @('NoRestart') }
        @{ Experiment = 'inference-answers-under-load'; With = @{}; Defects = @('EmptyBody', 'ErrorEveryNth') }
        @{ Experiment = 'worker-hung'; With = @{ AttemptTimeout = '1s' }; Defects = @('NoAttemptTimeout') }
        @{ Experiment = 'overload-sheds-load'; With = @{ MaxConcurrency = 2; TokenDelay = '40ms' }; Defects = @('NoShedding') }
    )
    $script:cases = foreach ($m in $matrix) {
        @{ Experiment = $m.Experiment; With = $m.With; Defect = ''; Expect = 'Passed' }
        foreach ($d in $m.Defects) { @{ Experiment = $m.Experiment; With = $m.With; Defect = $d; Expect = 'NotPassed' } }
    }
}

Describe 'Experiment suite: healthy target passes, each defect is caught' -Tag Experiments, ExperimentSuite {
    BeforeAll {
        Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
        Import-Module (Get-ChaosModulePath) -Force
        $script:journals = Join-Path ([IO.Path]::GetTempPath()) "chaosps-suite-$([guid]::NewGuid().ToString('n').Substring(0,8))"
        $script:scale = 0.2
        function Invoke-Case([string] $Experiment, [hashtable] $With, [string] $Defect) {
            $p = @{ Workers = 2 } + $With
            if ($Defect) { $p.Defect = $Defect }
            $t = Start-ChaosTarget @p
            try {
                $path = (Get-ChaosExperiment -Name $Experiment).Path
                $path | Should -Not -BeNullOrEmpty -Because "$Experiment is shipped in the module"
                Invoke-ChaosExperiment -Path $path -Target $t -Scale $scale -JournalPath (Join-Path $journals "$Experiment-$($Defect ? $Defect : 'healthy').json") -ErrorAction SilentlyContinue -ErrorVariable err
            } finally { Stop-ChaosTarget $t }
        }
    }

    It '<Experiment> against <Defect> target: <Expect>' -TestCases $cases {
        $j = Invoke-Case $Experiment $With $Defect
        $j | Should -Not -BeNullOrEmpty
        Test-Path $j.JournalPath | Should -BeTrue
        if ($Expect -eq 'Passed') {
            $j.Verdict | Should -Be 'Passed' -Because "the healthy target must pass: $($j.Reason)"
        } else {
            # Caught: Deviated or Failed, never Passed (and not Inconclusive: the defect must show, not hide the evidence).
            $j.Verdict | Should -BeIn @('Deviated', 'Failed') -Because "$Experiment exists to catch $Defect (journal $($j.JournalPath)): $($j.Reason)"
            $journal = Get-Content $j.JournalPath -Raw | ConvertFrom-Json
            $journal.status | Should -BeIn @('completed', 'failed')
            $j.Reason | Should -Not -BeNullOrEmpty
        }
    }
}

Describe 'Experiment suite: one command, non-zero exit when an experiment did not pass' -Tag Experiments, ExperimentSuite {
    BeforeAll {
        Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
        $script:module = Get-ChaosModulePath
        $script:pwsh = Get-PwshPath
        # The documented one-liner (README): every shipped experiment whose name matches, against a target, exit 1 unless all passed.
        function Invoke-Suite([string] $Defect) {
            $d = if ($Defect) { "-Defect $Defect" } else { '' }
            $cmd = "Import-Module '$module'; `$t = Start-ChaosTarget -Workers 2 $d; try { `$j = Invoke-ChaosExperiment -Path (Get-ChaosExperiment -Name inference-answers-under-load, stress-vram).Path -Scale 0.2 -Target `$t -JournalPath ([IO.Path]::GetTempPath()) -ErrorAction SilentlyContinue } finally { Stop-ChaosTarget `$t }; exit [int]([bool](`$j | Where-Object Verdict -in Failed, Deviated, Aborted, Interrupted))"
            & $pwsh -NoProfile -NonInteractive -Command $cmd *> $null
            $LASTEXITCODE
        }
    }
    It 'exits 0 against the healthy target' { Invoke-Suite '' | Should -Be 0 }
    It 'exits 1 when an experiment deviated (EmptyBody)' { Invoke-Suite 'EmptyBody' | Should -Be 1 }
}
