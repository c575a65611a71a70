<#
    A Pester suite made from experiment journals: one It per steady-state probe, load threshold, rollback, failed
    activity, fault, recovery and verdict, so a chaos run is an ordinary Invoke-Pester step (and Pester's own NUnit or
    JUnit output, CI format and code coverage settings apply). Give the journals as container data:

        $c = New-PesterContainer -Path ./Experiment.Tests.ps1 -Data @{ Journal = (Get-ChildItem out/chaos/journals/*.json).FullName }
        Invoke-Pester -Container $c -Output Detailed

    A failing It quotes the evidence, e.g. "Expected $true, because status 503 vs tolerance 200: NOT within tolerance".
    Missing evidence (an interrupted run's after-hypothesis) fails too: it is inconclusive, never a pass.
#>
param([Parameter(Mandatory)] [string[]] $Journal)

BeforeDiscovery {
    if (-not (Get-Module ChaosPS)) { Import-Module ChaosPS -ErrorAction Stop }
    $experiments = foreach ($j in $Journal) {
        $cases = @(Get-ChaosExperimentTestCase $j -AsHashtable)
        @{
            Title  = $cases[0].Experiment
            Suites = @($cases | Group-Object { $_.Suite } | ForEach-Object { @{ Suite = $_.Name; Cases = @($_.Group) } })
        }
    }
}

Describe 'Experiment: <Title>' -ForEach $experiments {
    Context '<Suite>' -ForEach $Suites {
        It '<Name>' -ForEach $Cases {
            if ($Result -eq 'Skipped') { Set-ItResult -Skipped -Because $Message; return }
            $Passed | Should -BeTrue -Because $(if ($Result -eq 'Inconclusive') { "inconclusive (no evidence is never a pass): $Message" } else { $Message })
        }
    }
}
