<#
.SYNOPSIS
    Scenario: a worker is SIGKILLed while it is generating (slow tokens, so every worker has requests in flight).
    Verdict: every request through the router got an answer (in-flight ones retried on another worker or failed
    cleanly with an HTTP status: no hang, no reset), error rate < 1%, and the worker is back.
.EXAMPLE
    ./scripts/scenarios/worker-crash-during-inference.ps1 -Runtime Process
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
$v = New-ScenarioVerdict 'worker-crash-during-inference' $Runtime
$target = $null; $load = $null
try {
    # 40 ms per token x 16 tokens: each request spends ~650 ms generating on its worker.
    $target = Start-ChaosTarget -Workers $Workers -Runtime $Runtime -TokenDelay 40ms
    $load = Start-ScenarioLoad -RouterUri $target.RouterUri -Concurrency 8 -MaxTokens 16
    Start-Sleep -Milliseconds (2000 * $Scale)
    $victim = $target.Workers | Get-ChaosTarget | Get-Random -Count 1 -SetSeed $Seed
    $inflight = (Invoke-RestMethod ([Uri]::new($target.RouterUri, '/workers')) -ErrorAction SilentlyContinue)
    $crashes = $victim | Invoke-WorkerCrash -Signal KILL -Confirm:$false
    $recovery = $crashes | Wait-ChaosRecovery -Uri ([Uri]::new($target.RouterUri, '/health')) -Timeout 60s -ErrorAction Continue
    Start-Sleep -Milliseconds (2000 * $Scale)
    $v.Load = Stop-ScenarioLoad $load; $load = $null
    $v.Details.Victim = $victim.WorkerId
    $v.Details.RouterWorkersBefore = $inflight
    Add-ScenarioCheck $v 'worker killed mid-generation' ($crashes.Count -eq 1 -and $crashes[0].ObservedState -eq 'exited') "$($victim.WorkerId): $($crashes.ObservedState)"
    Add-ScenarioCheck $v 'every request answered (no transport error, hang or reset)' ($v.Load.TransportErrors -eq 0) "$($v.Load.TransportErrors) transport errors of $($v.Load.Requests) requests; max latency $($v.Load.MaxMs) ms"
    Add-ScenarioCheck $v 'router error rate < 1% (in-flight requests retried elsewhere)' ($v.Load.Requests -gt 0 -and $v.Load.ErrorRate -lt 0.01) ("{0} of {1} ({2:P2}) {3}" -f $v.Load.Errors, $v.Load.Requests, $v.Load.ErrorRate, ($v.Load.SampleErrors -join '; '))
    Set-ScenarioRecovery $v $recovery
} catch {
    $v.Error = "$_"
} finally {
    if ($load) { $v.Load = Stop-ScenarioLoad $load }
    if ($target) { Stop-ChaosTarget $target }
}
exit (Complete-ScenarioVerdict $v $VerdictPath)
