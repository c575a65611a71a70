<#
.SYNOPSIS
    Inference load against the embedded target: ramp 100 -> 500 -> 1000 virtual users, hold, ramp down, with the
    seed's thresholds (p95 < 500 ms, p99 < 1000 ms, errors < 1%) actually evaluated.
.PARAMETER Scale
    Multiplies every stage duration (1 = 30s ramps and a 2-minute hold; 0.05 for CI).
.PARAMETER LoadScale
    Multiplies every virtual-user level (1 = 100/500/1000).
.EXAMPLE
    ./load-inference.ps1 -ModulePath out/ChaosPS/0.1.0/ChaosPS.psd1 -Scale 0.1
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
$target = Start-ChaosTarget -Workers $Workers -TokenDelay 1ms -MaxConcurrency ([int](V 1000))
try {
    $stages = "$(D 30):$(V 100)", "$(D 30):$(V 500)", "$(D 30):$(V 1000)", "$(D 120):$(V 1000)", "$(D 30):0"
    $r = Start-LoadTest -Uri "$($target.RouterUri)v1/infer" -Method POST -Body @{ prompt = 'Write a haiku about load testing'; max_tokens = 8; stream = $false } `
        -Concurrency 0 -Stage $stages -Timeout 10s -ExpectStatus 200 -Name 'inference-load' `
        -Threshold 'http_req_duration: p(95)<500', 'http_req_duration: p(99)<1000', 'http_req_failed: rate<0.01' -ErrorAction Continue   # the report still gets written
    if ($ReportPath) { $r | Export-LoadTestReport -Path $ReportPath }
    $r
}
finally { $target | Stop-ChaosTarget -Confirm:$false }
