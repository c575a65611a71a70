<#
.SYNOPSIS
    500 ± 100 ms latency on the router's answers (latency toxic, downstream). Load runs through the proxy before,
    during and after; the verdict checks the added latency that clients measured.
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
$s = Start-NetworkScenario -ModulePath $ModulePath -Workers $Workers -Name latency
try {
    $run = Invoke-NetworkScenario -Scenario $s -Fault @{ Type = 'Latency'; Latency = [TimeSpan]::FromMilliseconds(500); Jitter = [TimeSpan]::FromMilliseconds(100); Stream = 'Downstream' } `
        -BaselineSeconds $base -FaultSeconds $faultS -RecoverySeconds $rec -TimeoutSec 5
    $b = $run.Baseline; $d = $run.During
    $added = $d.P50Ms - $b.P50Ms
    # Requests that both started and finished while the fault held (removal releases held answers at once).
    $inside = @($d.Records | Where-Object { $_.Status -eq 200 -and ($_.At + $_.Ms / 1000) -lt $run.FaultEnd - 0.3 } | ForEach-Object Ms | Sort-Object)
    $minInside = if ($inside.Count) { $inside[0] } else { [double]::NaN }
    $checks = @(
        New-Check 'baseline healthy (>= 95% OK)' ($b.SuccessRate -ge 0.95) "$($b.Ok)/$($b.Requests) OK, p50 $([math]::Round($b.P50Ms,1)) ms"
        New-Check 'during: every request still answered (>= 95% OK)' ($d.SuccessRate -ge 0.95) "$($d.Ok)/$($d.Requests) OK"
        New-Check 'during: fastest answer >= 400 ms (500 - 100 jitter)' ($inside.Count -gt 0 -and $minInside -ge 395) ('min {0:0.0} ms over {1} answers' -f $minInside, $inside.Count)
        New-Check 'during: median added latency within 400..1000 ms (500 ± 100, generous upper bound)' ($added -ge 395 -and $added -le 1000) ('+{0:0.0} ms at p50 (p95 {1:0.0} ms)' -f $added, $d.P95Ms)
        New-Check 'recovery: latency back near baseline (p50 < baseline + 200 ms)' ($null -ne $run.Recovery.P50Ms -and $run.Recovery.SuccessRate -ge 0.95 -and $run.Recovery.P50Ms -lt $b.P50Ms + 200) ('p50 {0:0.0} ms' -f $run.Recovery.P50Ms)
        New-Check 'fault removed (ledger)' ($run.FaultResult.RestoreOutcome -eq 'Restored') $run.FaultResult.RestoreOutcome
    )
    Write-ScenarioVerdict 'network-latency' $run $checks
} finally { Stop-NetworkScenario $s }
