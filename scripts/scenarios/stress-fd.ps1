<# File descriptors: worker 0's descriptor limit is lowered to what it has open (no headroom) while the router is
   probed; the router must route around it (or shed), and worker 0 must serve again once the limit is restored. #>
param([string] $ModulePath = "$PSScriptRoot/../../out/ChaosPS/0.1.0/ChaosPS.psd1", [int] $Scale = 10)
Import-Module "$PSScriptRoot/stress-helpers.psm1" -Force
exit (Invoke-StressScenario -Name 'stress-fd' -ModulePath $ModulePath -Seconds $Scale -Stress ({
    param($t, $s)
    Invoke-FileDescriptorExhaustion -ProcessId $t.Workers[0].ProcessId -Count 0 -Duration "$($s)s" -Confirm:$false
    Invoke-FileDescriptorExhaustion -Count 5000 -Duration '3s' -Confirm:$false
}))
