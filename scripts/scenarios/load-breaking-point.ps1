<#
.SYNOPSIS
    Stress to the breaking point: an open-model rate ramp in steps against the embedded target; ChaosPS reports the
    stage and rate at which the thresholds first failed (Result.BreakingPoint), instead of just "completed".
.PARAMETER Scale
    Multiplies every stage duration (1 = 30 s per step; 0.1 for CI).
.PARAMETER StartRate
    First step's rate (requests per second); each step adds StartRate.
.PARAMETER Steps
    Number of steps.
.EXAMPLE
    ./load-breaking-point.ps1 -ModulePath out/ChaosPS/0.1.0/ChaosPS.psd1 -Scale 0.1
#>
param(
    [string] $ModulePath,
    [double] $Scale = 1,
    [double] $StartRate = 200,
    [int] $Steps = 10,
    [int] $Workers = 2,
    [string] $ReportPath
)
$ErrorActionPreference = 'Stop'
if ($ModulePath) { Import-Module $ModulePath -Force }
function D([double] $seconds) { '{0}ms' -f [math]::Max(500, [math]::Round($seconds * $Scale * 1000)) }
# Workers that take 5 ms per token and serve at most 16 requests at once: capacity is finite, so the ramp breaks it.
$target = Start-ChaosTarget -Workers $Workers -TokenDelay 5ms -MaxConcurrency 16
try {
    $stages = foreach ($i in 1..$Steps) { "$(D 2):$($StartRate * $i)"; "$(D 28):$($StartRate * $i)" }
    $r = Start-LoadTest -Uri "$($target.RouterUri)v1/infer" -Method POST -Body @{ prompt = 'stress'; max_tokens = 4; stream = $false } `
        -Rate $StartRate -Stage $stages -Connections 256 -Timeout 5s -Name 'breaking-point' `
        -Threshold 'http_req_duration: p(95)<500', 'http_req_failed: rate<0.01' -ErrorAction SilentlyContinue   # a break is the point
    if ($ReportPath) { $r | Export-LoadTestReport -Path $ReportPath }
    [pscustomobject]@{
        BreakingPoint = if ($r.BreakingPoint) { $r.BreakingPoint } else { "no threshold failed up to $($StartRate * $Steps) req/s" }
        PeakAchieved  = ($r.TimeSeries | Measure-Object RequestsPerSecond -Maximum).Maximum
        Result        = $r
    }
}
finally { $target | Stop-ChaosTarget -Confirm:$false }
