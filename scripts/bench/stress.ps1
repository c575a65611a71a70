<#
.SYNOPSIS
    Stressors side by side with their anchors, measured by the bench itself (never by the stressor):
    CPU accuracy at 25/50/75/100 % (ChaosPS vs stress-ng --cpu-load, both from /proc/<pid>/stat utime+stime over wall
    time, and /proc/stat); memory fill rate (ChaosPS vs a C MAP_POPULATE loop compiled here vs stress-ng --vm
    --vm-populate); memory hold accuracy (/proc/meminfo sampled by the bench); disk fill rate on a loop-mounted ext4
    image (never the root filesystem). Rounds are interleaved (the order alternates) and medians reported; the figures
    are printed and written as JSON. The machine may be shared: the load average is recorded with every round.
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench stress
#>
param(
    [string] $ModulePath = "$PSScriptRoot/../../out/ChaosPS/0.1.0/ChaosPS.psd1",
    # A list (-CpuPercents 25,100); under pwsh -File it arrives as one string, split here.
    [string[]] $CpuPercents = @('25', '50', '75', '100'),
    [int] $CpuSeconds = 8,
    [int] $CpuRounds = 3,
    [double] $FillGB = 2,
    [int] $FillRounds = 5,
    [double] $HoldPercent = 60,
    [int] $HoldSeconds = 10,
    # Sampling period of the hold (ms): /proc/meminfo and the stressor's own RssAnon, side by side.
    [int] $HoldSampleMs = 100,
    # Run only the memory hold part.
    [switch] $HoldOnly,
    # Other memory on the host moving during the hold: after a third of it, a stress-ng --vm process takes this many MB
    # for a third of it and lets go (0: none). Shows how fast the hold answers other processes' swings.
    [int] $HoldDisturbMB = 0,
    [long] $DiskFillBytes = 10GB,
    [switch] $SkipDisk,
    [string] $OutFile = "$PSScriptRoot/../../out/bench/stress.json"
)
$ErrorActionPreference = 'Stop'
$cpuTargets = @($CpuPercents | ForEach-Object { "$_" -split '[,\s]+' } | Where-Object { $_ } | ForEach-Object { [int]$_ })
Import-Module $ModulePath -Force
foreach ($tool in 'stress-ng', 'cc') {
    if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) { apt-get install -y -qq ($tool -eq 'cc' ? 'gcc' : $tool) | Out-Null }
}
$env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-$PID"
$outDir = New-Item -ItemType Directory -Force (Split-Path $OutFile)
$ticksPerSec = 100
$report = [ordered]@{
    Machine = "$(nproc) CPUs, $([math]::Round((Get-Content /proc/meminfo -First 1).Split(' ',[StringSplitOptions]::RemoveEmptyEntries)[1]/1MB,1)) GiB, kernel $(uname -r)"
    StressNg = (stress-ng --version); Started = (Get-Date).ToUniversalTime().ToString('o'); LoadAvgAtStart = (Get-Content /proc/loadavg)
}
function Median([object[]] $v) { $v = @($v | Where-Object { $null -ne $_ } | ForEach-Object { [double]$_ }); if (-not $v) { return $null }; $s = $v | Sort-Object; $n = $s.Count; [math]::Round(($n % 2) ? $s[($n - 1) / 2] : ($s[$n / 2 - 1] + $s[$n / 2]) / 2, 3) }
function LoadAvg { [double](Get-Content /proc/loadavg).Split(' ')[0] }

