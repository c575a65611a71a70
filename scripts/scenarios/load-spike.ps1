<#
.SYNOPSIS
    Spike test against the embedded target: 100 -> 2000 -> 100 -> 3000 virtual users, thresholds evaluated.
.PARAMETER Scale
    Multiplies every stage duration (1 = the seed's 10s/1m shape; 0.05 for CI).
.PARAMETER LoadScale
    Multiplies every virtual-user level.
.EXAMPLE
    ./load-spike.ps1 -ModulePath out/ChaosPS/0.1.0/ChaosPS.psd1 -Scale 0.1 -LoadScale 0.1
#>
param(
    [string] $ModulePath,
    [double] $Scale = 1,
    [double] $LoadScale = 1,
    [int] $Workers = 3,
    [string] $ReportPath
)
$ErrorActionPreference = 'Stop'
if ($ModulePath) { Import-Module $ModulePath -Force }
function D([double] $seconds) { '{0}ms' -f [math]::Max(500, [math]::Round($seconds * $Scale * 1000)) }
function V([double] $vus) { [math]::Max(1, [math]::Round($vus * $LoadScale)) }
$target = Start-ChaosTarget -Workers $Workers -TokenDelay 1ms -MaxConcurrency ([int](V 3000))
try {
    $stages = "$(D 10):$(V 100)", "$(D 60):$(V 100)", "$(D 10):$(V 2000)", "$(D 60):$(V 2000)", "$(D 10):$(V 100)", "$(D 60):$(V 100)", "$(D 10):$(V 3000)", "$(D 60):$(V 3000)", "$(D 10):0"
    $r = Start-LoadTest -Uri "$($target.RouterUri)v1/infer" -Method POST -Body @{ prompt = 'spike'; max_tokens = 4; stream = $false } `
        -Concurrency 0 -Stage $stages -Timeout 10s -ExpectStatus 200 -Name 'inference-spike' `
        -Threshold 'http_req_duration: p(95)<500', 'http_req_duration: p(99)<1000', 'http_req_failed: rate<0.01' -ErrorAction Continue   # the report still gets written
    if ($ReportPath) { $r | Export-LoadTestReport -Path $ReportPath }
    $r
}
finally { $target | Stop-ChaosTarget -Confirm:$false }
