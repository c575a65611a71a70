<#
.SYNOPSIS
    A stall: for the fault's duration no answer bytes move (a latency toxic as long as the stall holds every chunk),
    then traffic resumes on the same connections, with nothing lost, as when a link freezes and comes back. Load runs
    through the proxy; the verdict checks that nothing completed during the stall, that the stalled requests completed
    right after it, and that none failed.
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
$s = Start-NetworkScenario -ModulePath $ModulePath -Workers $Workers -Name stall
try {
    $run = Invoke-NetworkScenario -Scenario $s -Fault @{ Type = 'Latency'; Latency = [TimeSpan]::FromSeconds($faultS + 30); Stream = 'Downstream' } `
        -BaselineSeconds $base -FaultSeconds $faultS -RecoverySeconds $rec -TimeoutSec ($faultS + 10) -KeepAlive
    $fs = $run.FaultStart; $fe = $run.FaultEnd
    $all = $run.Records
    # Requests in flight while the stall held: they must all finish (successfully) only once it ended.
    $stalled = @($all | Where-Object { $_.At -lt $fe - 0.3 -and ($_.At + $_.Ms / 1000) -gt $fs + 0.3 })
    $resumed = @($stalled | Where-Object { $_.Status -eq 200 -and ($_.At + $_.Ms / 1000) -ge $fe - 0.5 })
    $completedDuring = @($all | Where-Object { $_.Status -eq 200 -and ($_.At + $_.Ms / 1000) -gt $fs + 0.3 -and ($_.At + $_.Ms / 1000) -lt $fe - 0.5 })
    $failed = @($all | Where-Object Status -ne 200)
    $checks = @(
        New-Check 'baseline healthy (>= 95% OK)' ($run.Baseline.SuccessRate -ge 0.95) "$($run.Baseline.Ok)/$($run.Baseline.Requests) OK"
        New-Check 'during: no answer completes while stalled' ($completedDuring.Count -eq 0) "$($completedDuring.Count) completed inside the stall"
        New-Check 'stalled requests complete once it ends (same connections, nothing lost)' ($stalled.Count -gt 0 -and $resumed.Count -eq $stalled.Count) "$($resumed.Count)/$($stalled.Count) resumed"
        New-Check 'no request failed' ($failed.Count -eq 0) "$($failed.Count) failed"
        New-Check 'recovery: >= 95% OK' ($run.Recovery.SuccessRate -ge 0.95) "$($run.Recovery.Ok)/$($run.Recovery.Requests) OK, p50 $([math]::Round($run.Recovery.P50Ms,1)) ms"
        New-Check 'fault removed (ledger)' ($run.FaultResult.RestoreOutcome -eq 'Restored') $run.FaultResult.RestoreOutcome
    )
    Write-ScenarioVerdict 'network-stall' $run $checks
} finally { Stop-NetworkScenario $s }
