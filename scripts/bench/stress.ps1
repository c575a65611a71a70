<#
.SYNOPSIS
    Stressors side by side with stress-ng: CPU accuracy at 25/50/75%, memory reach time and hold accuracy at 90%,
    disk fill rate on a loop-mounted ext4 image (never the root filesystem). Run once; the machine is shared.
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench stress
#>
param(
    [string] $ModulePath = "$PSScriptRoot/../../out/ChaosPS/0.1.0/ChaosPS.psd1",
    [int] $CpuSeconds = 8,
    [int] $MemorySeconds = 10,
    [double] $MemoryPercent = 90,
    [long] $DiskFillBytes = 10GB,
    [string] $OutFile = "$PSScriptRoot/../../out/bench/stress.json"
)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath -Force
if (-not (Get-Command stress-ng -ErrorAction SilentlyContinue)) { apt-get install -y -qq stress-ng | Out-Null }
$env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-$PID"
$report = [ordered]@{ Machine = "$(nproc) CPUs, $([math]::Round((Get-Content /proc/meminfo -First 1).Split(' ',[StringSplitOptions]::RemoveEmptyEntries)[1]/1MB,1)) GiB"; StressNg = (stress-ng --version) }

function Get-UsedPercent {
    $m = Get-Content /proc/meminfo
    $t = [double](($m -match '^MemTotal:')[0] -split '\s+')[1]; $a = [double](($m -match '^MemAvailable:')[0] -split '\s+')[1]
    100 * ($t - $a) / $t
}

# --- CPU: one core at P%; ChaosPS measures its stressor's CPU time, stress-ng is measured by bash's `time` (user+sys of it and its workers).
$cpu = foreach ($p in 25, 50, 75) {
    $load = (Get-Content /proc/loadavg).Split(' ')[0]
    $r = Invoke-CpuExhaustion -Percent $p -Cores 1 -Duration "$($CpuSeconds)s" -Confirm:$false
    $t = bash -c "TIMEFORMAT='%U %S %R'; { time stress-ng --cpu 1 --cpu-load $p --timeout $($CpuSeconds)s --quiet >/dev/null 2>&1 ; } 2>&1" | Select-Object -Last 1
    $u, $s, $real = $t -split ' ' | ForEach-Object { [double]$_ }
    $ng = 100 * ($u + $s) / $real
    [pscustomobject]@{ TargetPercent = $p; ChaosPS = [math]::Round($r.Reached, 2); ChaosPSDelta = [math]::Round($r.Reached - $p, 2)
        StressNg = [math]::Round($ng, 2); StressNgDelta = [math]::Round($ng - $p, 2); HostCpuPercentDuringChaosPS = $r.Details['HostCpuPercent']; LoadAvg1mBefore = $load }
}
$report.Cpu = $cpu
$cpu | Format-Table | Out-String | Write-Host

