<# Disk full on a worker: the workers' data folders live on a 64 MB tmpfs; it is filled completely, worker 0 is
   probed directly and must answer 507 while full, then 200 again once the fill file is removed. #>
param([string] $ModulePath = "$PSScriptRoot/../../out/ChaosPS/0.1.0/ChaosPS.psd1", [int] $Scale = 10)
Import-Module "$PSScriptRoot/stress-helpers.psm1" -Force
exit (Invoke-StressScenario -Name 'stress-disk' -ModulePath $ModulePath -Seconds $Scale -Probe worker0 -TmpfsSize 64m -ExpectStatus 507 -MaxErrorRate 0.05 -Stress ({
    param($t, $s) Invoke-DiskExhaustion -Path $t.Workers[0].DataPath -LeaveFree 0 -Duration "$($s)s" -Confirm:$false
}))
