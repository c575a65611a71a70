<#
.SYNOPSIS
    Scenario: a worker is killed by the kernel's OOM killer for real (Docker: its memory limit is lowered and memory is
    allocated in its cgroup; Process: the same in a child memory cgroup). Verdict: the kill was an OOM kill (exit 137),
    the original limit is back, nothing is left in the fault ledger, error rate < 1%, and the worker is back.
.EXAMPLE
    ./scripts/scenarios/worker-oom.ps1 -Runtime Docker
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
$v = New-ScenarioVerdict 'worker-oom' $Runtime
$target = $null; $load = $null
try {
    $target = Start-ChaosTarget -Workers $Workers -Runtime $Runtime
    $load = Start-ScenarioLoad -RouterUri $target.RouterUri -Concurrency 4
    Start-Sleep -Milliseconds (2000 * $Scale)
    $victim = $target.Workers | Get-ChaosTarget | Get-Random -Count 1 -SetSeed $Seed
    $oom = $victim | Invoke-WorkerOom -Confirm:$false -Timeout 60s
    $recovery = $oom | Wait-ChaosRecovery -Uri ([Uri]::new($target.RouterUri, '/health')) -Timeout 60s -ErrorAction Continue
    Start-Sleep -Milliseconds (2000 * $Scale)
    $v.Load = Stop-ScenarioLoad $load; $load = $null
    Add-ScenarioCheck $v 'the kernel OOM-killed the worker (exit 137)' ($oom.OomKilled -and $oom.ExitCode -eq 137) "OomKilled=$($oom.OomKilled) exit=$($oom.ExitCode) after $([int]$oom.TimeToKill.TotalMilliseconds) ms; limit $($oom.AppliedLimit) bytes, hog $($oom.HogBytes) bytes"
    Add-ScenarioCheck $v 'original memory limit restored' $oom.LimitRestored "original $($oom.OriginalLimit), now $($oom.RestoredLimit)"
    Add-ScenarioCheck $v 'fault ledger empty' (@(Get-ChaosFault -Id $oom.FaultId).Count -eq 0) "fault $($oom.FaultId)"
    Add-ScenarioCheck $v 'router error rate < 1%' ($v.Load.Requests -gt 0 -and $v.Load.ErrorRate -lt 0.01) ("{0} of {1} ({2:P2}) {3}" -f $v.Load.Errors, $v.Load.Requests, $v.Load.ErrorRate, ($v.Load.SampleErrors -join '; '))
    Set-ScenarioRecovery $v $recovery
} catch {
    $v.Error = "$_"
} finally {
    if ($load) { $v.Load = Stop-ScenarioLoad $load }
    if ($target) { Stop-ChaosTarget $target }
}
exit (Complete-ScenarioVerdict $v $VerdictPath)