function Find-Stressor([string] $Role) {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    while ($sw.Elapsed.TotalSeconds -lt 30) {
        foreach ($d in [IO.Directory]::GetDirectories('/proc')) {
            $n = Split-Path -Leaf $d
            if ($n -notmatch '^\d+$') { continue }
            try { $cl = [IO.File]::ReadAllText("$d/cmdline").Split([char]0) } catch { continue }
            $i = [array]::IndexOf($cl, '--owner')
            if ($cl -contains $Role -and $i -ge 0 -and $cl[$i + 1] -eq "$PID") { return [int]$n }
        }
        Start-Sleep -Milliseconds 50
    }
    throw "no $Role stressor appeared"
}
if (-not $HoldOnly) {
# ---------------------------------------------------------------- CPU
# utime+stime of a process and all its descendants (stress-ng forks its workers), in clock ticks.
function Get-TreeTicks([int] $Root) {
    $sum = 0L; $todo = [Collections.Generic.Stack[int]]::new(); $todo.Push($Root)
    while ($todo.Count) {
        $p = $todo.Pop()
        try { $s = [IO.File]::ReadAllText("/proc/$p/stat") } catch { continue }
        $f = $s.Substring($s.LastIndexOf(')') + 2).Split(' ')
        $sum += [long]$f[11] + [long]$f[12]
        foreach ($t in (Get-ChildItem "/proc/$p/task" -ErrorAction SilentlyContinue)) {
            try { foreach ($c in ([IO.File]::ReadAllText("$($t.FullName)/children").Split(' ', [StringSplitOptions]::RemoveEmptyEntries))) { $todo.Push([int]$c) } } catch { }
        }
    }
    $sum
}
function Get-HostCpu { $f = (Get-Content /proc/stat -First 1).Split(' ', [StringSplitOptions]::RemoveEmptyEntries); $v = $f[1..8] | ForEach-Object { [long]$_ }; [pscustomobject]@{ Busy = ($v | Measure-Object -Sum).Sum - $v[3] - $v[4]; Total = ($v | Measure-Object -Sum).Sum } }
# Measures a running stressor from outside: settle, then utime+stime over wall time for the window; /proc/stat alongside.
function Measure-Cpu([int] $Root, [double] $Settle, [double] $Window) {
    Start-Sleep -Milliseconds ([int]($Settle * 1000))
    $h0 = Get-HostCpu; $t0 = Get-TreeTicks $Root; $sw = [Diagnostics.Stopwatch]::StartNew()
    Start-Sleep -Milliseconds ([int]($Window * 1000))
    $t1 = Get-TreeTicks $Root; $secs = $sw.Elapsed.TotalSeconds; $h1 = Get-HostCpu
    [pscustomobject]@{
        ProcessPercent = 100.0 * ($t1 - $t0) / $ticksPerSec / $secs
        HostBusyPercent = 100.0 * ($h1.Busy - $h0.Busy) / [math]::Max(1, $h1.Total - $h0.Total)
    }
}
$window = [math]::Max(2, $CpuSeconds - 3)
$cpuRows = foreach ($p in $cpuTargets) {
    $rounds = foreach ($round in 1..$CpuRounds) {
        $order = ($round % 2) ? @('ChaosPS', 'StressNg') : @('StressNg', 'ChaosPS')
        $row = [ordered]@{ Round = $round; LoadAvg = LoadAvg }
        foreach ($who in $order) {
            if ($who -eq 'ChaosPS') {
                $job = Invoke-CpuExhaustion -Percent $p -Cores 1 -Duration "$($CpuSeconds)s" -AsJob -Confirm:$false
                $m = Measure-Cpu (Find-Stressor 'cpu-hog') 1.5 $window
                $r = $job | Wait-Job | Receive-Job; $job | Remove-Job
                $row.ChaosPS = $m.ProcessPercent; $row.ChaosPSHost = $m.HostBusyPercent; $row.ChaosPSReached = $r.Reached
            }
            else {
                $ng = Start-Process stress-ng -ArgumentList '--cpu', '1', '--cpu-load', $p, '--timeout', "$($CpuSeconds)s", '--quiet' -PassThru
                $m = Measure-Cpu $ng.Id 1.5 $window
                $ng.WaitForExit()
                $row.StressNg = $m.ProcessPercent; $row.StressNgHost = $m.HostBusyPercent
            }
        }
        [pscustomobject]$row
    }
    $c = Median $rounds.ChaosPS; $n = Median $rounds.StressNg
    [pscustomobject]@{
        TargetPercent = $p; ChaosPS = $c; ChaosPSDelta = [math]::Round($c - $p, 2); ChaosPSReachedByCmdlet = Median $rounds.ChaosPSReached
        StressNg = $n; StressNgDelta = [math]::Round($n - $p, 2)
        ChaosPSHostBusy = Median $rounds.ChaosPSHost; StressNgHostBusy = Median $rounds.StressNgHost
        ChaosPSRounds = @($rounds.ChaosPS | ForEach-Object { [math]::Round($_, 2) }); StressNgRounds = @($rounds.StressNg | ForEach-Object { [math]::Round($_, 2) })
        LoadAvg = @($rounds.LoadAvg)
    }
}
$report.CpuMethod = "one core; each stressor's process tree utime+stime from /proc over a $($window)s window after 1.5s settle; medians of $CpuRounds interleaved rounds; HostBusy = /proc/stat busy % of all CPUs (includes other work on the machine)"
$report.Cpu = $cpuRows
$cpuRows | Format-Table TargetPercent, ChaosPS, ChaosPSDelta, StressNg, StressNgDelta, ChaosPSReachedByCmdlet, ChaosPSHostBusy, StressNgHostBusy, @{ n = 'LoadAvg'; e = { $_.LoadAvg -join ' ' } } | Out-String -Width 220 | Write-Host

# ---------------------------------------------------------------- Memory fill rate
$fillC = Join-Path $outDir 'mapfill.c'; $fillExe = Join-Path $outDir 'mapfill'
@'
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
/* mapfill BYTES CHUNK: mmap(MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE) BYTES in CHUNK-sized mappings; prints the rate. */
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv) {
    size_t total = strtoull(argv[1], 0, 10), chunk = strtoull(argv[2], 0, 10), done = 0;
    double t0 = now();
    while (done < total) {
        size_t len = total - done < chunk ? total - done : chunk;
        if (mmap(0, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0) == MAP_FAILED) { perror("mmap"); return 1; }
        done += len;
    }
    double s = now() - t0;
    printf("%.6f %.4f\n", s, total / 1073741824.0 / s);
    return 0;
}
'@ | Set-Content $fillC
cc -O2 -o $fillExe $fillC
if ($LASTEXITCODE) { throw 'cc failed to build the MAP_POPULATE yardstick' }
[long]$fillBytes = $FillGB * 1GB
function Get-TreePids([int] $Root) {
    $todo = [Collections.Generic.Stack[int]]::new(); $todo.Push($Root)
    while ($todo.Count) {
        $p = $todo.Pop(); $p
        foreach ($t in (Get-ChildItem "/proc/$p/task" -ErrorAction SilentlyContinue)) {
            try { foreach ($c in ([IO.File]::ReadAllText("$($t.FullName)/children").Split(' ', [StringSplitOptions]::RemoveEmptyEntries))) { $todo.Push([int]$c) } } catch { }
        }
    }
}
function Get-TreeRss([int] $Root) {
    $sum = 0L
    foreach ($p in Get-TreePids $Root) {
        try { $l = [IO.File]::ReadAllLines("/proc/$p/status") | Where-Object { $_ -like 'VmRSS:*' }; if ($l) { $sum += 1024 * [long]($l -split '\s+')[1] } } catch { }
    }
    $sum
}
$fillData = foreach ($round in 1..$FillRounds) {
    $order = @('C', 'ChaosPS', 'StressNg')
    $order = $order[($round % 3)..2] + $order[0..($round % 3)] | Select-Object -First 3 -Unique
    $row = [ordered]@{ Round = $round; LoadAvg = LoadAvg; Order = $order -join ',' }
    foreach ($who in $order) {
        Start-Sleep 3   # freed memory goes back to the hypervisor (free page reporting) before the next fill
        switch ($who) {
            'C' { $o = (& $fillExe $fillBytes (64MB)).Split(' '); $row.CGBps = [double]$o[1] }
            'ChaosPS' {
                $r = Invoke-MemoryExhaustion -Size $fillBytes -Mode Add -Duration 1s -Confirm:$false
                $row.ChaosPSGBps = $r.Details['FillRateGBps']
                $row.ChaosPSEndToEndGBps = [math]::Round($fillBytes / 1GB / $r.Details['InitialAllocationSeconds'], 4)
            }
            'StressNg' {
                # stress-ng reports no fill time: the bench polls its workers' RSS every 10 ms until the size is resident.
                $sw = [Diagnostics.Stopwatch]::StartNew()
                $ng = Start-Process stress-ng -ArgumentList '--vm', '1', '--vm-bytes', $fillBytes, '--vm-populate', '--vm-keep', '--vm-hang', '0', '--timeout', '30s', '--quiet' -PassThru
                while (-not $ng.HasExited -and (Get-TreeRss $ng.Id) -lt 0.98 * $fillBytes -and $sw.Elapsed.TotalSeconds -lt 30) { Start-Sleep -Milliseconds 10 }
                $row.StressNgGBps = [math]::Round($fillBytes / 1GB / $sw.Elapsed.TotalSeconds, 4)
                Stop-Process -Id $ng.Id -ErrorAction SilentlyContinue; $ng.WaitForExit()
            }
        }
    }
    [pscustomobject]$row
}
$fill = [ordered]@{
    FillGB = $FillGB; Rounds = $FillRounds
    CMapPopulateGBps = Median $fillData.CGBps; ChaosPSGBps = Median $fillData.ChaosPSGBps
    ChaosPSEndToEndGBps = Median $fillData.ChaosPSEndToEndGBps; StressNgVmPopulateGBps = Median $fillData.StressNgGBps
}
$fill.ChaosPSToC = if ($fill.CMapPopulateGBps) { [math]::Round($fill.ChaosPSGBps / $fill.CMapPopulateGBps, 3) } else { $null }
$fill.PerRound = @($fillData)
$report.MemoryFillMethod = 'C: mmap(MAP_POPULATE) in 64 MB chunks, timed inside the program; ChaosPS: -Mode Add -Size, the stressor''s own fill time (FillRateGBps) and end to end (process start to ready, InitialAllocationSeconds); stress-ng --vm-populate: from start until the bench sees its RSS at 98% of the size (includes its start). 3 s pause before each fill.'
$report.MemoryFill = [pscustomobject]$fill
$fillData | Format-Table | Out-String -Width 220 | Write-Host
[pscustomobject]$fill | Select-Object -ExcludeProperty PerRound | Format-List | Out-String -Width 220 | Write-Host
}

