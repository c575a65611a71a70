<#
    Demo part: worker chaos. Half the workers are SIGKILLed at once while requests keep flowing; Wait-ChaosRecovery
    measures how long the system took to notice and to recover; Suspend-ChaosTarget hangs one worker for 2 s (ledgered).
#>
param($Target, [string] $OutDir)
$crashes = $Target.Workers | Get-ChaosTarget -Percent 50 -Seed 7 | Invoke-WorkerCrash -Signal KILL -Confirm:$false
$crashes | Format-Table | Out-Host
$during = Invoke-ChaosInference -Uri $Target.RouterUri -Count 6 -Concurrency 3 -MaxTokens 2
Write-Host ("requests right after the crash: {0}/{1} answered 200" -f @($during | Where-Object StatusCode -eq 200).Count, $during.Count)
$recovery = $crashes | Wait-ChaosRecovery -Uri "$($Target.RouterUri)health" -Timeout 60s
$recovery | Format-List | Out-Host
$null = $Target.Refresh()
$Target.Workers[-1] | Get-ChaosTarget | Suspend-ChaosTarget -Duration 2s -Confirm:$false | Format-Table | Out-Host
Write-Host ("faults in the ledger afterwards: {0}" -f @(Get-ChaosFault).Count)
