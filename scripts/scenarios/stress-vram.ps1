<# VRAM exhaustion when an NVIDIA GPU is present: 95% of GPU 0's free memory while the router is probed.
   Without a GPU it is skipped with the reason (exit 0). #>
param([string] $ModulePath = "$PSScriptRoot/../../out/ChaosPS/0.1.0/ChaosPS.psd1", [int] $Scale = 15)
Import-Module $ModulePath -Force
try { $gpu = Get-GpuInfo -ErrorAction Stop | Select-Object -First 1 }
catch { Write-Host "stress-vram skipped: $($_.Exception.Message) [$($_.CategoryInfo.Category)]"; exit 0 }
Import-Module "$PSScriptRoot/stress-helpers.psm1" -Force
exit (Invoke-StressScenario -Name 'stress-vram' -ModulePath $ModulePath -Seconds $Scale -Stress ({
    param($t, $s) Invoke-VramExhaustion -Device 0 -Percent 95 -Duration "$($s)s" -Confirm:$false
}))
