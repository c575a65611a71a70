<# Memory at -Percent (default 90%) of the host the workers run on (Reach mode: the stressor holds the level and keeps
   a floor free), while the router is probed. #>
param([string] $ModulePath = "$PSScriptRoot/../../out/ChaosPS/0.1.0/ChaosPS.psd1", [int] $Scale = 15, [double] $Percent = 90)
Import-Module "$PSScriptRoot/stress-helpers.psm1" -Force
$p = $Percent
exit (Invoke-StressScenario -Name 'stress-memory' -ModulePath $ModulePath -Seconds $Scale -Stress ({
    param($t, $s) Invoke-MemoryExhaustion -Percent $p -Mode Reach -Duration "$($s)s" -Force -Confirm:$false
}.GetNewClosure()))
