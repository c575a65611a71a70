<#
.SYNOPSIS
    Scenario: a worker is killed, and its replacement is killed again while it is still starting up (before it
    registers as healthy). Verdict: the router never sends traffic to the half-started worker (error rate < 1%), the
    supervisor keeps restarting it (with back-off), and it finally comes back healthy.
.EXAMPLE
    ./scripts/scenarios/worker-crash-during-startup.ps1 -Runtime Docker
#>
param(
    [string] $ModulePath = (Get-ChildItem "$PSScriptRoot/../../out/ChaosPS/*/ChaosPS.psd1" | Select-Object -First 1).FullName,
    [ValidateSet('Process', 'Docker')] [string] $Runtime = 'Process',
    [int] $Workers = 4,
    # Scales the load phases (1 = 2 s of steady load before and after the fault).
    [double] $Scale = 1,
    [int] $Seed = 7,
    [string] $VerdictPath
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
Import-Module "$PSScriptRoot/WorkerScenario.psm1" -Force
$v = New-ScenarioVerdict 'worker-crash-during-startup' $Runtime
$target = $null; $load = $null
try {
    # Workers take 3 s from start to healthy: the window in which the second crash lands.
    $target = Start-ChaosTarget -Workers $Workers -Runtime $Runtime -StartupDelay 3s
    $load = Start-ScenarioLoad -RouterUri $target.RouterUri -Concurrency 4
    Start-Sleep -Milliseconds (2000 * $Scale)
    $victim = $target.Workers | Get-ChaosTarget | Get-Random -Count 1 -SetSeed $Seed
    $first = $victim | Invoke-WorkerCrash -Signal KILL -Confirm:$false
    # Find the replacement as soon as the supervisor starts it, and kill it before it is ready.
    $sw = [Diagnostics.Stopwatch]::StartNew(); $replacement = $null
    while (-not $replacement -and $sw.Elapsed.TotalSeconds -lt 30) {
        $w = $target.Refresh().Workers | Where-Object { $_.Id -eq $victim.WorkerId -and $_.ProcessId -gt 0 -and $_.ProcessId -ne $victim.ProcessId }
        if ($w) { $replacement = $w | Get-ChaosTarget -ErrorAction SilentlyContinue } else { Start-Sleep -Milliseconds 50 }
    }
    if (-not $replacement) { throw "the supervisor did not restart $($victim.WorkerId) within 30 s" }
    $healthyBefore = try { (Invoke-WebRequest ([Uri]::new([Uri]$victim.Uri, '/health')) -SkipHttpErrorCheck -TimeoutSec 2).StatusCode } catch { 0 }
    $second = $replacement | Invoke-WorkerCrash -Signal KILL -Confirm:$false
    $recovery = $second | Wait-ChaosRecovery -Uri ([Uri]::new($target.RouterUri, '/health')) -Timeout 90s -ErrorAction Continue
    Start-Sleep -Milliseconds (2000 * $Scale)
    $v.Load = Stop-ScenarioLoad $load; $load = $null
    Add-ScenarioCheck $v 'first crash (running worker)' ($first.ObservedState -eq 'exited') "$($victim.WorkerId) pid $($victim.ProcessId): $($first.ObservedState)"
    Add-ScenarioCheck $v 'second crash landed during start-up (worker not yet healthy)' ($second.ObservedState -eq 'exited' -and $healthyBefore -ne 200) "replacement pid $($replacement.ProcessId) killed while /health answered $healthyBefore; $($second.ObservedState)"
    Add-ScenarioCheck $v 'router error rate < 1% (no traffic to the half-started worker)' ($v.Load.Requests -gt 0 -and $v.Load.ErrorRate -lt 0.01) ("{0} of {1} ({2:P2}) {3}" -f $v.Load.Errors, $v.Load.Requests, $v.Load.ErrorRate, ($v.Load.SampleErrors -join '; '))
    Set-ScenarioRecovery $v $recovery
    $v.Details.Restarts = ($target.Refresh().Workers | Where-Object Id -eq $victim.WorkerId).Restarts
} catch {
    $v.Error = "$_"
} finally {
    if ($load) { $v.Load = Stop-ScenarioLoad $load }
    if ($target) { Stop-ChaosTarget $target }
}
exit (Complete-ScenarioVerdict $v $VerdictPath)
