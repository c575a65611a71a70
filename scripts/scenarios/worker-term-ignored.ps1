<#
.SYNOPSIS
    Scenario: workers ignore SIGTERM; Invoke-WorkerCrash sends TERM, waits the grace period, then SIGKILLs.
    Verdict: the worker outlived the grace period and was force-killed after it (not before), error rate < 1%, and the
    worker is back.
.EXAMPLE
    ./scripts/scenarios/worker-term-ignored.ps1 -Runtime Docker
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
$grace = [TimeSpan]::FromSeconds(2)
$v = New-ScenarioVerdict 'worker-term-ignored' $Runtime
$target = $null; $load = $null
try {
    $target = Start-ChaosTarget -Workers $Workers -Runtime $Runtime -IgnoreTerm
    $load = Start-ScenarioLoad -RouterUri $target.RouterUri -Concurrency 4
    Start-Sleep -Milliseconds (2000 * $Scale)
    $victim = $target.Workers | Get-ChaosTarget | Get-Random -Count 1 -SetSeed $Seed
    # The same crash for a process and a container (TERM to its main process from the host, then SIGKILL).
    $crash = $victim | Invoke-WorkerCrash -Signal TERM -GracePeriod $grace -Confirm:$false
    $recovery = $crash | Wait-ChaosRecovery -Uri ([Uri]::new($target.RouterUri, '/health')) -Timeout 60s -ErrorAction Continue
    Start-Sleep -Milliseconds (2000 * $Scale)
    $v.Load = Stop-ScenarioLoad $load; $load = $null
    Add-ScenarioCheck $v 'TERM ignored, force-killed after the grace period' ($crash.ForcedKill -and $crash.TimeToExit -ge $grace.Subtract([TimeSpan]::FromMilliseconds(100))) "ForcedKill=$($crash.ForcedKill), exited $([int]$crash.TimeToExit.TotalMilliseconds) ms after TERM (grace $([int]$grace.TotalMilliseconds) ms), exit code $($crash.ExitCode)"
    Add-ScenarioCheck $v 'router error rate < 1%' ($v.Load.Requests -gt 0 -and $v.Load.ErrorRate -lt 0.01) ("{0} of {1} ({2:P2}) {3}" -f $v.Load.Errors, $v.Load.Requests, $v.Load.ErrorRate, ($v.Load.SampleErrors -join '; '))
    Set-ScenarioRecovery $v $recovery
} catch {
    $v.Error = "$_"
} finally {
    if ($load) { $v.Load = Stop-ScenarioLoad $load }
    if ($target) { Stop-ChaosTarget $target }
}
exit (Complete-ScenarioVerdict $v $VerdictPath)
