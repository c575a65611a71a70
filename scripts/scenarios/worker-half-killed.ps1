<#
.SYNOPSIS
    Scenario: 50% of the workers are SIGKILLed at once under steady load. Verdict: the router's error rate stays under
    1% and every killed worker is back (new pid / restarted container) and answering.
.EXAMPLE
    ./scripts/scenarios/worker-half-killed.ps1 -ModulePath ./out/ChaosPS/0.1.0/ChaosPS.psd1 -Runtime Docker
#>
param(
    [string] $ModulePath = (Get-ChildItem "$PSScriptRoot/../../out/ChaosPS/*/ChaosPS.psd1" | Select-Object -First 1).FullName,
    [ValidateSet('Process', 'Docker')] [string] $Runtime = 'Process',
    [int] $Workers = 4,
    # Scales the load phases (1 = 4 s of steady load before and after the fault).
    [double] $Scale = 1,
    [int] $Seed = 7,
    [string] $VerdictPath
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
Import-Module "$PSScriptRoot/WorkerScenario.psm1" -Force
$v = New-ScenarioVerdict 'worker-half-killed' $Runtime
$target = $null; $load = $null
try {
    $target = Start-ChaosTarget -Workers $Workers -Runtime $Runtime
    $load = Start-ScenarioLoad -RouterUri $target.RouterUri -Concurrency 4
    Start-Sleep -Milliseconds (2000 * $Scale)
    $crashes = $target.Workers | Get-ChaosTarget | Invoke-WorkerCrash -Percent 50 -Seed $Seed -Signal KILL -Confirm:$false
    $recovery = $crashes | Wait-ChaosRecovery -Uri ([Uri]::new($target.RouterUri, '/health')) -Timeout 60s -ErrorAction Continue
    Start-Sleep -Milliseconds (2000 * $Scale)
    $v.Load = Stop-ScenarioLoad $load; $load = $null
    $expected = [math]::Ceiling($Workers / 2)
    Add-ScenarioCheck $v "$expected of $Workers workers killed at once" ($crashes.Count -eq $expected -and -not ($crashes | Where-Object ObservedState -notin 'exited', 'restarted')) `
        (($crashes | ForEach-Object { "$($_.WorkerId):$($_.ObservedState)" }) -join ', ')
    Set-ScenarioRecovery $v $recovery
    Add-ScenarioCheck $v 'router error rate < 1%' ($v.Load.Requests -gt 0 -and $v.Load.ErrorRate -lt 0.01) ("{0} of {1} ({2:P2}) {3}" -f $v.Load.Errors, $v.Load.Requests, $v.Load.ErrorRate, ($v.Load.SampleErrors -join '; '))
    $now = $target.Refresh()
    Add-ScenarioCheck $v 'all workers running again' (-not ($now.Workers | Where-Object State -ne 'running')) (($now.Workers | ForEach-Object { "$($_.Id):$($_.State)/restarts $($_.Restarts)" }) -join ', ')
} catch {
    $v.Error = "$_"
} finally {
    if ($load) { $v.Load = Stop-ScenarioLoad $load }
    if ($target) { Stop-ChaosTarget $target }
}
exit (Complete-ScenarioVerdict $v $VerdictPath)
