<#
    Demo part: stress. CPU held at 50% on one core for 4 s while Test-GracefulDegradation probes the router and
    judges whether it stayed up (statuses, hangs, error rate, recovery).
#>
param($Target, [string] $OutDir)
$verdict = Test-GracefulDegradation -Uri "$($Target.RouterUri)health" -Confirm:$false -Stress {
    Invoke-CpuExhaustion -Percent 50 -Cores 1 -Duration 4s -Confirm:$false
}
$verdict | Format-List | Out-Host
