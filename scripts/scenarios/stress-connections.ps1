<# Connections: 1000 idle TCP connections held open against the router while its /health is probed. #>
param([string] $ModulePath = "$PSScriptRoot/../../out/ChaosPS/0.1.0/ChaosPS.psd1", [int] $Scale = 15, [int] $Count = 1000)
Import-Module "$PSScriptRoot/stress-helpers.psm1" -Force
$n = $Count
exit (Invoke-StressScenario -Name 'stress-connections' -ModulePath $ModulePath -Seconds $Scale -Probe health -Stress ({
    param($t, $s) Invoke-ConnectionExhaustion -Uri $t.RouterUri -Count $n -Duration "$($s)s" -Confirm:$false
}.GetNewClosure()))
