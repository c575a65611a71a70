<#
.SYNOPSIS
    The ChaosPS demo: starts the embedded testbed, exercises what the module can do, stops everything.
    Run it with `dotnet pwsh ./build.ps1 demo`. Each capability adds its own part below, guarded so the demo
    runs whatever is built.
#>
param([Parameter(Mandatory)] [string] $ModulePath)
$ErrorActionPreference = 'Stop'
$sw = [Diagnostics.Stopwatch]::StartNew()
$out = Join-Path (Split-Path (Split-Path (Split-Path $ModulePath))) 'demo'
New-Item -ItemType Directory -Force $out | Out-Null
if (-not $env:CHAOSPS_STATE_DIR) { $env:CHAOSPS_STATE_DIR = Join-Path $out 'state' }

function Step([string] $text) { Write-Host "`n== $text" -ForegroundColor Cyan }

Step "Import-Module $ModulePath"
$t0 = [Diagnostics.Stopwatch]::StartNew()
Import-Module $ModulePath
Write-Host ("imported in {0} ms: {1} cmdlets" -f $t0.ElapsedMilliseconds, (Get-Command -Module ChaosPS).Count)
$engine = Get-ChaosDockerEngine
Write-Host ("Docker: {0}" -f $(if ($engine.Reachable) { "engine $($engine.Version) at $($engine.Endpoint)" } else { "not reachable ($($engine.Error))" }))

$target = $null
try {
    Step 'Start-ChaosTestbed -Workers 3 -TokenDelay 10ms'
    $target = Start-ChaosTestbed -Workers 3 -TokenDelay 10ms
    $target | Format-Table | Out-Host
    $target.Workers | Format-Table | Out-Host

    Step 'Real inference requests through the router (JSON), 3 at a time'
    $results = Invoke-ChaosInference -Uri $target.RouterUri -Count 6 -Concurrency 3 -MaxTokens 6
    $results | Format-Table | Out-Host

    Step 'The same as server-sent events'
    $target | Invoke-ChaosInference -Stream -MaxTokens 8 | Format-Table | Out-Host

    Step 'Kill worker w1 by hand (SIGKILL): the router routes around it, the supervisor brings it back'
    $victim = $target.Workers[0].ProcessId
    Stop-Process -Id $victim -Force
    $during = Invoke-ChaosInference -Uri $target.RouterUri -Count 6 -Concurrency 3 -MaxTokens 2
    Write-Host ("while w1 was down: {0}/{1} requests answered 200, {2} needed a retry" -f
        @($during | Where-Object StatusCode -eq 200).Count, $during.Count, @($during | Where-Object Attempts -gt 1).Count)
    $deadline = (Get-Date).AddSeconds(20)
    while ((Get-Date) -lt $deadline -and ($target.Refresh().Workers[0].ProcessId -in 0, $victim)) { Start-Sleep -Milliseconds 100 }
    $target.Workers | Format-Table | Out-Host

    # Later capabilities (worker chaos, load, network faults, stress) add their parts here.
    foreach ($part in Get-ChildItem (Join-Path $PSScriptRoot 'demo') -Filter *.ps1 -ErrorAction SilentlyContinue | Sort-Object Name) {
        Step $part.BaseName
        & $part.FullName -Target $target -OutDir $out
    }
}
finally {
    Step 'Stop-ChaosTestbed'
    if ($target) { Stop-ChaosTestbed $target }
    Write-Host ("active faults left: {0}" -f @(Get-ChaosFault).Count)
}
Write-Host ("`nDemo finished in {0:0.0}s. Outputs: {1}" -f $sw.Elapsed.TotalSeconds, $out) -ForegroundColor Green
