<# Combined CPU + memory: memory to -MemoryPercent (job) while every core runs at 100%, router probed. #>
param([string] $ModulePath = "$PSScriptRoot/../../out/ChaosPS/0.1.0/ChaosPS.psd1", [int] $Scale = 15, [double] $MemoryPercent = 80)
Import-Module "$PSScriptRoot/stress-helpers.psm1" -Force
$m = $MemoryPercent
exit (Invoke-StressScenario -Name 'stress-combined' -ModulePath $ModulePath -Seconds $Scale -Stress ({
    param($t, $s)
    $job = Invoke-MemoryExhaustion -Percent $m -Mode Reach -Duration "$($s)s" -AsJob -Force -Confirm:$false
    Invoke-CpuExhaustion -Percent 100 -Duration "$($s)s" -Confirm:$false
    Receive-Job $job -Wait -AutoRemoveJob -ErrorAction Stop
}.GetNewClosure()))
