<#
.SYNOPSIS
    Throttles the router's answers to 10 KB/s per connection (bandwidth toxic, downstream, 1 KB = 1000 B) while load
    asks for ~6 KB answers. The verdict checks the transfer rate clients measured.
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
$s = Start-NetworkScenario -ModulePath $ModulePath -Workers $Workers -Name bandwidth -TokenDelay ([TimeSpan]::Zero)
try {
    $run = Invoke-NetworkScenario -Scenario $s -Fault @{ Type = 'Bandwidth'; RateKBps = 10; Stream = 'Downstream' } `
        -BaselineSeconds $base -FaultSeconds $faultS -RecoverySeconds $rec -TimeoutSec 10 -MaxTokens 1000
    function Rate($phase) { $r = @($phase.Records | Where-Object Status -eq 200 | ForEach-Object { ($_.Bytes + 150) / $_.Ms } | Sort-Object); if ($r.Count) { $r[[int]($r.Count / 2)] } else { [double]::NaN } }  # KB/s (= B/ms); +150 B of headers
    $b = $run.Baseline; $d = $run.During
    # Answers that finished while the throttle held (removing it releases the rest at full speed).
    $inside = @($d.Records | Where-Object { $_.Status -eq 200 -and ($_.At + $_.Ms / 1000) -lt $run.FaultEnd - 0.05 })
    $slow = @($inside | Where-Object { $_.Ms -ge 0.9 * $_.Bytes / 10 })
    $checks = @(
        New-Check 'baseline healthy (>= 95% OK)' ($b.SuccessRate -ge 0.95) ('{0}/{1} OK, median {2:0.0} KB/s' -f $b.Ok, $b.Requests, (Rate $b))
        New-Check 'during: answers still arrive whole (>= 95% OK)' ($d.SuccessRate -ge 0.95) "$($d.Ok)/$($d.Requests) OK"
        New-Check 'during: median rate <= 10.5 KB/s per connection' ((Rate $d) -le 10.5) ('median {0:0.00} KB/s' -f (Rate $d))
        New-Check 'during: every answer took at least its size / 10 KB/s' ($inside.Count -gt 0 -and $slow.Count -eq $inside.Count) "$($slow.Count)/$($inside.Count) answers completed under the throttle"
        New-Check 'the throttle made the difference (baseline median > 20 KB/s)' ((Rate $b) -gt 20) ('baseline {0:0.0} KB/s' -f (Rate $b))
        New-Check 'fault removed (ledger)' ($run.FaultResult.RestoreOutcome -eq 'Restored') $run.FaultResult.RestoreOutcome
    )
    Write-ScenarioVerdict 'network-bandwidth' $run $checks
} finally { Stop-NetworkScenario $s }
