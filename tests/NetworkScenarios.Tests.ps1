# The network scenarios (scripts/scenarios/network-*.ps1), run short: each starts the embedded target behind a chaos
# proxy, drives load through it before, during and after a ledgered fault, and returns a measured verdict.
BeforeDiscovery {
    $script:scenarios = Get-ChildItem "$PSScriptRoot/../scripts/scenarios" -Filter 'network-*.ps1' | ForEach-Object { @{ Name = $_.BaseName; Path = $_.FullName } }
}
BeforeAll {
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    $script:modulePath = Get-ChaosModulePath
}

Describe 'Network scenario <Name>' -Tag Network, Scenario -ForEach $scenarios {
    It 'passes its measured verdict with load through the proxy, and leaves no fault behind' {
        $v = & $Path -ModulePath $modulePath -Scale 0.6 6>&1 | Where-Object { $_ -isnot [System.Management.Automation.InformationRecord] }
        $v = @($v)[-1]
        $failed = $v.Checks | Where-Object { -not $_.Passed } | ForEach-Object { "$($_.Check): $($_.Measured)" }
        $failed | Should -BeNullOrEmpty
        $v.Passed | Should -BeTrue
        $v.Baseline.Requests | Should -BeGreaterThan 0   # load ran through the proxy (the checks judge the fault window)
        Get-ChaosFault -Kind NetworkFault | Should -BeNullOrEmpty
    }
}
