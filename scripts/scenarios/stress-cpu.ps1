<# CPU saturation of the router's host: every core at -Percent (default 100) while the router is probed.
   Graceful = only 200/429/503, no hangs, error rate within 5%, healthy again within 30 s. #>
param([string] $ModulePath = "$PSScriptRoot/../../out/ChaosPS/0.1.0/ChaosPS.psd1", [int] $Scale = 15, [double] $Percent = 100)
Import-Module "$PSScriptRoot/stress-helpers.psm1" -Force
$p = $Percent
exit (Invoke-StressScenario -Name 'stress-cpu' -ModulePath $ModulePath -Seconds $Scale -Stress ({
    param($t, $s) Invoke-CpuExhaustion -Percent $p -Duration "$($s)s" -Confirm:$false
}.GetNewClosure()))