# ---------------------------------------------------------------- Memory hold accuracy (Reach), sampled by the bench
function Get-UsedPercent {
    $m = [IO.File]::ReadAllLines('/proc/meminfo')
    $t = [double](($m -match '^MemTotal:')[0] -split '\s+')[1]; $a = [double](($m -match '^MemAvailable:')[0] -split '\s+')[1]
    100 * ($t - $a) / $t
}
Start-Sleep 3
$base = Get-UsedPercent
$job = Invoke-MemoryExhaustion -Percent $HoldPercent -Mode Reach -Duration "$($HoldSeconds)s" -AsJob -Confirm:$false
$hog = Find-Stressor 'memory-hog'
$memTotalKb = [double]((([IO.File]::ReadAllLines('/proc/meminfo') -match '^MemTotal:')[0] -split '\s+')[1])
function Get-HogPercent {
    # The stressor's own resident anonymous memory, in points of host memory (what the role holds, as the kernel sees it).
    try { $l = [IO.File]::ReadAllLines("/proc/$hog/status") -match '^RssAnon:'; if ($l) { 100 * [double](($l[0] -split '\s+')[1]) / $memTotalKb } else { $null } } catch { $null }
}
$samples = [Collections.Generic.List[object]]::new(); $sw = [Diagnostics.Stopwatch]::StartNew()
$disturb = $null; $disturbAt = $null; $disturbOff = $null; $reachedAt = $null
while ((Test-Path "/proc/$hog") -and $sw.Elapsed.TotalSeconds -lt 300) {
    $t = $sw.Elapsed.TotalSeconds; $u = Get-UsedPercent; $h = Get-HogPercent
    if ($null -ne $h) { $samples.Add([pscustomobject]@{ T = $t; U = $u; Hog = $h; Others = $u - $h }) }
    if (-not $reachedAt -and [math]::Abs($u - $HoldPercent) -le 1) { $reachedAt = $t }
    if ($HoldDisturbMB -gt 0 -and $reachedAt) {
        if (-not $disturbAt -and $t -ge $reachedAt + $HoldSeconds / 4) {
            $disturb = Start-Process stress-ng -ArgumentList '--vm', 1, '--vm-bytes', "$($HoldDisturbMB)M", '--vm-keep', '--vm-populate', '--vm-hang', 0, '--quiet' -PassThru
            $disturbAt = $t
        }
        elseif ($disturbAt -and -not $disturbOff -and $t -ge $disturbAt + $HoldSeconds / 4) {
            Get-Process -Id $disturb.Id -ErrorAction SilentlyContinue | Out-Null; kill -TERM $disturb.Id 2>$null; $disturbOff = $t
        }
    }
    $next = [int]($HoldSampleMs - ($sw.Elapsed.TotalSeconds - $t) * 1000); if ($next -gt 0) { Start-Sleep -Milliseconds $next }
}
if ($disturb -and -not $disturb.HasExited) { kill -TERM $disturb.Id 2>$null }
$r = $job | Wait-Job | Receive-Job; $job | Remove-Job
# Held = from the first bench sample within 1 point of the target until the stressor starts releasing on its way out:
# the run of samples at the end over which its own memory only falls (releasing 10+ GB takes a second or more; a fixed
# margin before its exit let the release count as a dip), less 0.3 s.
$first = $samples | Where-Object { [math]::Abs($_.U - $HoldPercent) -le 1 } | Select-Object -First 1
$k = $samples.Count - 1
while ($k -gt 0 -and $samples[$k - 1].Hog -gt $samples[$k].Hog) { $k-- }
$releaseAt = if ($k -ge 0 -and $samples.Count) { $samples[$k].T } else { 0 }
$heldS = if ($first) { @($samples | Where-Object { $_.T -ge $first.T -and $_.T -le $releaseAt - 0.3 }) } else { @() }
$held = @($heldS | ForEach-Object U)
# The worst deviation, and who moved in the second before it: the role's own memory (Hog) or everything else (Others).
$worst = $heldS | Sort-Object { [math]::Abs($_.U - $HoldPercent) } -Descending | Select-Object -First 1
$cause = $null
if ($worst) {
    $before = $heldS | Where-Object { $_.T -ge $worst.T - 1 -and $_.T -lt $worst.T } | Sort-Object { [math]::Abs($_.U - $HoldPercent) } | Select-Object -First 1
    if (-not $before) { $before = $worst }
    $dHog = $worst.Hog - $before.Hog; $dOthers = $worst.Others - $before.Others
    $cause = [pscustomobject][ordered]@{
        AtSecond = [math]::Round($worst.T, 2); UsedPercent = [math]::Round($worst.U, 2)
        HogChangePoints = [math]::Round($dHog, 2); OthersChangePoints = [math]::Round($dOthers, 2)
        Cause = if ([math]::Abs($worst.U - $HoldPercent) -le 1) { 'within a point' } elseif ([math]::Abs($dOthers) -ge [math]::Abs($dHog)) { 'other processes' } else { 'the role' }
    }
}
$report.MemoryHoldSamples = @($samples | ForEach-Object { '{0:0.00} {1:0.00} {2:0.00}' -f $_.T, $_.U, $_.Hog })
$report.MemoryHold = [pscustomobject][ordered]@{
    BaselineUsedPercent = [math]::Round($base, 2); TargetPercent = $HoldPercent; LoadAvg = LoadAvg; SampleMs = $HoldSampleMs
    BenchHeldMin = if ($held) { [math]::Round(($held | Measure-Object -Minimum).Minimum, 2) } else { $null }
    BenchHeldMax = if ($held) { [math]::Round(($held | Measure-Object -Maximum).Maximum, 2) } else { $null }
    BenchMaxDeviation = if ($held) { [math]::Round((($held | ForEach-Object { [math]::Abs($_ - $HoldPercent) }) | Measure-Object -Maximum).Maximum, 2) } else { $null }
    BenchWithinOnePoint = if ($held) { [math]::Round(@($held | Where-Object { [math]::Abs($_ - $HoldPercent) -le 1 }).Count / $held.Count, 4) } else { $null }
    BenchSamples = $held.Count
    OthersMin = if ($heldS) { [math]::Round(($heldS.Others | Measure-Object -Minimum).Minimum, 2) } else { $null }
    OthersMax = if ($heldS) { [math]::Round(($heldS.Others | Measure-Object -Maximum).Maximum, 2) } else { $null }
    WorstDeviation = $cause
    ReleaseStartsAtSecond = [math]::Round($releaseAt, 2)
    Disturbance = if ($disturbAt) { "stress-ng --vm $HoldDisturbMB MB from $([math]::Round($disturbAt, 2)) s to $([math]::Round($disturbOff, 2)) s" } else { 'none' }
    BackWithinOnePointAfterDisturbOnSeconds = if ($disturbAt) { $b = $heldS | Where-Object { $_.T -gt $disturbAt -and $_.T -lt $disturbOff } ; $out = $b | Where-Object { [math]::Abs($_.U - $HoldPercent) -gt 1 } | Select-Object -Last 1; if ($out) { [math]::Round($out.T - $disturbAt, 2) } else { 0 } } else { $null }
    BackWithinOnePointAfterDisturbOffSeconds = if ($disturbOff) { $b = $heldS | Where-Object { $_.T -gt $disturbOff }; $out = $b | Where-Object { [math]::Abs($_.U - $HoldPercent) -gt 1 } | Select-Object -Last 1; if ($out) { [math]::Round($out.T - $disturbOff, 2) } else { 0 } } else { $null }
    ChaosPSTimeToReachSeconds = if ($r.TimeToReach) { [math]::Round($r.TimeToReach.TotalSeconds, 2) } else { $null }
    ChaosPSReached = $r.Reached; ChaosPSMinimum = $r.Minimum; ChaosPSPeak = $r.Peak; ChaosPSVerdict = "$($r.Verdict)"
    ChaosPSInitialFillGBps = $r.Details['FillRateGBps']
}
$report.MemoryHold | Format-List | Out-String -Width 220 | Write-Host

# ---------------------------------------------------------------- Disk: a sparse 12 GB ext4 image, loop-mounted (never the root filesystem); fill 10 GB.
if (-not $SkipDisk -and -not $HoldOnly) {
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
        $report.Disk | Format-List | Out-String -Width 220 | Write-Host
    }
    finally {
        if (Test-Path $mnt) { umount $mnt 2>$null; Remove-Item $mnt -Force -Recurse -ErrorAction SilentlyContinue }
        Remove-Item $img -Force -ErrorAction SilentlyContinue
    }
}
$report.Vram = try { Get-GpuInfo -ErrorAction Stop | Out-Null; 'GPU present: run scripts/gpu (chaosps-gpucheck) for the VRAM figures' } catch { "skipped: $($_.Exception.Message)" }
$report.LoadAvgAtEnd = Get-Content /proc/loadavg
$report | ConvertTo-Json -Depth 6 | Set-Content $OutFile
Write-Host "Written $OutFile"