# --- Memory: Reach 90% of total. stress-ng --vm-bytes 90% is 90% of *available* memory, so its level differs: both are sampled from /proc/meminfo.
$base = Get-UsedPercent
$r = Invoke-MemoryExhaustion -Percent $MemoryPercent -Mode Reach -Duration "$($MemorySeconds)s" -Force -Confirm:$false
$held = @($r.Samples | Where-Object { $null -ne $r.TimeToReach -and $_.Elapsed -ge $r.TimeToReach } | ForEach-Object Value)
$mem = [ordered]@{
    BaselineUsedPercent = [math]::Round($base, 2); TargetPercent = $MemoryPercent
    ChaosPSTimeToReachSeconds = if ($r.TimeToReach) { [math]::Round($r.TimeToReach.TotalSeconds, 2) } else { $null }
    ChaosPSHeldMean = $r.Reached; ChaosPSHeldMin = $r.Minimum; ChaosPSHeldMax = $r.Peak
    ChaosPSMaxDeviation = if ($held) { [math]::Round((($held | ForEach-Object { [math]::Abs($_ - $MemoryPercent) }) | Measure-Object -Maximum).Maximum, 2) } else { $null }
    ChaosPSRssPeakGB = [math]::Round($r.Details['StressorRssPeakBytes'] / 1GB, 2)
}
Start-Sleep 2
$ngBase = Get-UsedPercent
$ngTarget = $ngBase + (100 - $ngBase) * 0.9
$proc = Start-Process stress-ng -ArgumentList '--vm', '1', '--vm-bytes', '90%', '--vm-keep', '--timeout', "$($MemorySeconds)s", '--quiet' -PassThru
$sw = [Diagnostics.Stopwatch]::StartNew(); $samples = @(); $reachAt = $null
while (-not $proc.HasExited) {
    $u = Get-UsedPercent; $samples += [pscustomobject]@{ T = $sw.Elapsed.TotalSeconds; U = $u }
    if (-not $reachAt -and $u -ge $ngTarget - 2) { $reachAt = $sw.Elapsed.TotalSeconds }
    Start-Sleep -Milliseconds 250
}
$ngHeld = @($samples | Where-Object { $reachAt -and $_.T -ge $reachAt -and $_.T -le $MemorySeconds - 0.5 } | ForEach-Object U)
$mem.StressNgTargetPercent = [math]::Round($ngTarget, 2)
$mem.StressNgPeakUsedPercent = if ($samples) { [math]::Round(($samples.U | Measure-Object -Maximum).Maximum, 2) } else { $null }
$mem.StressNgTimeToReachSeconds = if ($reachAt) { [math]::Round($reachAt, 2) } else { $null }
$mem.StressNgHeldMin = if ($ngHeld) { [math]::Round(($ngHeld | Measure-Object -Minimum).Minimum, 2) } else { $null }
$mem.StressNgHeldMax = if ($ngHeld) { [math]::Round(($ngHeld | Measure-Object -Maximum).Maximum, 2) } else { $null }
$report.Memory = [pscustomobject]$mem
$report.Memory | Format-List | Out-String | Write-Host

# --- Disk: a sparse 12 GB ext4 image, loop-mounted (never the root filesystem); fill 10 GB.
$img = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-$PID.img"; $mnt = "$img.mnt"
try {
    truncate -s 12G $img; mkfs.ext4 -q -F $img | Out-Null; New-Item -ItemType Directory $mnt | Out-Null
    mount -o loop $img $mnt
    $df = (df -B1 --output=avail $mnt | Select-Object -Last 1).Trim()
    $leave = [long]$df - $DiskFillBytes
    $d = Invoke-DiskExhaustion -Path $mnt -LeaveFree $leave -Duration 2s -Confirm:$false
    $sw = [Diagnostics.Stopwatch]::StartNew(); fallocate -l $DiskFillBytes "$mnt/ref.bin"; $ref = $sw.Elapsed.TotalSeconds; Remove-Item "$mnt/ref.bin"
    $t = bash -c "TIMEFORMAT='%R'; { time stress-ng --fallocate 1 --fallocate-bytes $DiskFillBytes --fallocate-ops 1 --temp-path '$mnt' --quiet >/dev/null 2>&1 ; } 2>&1" | Select-Object -Last 1
    $report.Disk = [pscustomobject]@{
        FillGB = [math]::Round($d.Details['FillBytes'] / 1GB, 2); Method = $d.Details['FillMethod']
        ChaosPSFillSeconds = $d.Details['FillSeconds']; ChaosPSFillRateMBps = $d.Details['FillRateMBps']
        FallocateCliSeconds = [math]::Round($ref, 3); StressNgFallocateOneOpSeconds = [double]$t
        FillFileRemoved = $d.Details['FillFileRemoved']
    }
    $report.Disk | Format-List | Out-String | Write-Host
}
finally {
    if (Test-Path $mnt) { umount $mnt 2>$null; Remove-Item $mnt -Force -Recurse -ErrorAction SilentlyContinue }
    Remove-Item $img -Force -ErrorAction SilentlyContinue
}
$report.Vram = try { Get-GpuInfo -ErrorAction Stop | Out-Null; 'GPU present: run scripts/gpu (chaosps-gpucheck) for the VRAM figures' } catch { "skipped: $($_.Exception.Message)" }
New-Item -ItemType Directory -Force (Split-Path $OutFile) | Out-Null
$report | ConvertTo-Json -Depth 5 | Set-Content $OutFile
Write-Host "Written $OutFile"
