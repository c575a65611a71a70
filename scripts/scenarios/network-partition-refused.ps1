<#
.SYNOPSIS
    Partition where connections are REFUSED: the proxy stops listening (ChaosPS's RefuseConnect fault), so every new
    connection fails at once with ECONNREFUSED, as when a host is up but the service is not. Distinct from
    network-partition-hang.ps1. Load runs through the proxy before, during and after; the verdict is measured.
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
$s = Start-NetworkScenario -ModulePath $ModulePath -Workers $Workers -Name refused
try {
    $run = Invoke-NetworkScenario -Scenario $s -Fault @{ Type = 'RefuseConnect' } -BaselineSeconds $base -FaultSeconds $faultS -RecoverySeconds $rec -TimeoutSec 1.5
    $d = $run.During
    $refused = [int]$d.ErrorCounts['Refused']
    $failMs = @($d.Records | Where-Object Error -eq 'Refused' | ForEach-Object Ms | Sort-Object)
    $p50 = if ($failMs.Count) { $failMs[[int]($failMs.Count / 2)] } else { [double]::NaN }
    $checks = @(
        New-Check 'baseline healthy (>= 95% OK)' ($run.Baseline.SuccessRate -ge 0.95) "$($run.Baseline.Ok)/$($run.Baseline.Requests) OK"
        New-Check 'during: connections are refused (>= 80% ECONNREFUSED)' ($d.Requests -gt 0 -and $refused / $d.Requests -ge 0.8) "$refused/$($d.Requests) refused; errors: $($d.Errors)"
        New-Check 'during: refusals are fast (median < 500 ms, not a hang)' ($p50 -lt 500) ('median {0:0.0} ms' -f $p50)
        New-Check 'recovery: >= 95% OK after the fault is removed' ($run.Recovery.SuccessRate -ge 0.95) "$($run.Recovery.Ok)/$($run.Recovery.Requests) OK"
        New-Check 'fault removed (ledger)' ($run.FaultResult.RestoreOutcome -eq 'Restored') $run.FaultResult.RestoreOutcome
    )
    Write-ScenarioVerdict 'network-partition-refused' $run $checks
} finally { Stop-NetworkScenario $s }
