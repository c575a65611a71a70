<#
.SYNOPSIS
    Resets a FRACTION of connections (reset_peer with toxicity 0.3, decided per connection), not every one. Load opens a
    fresh connection per request; the verdict checks that about 30% were reset and the rest were answered.
#>
param(
    [string] $ModulePath = (Get-ChildItem "$PSScriptRoot/../../out/ChaosPS/*/ChaosPS.psd1" -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty FullName),
    # Multiplies every phase length (tests run with 0.5; 1 = 3 s baseline, 5 s fault, 3 s recovery).
    [double] $Scale = 1,
    [int] $Workers = 2
)
$ErrorActionPreference = "Stop"
Import-Module "$PSScriptRoot/lib/NetworkScenario.psm1" -Force
$base = [math]::Max(1, 3 * $Scale); $faultS = [math]::Max(2, 5 * $Scale); $rec = [math]::Max(1.5, 3 * $Scale)
$s = Start-NetworkScenario -ModulePath $ModulePath -Workers $Workers -Name resets
try {
    $run = Invoke-NetworkScenario -Scenario $s -Fault @{ Type = 'ResetPeer'; Timeout = [TimeSpan]::Zero; Stream = 'Upstream'; Toxicity = 0.3 } `
        -BaselineSeconds $base -FaultSeconds $faultS -RecoverySeconds $rec -TimeoutSec 3
    $d = $run.During
    $failed = $d.Requests - $d.Ok
    $frac = if ($d.Requests) { $failed / $d.Requests } else { 0 }
    $resetKinds = [int]$d.ErrorCounts['Reset'] + [int]$d.ErrorCounts['Closed']
    $checks = @(
        New-Check 'baseline healthy (>= 95% OK)' ($run.Baseline.SuccessRate -ge 0.95) "$($run.Baseline.Ok)/$($run.Baseline.Requests) OK"
        New-Check 'during: enough requests to judge (>= 30)' ($d.Requests -ge 30) "$($d.Requests) requests"
        New-Check 'during: a fraction was reset, not all and not none (10%..55% for toxicity 0.3)' ($frac -ge 0.10 -and $frac -le 0.55) ('{0:P1} failed ({1}/{2}); errors: {3}' -f $frac, $failed, $d.Requests, $d.Errors)
        New-Check 'during: the failures are resets' ($failed -gt 0 -and $resetKinds -eq $failed) "$resetKinds of $failed"
        New-Check 'recovery: >= 95% OK' ($run.Recovery.SuccessRate -ge 0.95) "$($run.Recovery.Ok)/$($run.Recovery.Requests) OK"
        New-Check 'fault removed (ledger)' ($run.FaultResult.RestoreOutcome -eq 'Restored') $run.FaultResult.RestoreOutcome
    )
    Write-ScenarioVerdict 'network-resets' $run $checks
} finally { Stop-NetworkScenario $s }
