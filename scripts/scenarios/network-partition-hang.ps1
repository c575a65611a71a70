<#
.SYNOPSIS
    Partition where connections HANG: the proxy accepts, but nothing gets through either way (toxiproxy's timeout
    toxic with timeout 0 on both streams). Clients see no error, only silence until their own timeout. Distinct from
    network-partition-refused.ps1, where clients get "connection refused" at once.
    Load runs through the proxy before, during and after; the verdict is measured from the requests.
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
$s = Start-NetworkScenario -ModulePath $ModulePath -Workers $Workers -Name hang
try {
    $run = Invoke-NetworkScenario -Scenario $s -Fault @{ Type = 'Timeout'; Timeout = [TimeSpan]::Zero; Stream = 'Both' } `
        -BaselineSeconds $base -FaultSeconds $faultS -RecoverySeconds $rec -TimeoutSec 1.5
    $d = $run.During
    $refused = [int]$d.ErrorCounts['Refused']
    # Hung = no answer and no error until the client gave up (its timeout) or until the partition was lifted
    # (removing the timeout toxic closes the connections it held, as in toxiproxy) - never an early failure.
    $hung = @($d.Records | Where-Object { $_.Status -eq 0 -and ($_.At + $_.Ms / 1000) -ge [math]::Min($_.At + 1.5, $run.FaultEnd) - 0.25 })
    $checks = @(
        New-Check 'baseline healthy (>= 95% OK)' ($run.Baseline.SuccessRate -ge 0.95) "$($run.Baseline.Ok)/$($run.Baseline.Requests) OK"
        New-Check 'during: requests hang - no answer, no early error (>= 80%)' ($d.Requests -gt 0 -and $hung.Count / $d.Requests -ge 0.8) "$($hung.Count)/$($d.Requests) hung until the client timeout or the end of the partition; errors: $($d.Errors)"
        New-Check 'during: nothing is refused (a hang, not a refusal)' ($refused -eq 0) "$refused refused"
        New-Check 'recovery: >= 95% OK after the fault is removed' ($run.Recovery.SuccessRate -ge 0.95) "$($run.Recovery.Ok)/$($run.Recovery.Requests) OK"
        New-Check 'fault removed (ledger)' ($run.FaultResult.RestoreOutcome -eq 'Restored') $run.FaultResult.RestoreOutcome
    )
    $verdict = Write-ScenarioVerdict 'network-partition-hang' $run $checks
    $verdict
} finally { Stop-NetworkScenario $s }
