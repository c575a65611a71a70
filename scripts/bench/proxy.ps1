<#
.SYNOPSIS
    The chaos proxy side by side with haproxy (mode tcp, as many threads as the proxy's relay loops), socat and a direct
    connection, in one run, as same-run ratios (the machine is shared and noisy, so only same-run ratios mean anything):
      1. keep-alive: HTTP req/s to nginx at -Connections connections (wrk), the paths in turn, -Rounds rounds, medians;
         plus one run through a proxy with a 0 ms latency toxic (what the toxic path costs);
      2. close: the same with `Connection: close` (every request a new connection through the proxy: connections/s);
      3. added latency per hop at low load: one keep-alive connection per path, round trips taken in turn
         (HopLatency.cs), p50/p90/p99 minus direct;
      4. bulk: one large transfer with iperf3 (one TCP stream, -BulkMB), each path in turn, -Rounds rounds;
      5. memory of this process while a 1000 ms latency toxic sits in front of a fast sender (bounded buffering).
    Everything listens on 127.0.0.1; nginx and haproxy run from throwaway configs in temp folders and are stopped at the
    end. The proxy runs in this process with -ProxyThreads relay loops (CHAOSPS_PROXY_LOOPS). Results also go to
    out/bench/proxy.json. Needs nginx, haproxy, wrk, socat and iperf3 (apt-get install nginx haproxy wrk socat iperf3;
    tried once when missing).
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench proxy
.EXAMPLE
    dotnet pwsh scripts/bench/proxy.ps1 -Sections keepalive,close -Rounds 5
.EXAMPLE
    dotnet pwsh scripts/bench/proxy.ps1 -PinCpus -Rounds 5
    Keep-alive and close only, every proxy on the same CPU(s) and nginx on another (needs -ProxyThreads + 1 CPUs).
.EXAMPLE
    dotnet pwsh scripts/bench/proxy.ps1 -OneCpu -Rounds 5
    Keep-alive and close only, with everything (wrk, nginx, the proxy) on CPU 0: the rate then measures the whole
    path's CPU per request, with no scheduler placement in it.
#>
param(
    [string] $ModulePath = (Get-ChildItem "$PSScriptRoot/../../out/ChaosPS/*/ChaosPS.psd1" -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty FullName),
    [int] $Seconds = 6,
    [int] $Rounds = 3,
    [int] $Connections = 50,
    # wrk's threads.
    [int] $Threads = 1,
    # The proxy's relay loops, and haproxy's nbthread.
    [int] $ProxyThreads = 1,
    [int] $LatencyRounds = 20000,
    [int] $BulkMB = 4096,
    # Which parts to run (keepalive, close, latency, bulk, memory); a comma-separated string works too (pwsh -File).
    [string[]] $Sections = @('keepalive', 'close', 'latency', 'bulk', 'memory'),
    # Keep-alive and close with the same CPU placement for every proxy: nginx's worker on CPU 0, each proxy (ChaosPS's
    # relay loops, haproxy, socat and its forks) on the last -ProxyThreads CPUs, wrk unpinned. Separates what a proxy
    # costs per request from where the kernel's scheduler happens to put it (see the Network README).
    [switch] $PinCpus,
    # Keep-alive and close with every party on CPU 0 (wrk, nginx's worker, each proxy): with one CPU there is nothing for
    # the scheduler to place, so the rates compare what each path costs in CPU in all (proxy, client, server and kernel).
    [switch] $OneCpu
)
$ErrorActionPreference = 'Stop'
$Sections = @($Sections -split ',' | ForEach-Object Trim | Where-Object { $_ })
$unknown = $Sections | Where-Object { $_ -notin 'keepalive', 'close', 'latency', 'bulk', 'memory' }
if ($unknown) { throw "unknown section(s): $($unknown -join ', ') (keepalive, close, latency, bulk, memory)" }
if ($PinCpus -and [Environment]::ProcessorCount -lt $ProxyThreads + 1) {
    throw "-PinCpus needs at least $($ProxyThreads + 1) CPUs (nginx on one, the proxy on $ProxyThreads); this machine has $([Environment]::ProcessorCount)"
}
if ($PinCpus -and $OneCpu) { throw "-PinCpus and -OneCpu are two different placements: give one" }
if (-not $env:CHAOSPS_STATE_DIR) { $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-$PID" }
$env:CHAOSPS_PROXY_LOOPS = "$ProxyThreads" # read once, when the first proxy link starts
Import-Module $ModulePath
Import-Module "$PSScriptRoot/ProxyBench.psm1" -Force
Assert-BenchTools nginx, haproxy, wrk, socat, iperf3
Add-Type -Path "$PSScriptRoot/HopLatency.cs"

function Ratio($a, $b) { if ($b) { [math]::Round($a / $b, 3) } else { $null } }
function Port([string] $listen) { [int]($listen -split ':')[-1] }

$results = [ordered]@{
    when = [DateTime]::UtcNow.ToString('o'); uptime = (& uptime).Trim(); processors = [Environment]::ProcessorCount
    wrkThreads = $Threads; proxyThreads = $ProxyThreads; connections = $Connections; seconds = $Seconds; rounds = $Rounds
}
try {
    $nginxPort = Start-BenchNginx
    $up = "127.0.0.1:$nginxPort"
    $proxy = Start-ChaosProxy -Name "bench-$PID" -Upstream $up
    $haproxyPort = Start-BenchHaproxy $up $ProxyThreads
    $cpuOf = @{ chaosps = $PID; haproxy = Get-BenchHaproxyPid } # CPU per request: this process runs the proxy and idles otherwise
    $socatPort = Start-BenchSocat $up
    $paths = [ordered]@{ direct = "http://${up}/"; chaosps = "http://$($proxy.Listen)/"; haproxy = "http://127.0.0.1:$haproxyPort/"; socat = "http://127.0.0.1:$socatPort/" }
    if ($PinCpus -or $OneCpu) {
        $n = [Environment]::ProcessorCount
        $proxyCpus = if ($OneCpu) { '0' } else { "$($n - $ProxyThreads)-$($n - 1)" }
        $switchName = if ($OneCpu) { '-OneCpu' } else { '-PinCpus' }
        $workers = @(Get-BenchNginxWorkerPids); $relays = @(Get-RelayThreadIds)
        if (-not $workers -or $relays.Count -ne $ProxyThreads) { throw "$switchName`: found $($workers.Count) nginx worker(s) and $($relays.Count) relay loop thread(s), expected 1 and $ProxyThreads" }
        foreach ($w in $workers) { Set-BenchAffinity $w 0 -AllThreads }
        foreach ($t in $relays) { Set-BenchAffinity $t $proxyCpus } # threads, not this process: wrk is its child
        Set-BenchAffinity (Get-BenchHaproxyPid) $proxyCpus -AllThreads
        Set-BenchAffinity (Get-BenchSocatPid) $proxyCpus -AllThreads
        if ($OneCpu) { Set-BenchWrkCpus '0' }
        $results.pinned = [ordered]@{ nginxCpu = 0; proxyCpus = $proxyCpus; wrk = if ($OneCpu) { '0' } else { 'unpinned' } }
        Write-Host "pinned: nginx worker on CPU 0; ChaosPS relay loop(s), haproxy and socat on CPU $proxyCpus; wrk $($results.pinned.wrk)" -ForegroundColor Cyan
        $Sections = @($Sections | Where-Object { $_ -in 'keepalive', 'close' })
    }

    foreach ($mode in 'keepalive', 'close' | Where-Object { $_ -in $Sections }) {
        $close = $mode -eq 'close'
        Write-Host "== $mode`: wrk -t$Threads -c$Connections -d$($Seconds)s$(if ($close) { " -H 'Connection: close'" }) x $Rounds rounds: $($paths.Keys -join ', ')" -ForegroundColor Cyan
        $r = Invoke-WrkRounds $paths $Rounds $Connections $Threads $Seconds -Close:$close -CpuOf $cpuOf
        $r.chaospsVsHaproxy = Ratio $r.chaosps.rps $r.haproxy.rps
        $r.chaospsVsDirect = Ratio $r.chaosps.rps $r.direct.rps
        $r.haproxyVsDirect = Ratio $r.haproxy.rps $r.direct.rps
        $r.chaospsVsSocat = Ratio $r.chaosps.rps $r.socat.rps
        $r.cpuPerRequestChaospsVsHaproxy = Ratio $r.chaosps.cpuUsPerRequest $r.haproxy.cpuUsPerRequest
        if (-not $close) {
            $toxicProxy = Start-ChaosProxy -Name "bench-toxic-$PID" -Upstream $up
            Add-NetworkFault -Proxy $toxicProxy.Name -Type Latency -Latency 0 -Confirm:$false | Out-Null
            $viaToxic = Invoke-Wrk "http://$($toxicProxy.Listen)/" $Connections $Threads $Seconds
            $r.chaospsWithLatency0Toxic = $viaToxic.Rps; $r.toxicPathVsDirect = Ratio $viaToxic.Rps $r.direct.rps
            Stop-ChaosProxy $toxicProxy.Name -Confirm:$false
        }
        $results[$mode] = $r
    }

    if ('latency' -in $Sections) {
        Write-Host "== latency: $LatencyRounds round trips per path, taken in turn (direct, ChaosPS, haproxy, socat)" -ForegroundColor Cyan
        $t = [HopLatency]::Run([int[]]@($nginxPort, (Port $proxy.Listen), $haproxyPort, $socatPort), $LatencyRounds)
        function Pct([double[]] $v, [double] $q) { $s = [double[]]$v.Clone(); [Array]::Sort($s); [math]::Round($s[[int][math]::Floor($q * ($s.Length - 1))], 1) }
        $lat = [ordered]@{ rounds = $LatencyRounds }
        foreach ($q in 50, 90, 99) {
            $dq = Pct $t[0] ($q / 100); $pq = Pct $t[1] ($q / 100); $hq = Pct $t[2] ($q / 100); $sq = Pct $t[3] ($q / 100)
            $lat["p$q"] = [ordered]@{
                directUs = $dq; chaospsUs = $pq; haproxyUs = $hq; socatUs = $sq
                chaospsAddedUs = [math]::Round($pq - $dq, 1); haproxyAddedUs = [math]::Round($hq - $dq, 1); socatAddedUs = [math]::Round($sq - $dq, 1)
            }
        }
        $results.latency = $lat
    }

    if ('bulk' -in $Sections) {
        Write-Host "== bulk: iperf3, $BulkMB MB in one stream x $Rounds rounds: direct, ChaosPS, haproxy, socat" -ForegroundColor Cyan
        $iperfPort = Get-FreePort
        $null = Start-Bg iperf3 '-s', '-B', '127.0.0.1', '-p', "$iperfPort"
        Wait-Listen $iperfPort
        $bulkProxy = Start-ChaosProxy -Name "bench-bulk-$PID" -Upstream "127.0.0.1:$iperfPort"
        $bulkPorts = [ordered]@{
            direct = $iperfPort; chaosps = Port $bulkProxy.Listen
            haproxy = Start-BenchHaproxy "127.0.0.1:$iperfPort" $ProxyThreads; socat = Start-BenchSocat "127.0.0.1:$iperfPort"
        }
        $bulkCpuOf = @{ chaosps = $PID; haproxy = Get-BenchHaproxyPid }
        $bcpu = @{ chaosps = @(); haproxy = @() }
        function Measure-Iperf([int] $Port) {
            $json = & iperf3 -c 127.0.0.1 -p $Port -n "$($BulkMB)M" -J 2>&1 | Out-String | ConvertFrom-Json
            if ($json.error) { throw "iperf3: $($json.error)" }
            [math]::Round($json.end.sum_received.bits_per_second / 8 / 1e9, 2)
        }
        $bruns = [ordered]@{}; foreach ($k in $bulkPorts.Keys) { $bruns[$k] = @() }
        for ($r = 1; $r -le $Rounds; $r++) {
            foreach ($k in $bulkPorts.Keys) {
                $c0 = if ($bulkCpuOf[$k]) { Get-ProcessCpuUs $bulkCpuOf[$k] }
                $bruns[$k] += Measure-Iperf $bulkPorts[$k]
                if ($bulkCpuOf[$k]) { $bcpu[$k] += [math]::Round(((Get-ProcessCpuUs $bulkCpuOf[$k]) - $c0) / 1e3 / ($BulkMB / 1024), 1) } # CPU ms per GiB
            }
            Write-Host ("   round {0}: {1}" -f $r, (($bulkPorts.Keys | ForEach-Object { '{0} {1} GB/s' -f $_, $bruns[$_][-1] }) -join ' | '))
        }
        $b = [ordered]@{ megabytes = $BulkMB }
        foreach ($k in $bulkPorts.Keys) { $b["$($k)GBps"] = Get-Median $bruns[$k] }
        $b.chaospsVsDirect = Ratio $b.chaospsGBps $b.directGBps
        $b.haproxyVsDirect = Ratio $b.haproxyGBps $b.directGBps
        $b.chaospsVsHaproxy = Ratio $b.chaospsGBps $b.haproxyGBps
        $b.cpuMsPerGiBChaosps = Get-Median $bcpu.chaosps
        $b.cpuMsPerGiBHaproxy = Get-Median $bcpu.haproxy
        $b.rounds = $bruns
        $b.proxiedBytes = (Get-ChaosProxy $bulkProxy.Name).BytesUpstream
        $results.bulk = $b
        Stop-ChaosProxy $bulkProxy.Name -Confirm:$false
    }

    if ('memory' -in $Sections) {
        Write-Host "== memory: 1000 ms latency toxic, fast sender (dd | socat), reader at full speed" -ForegroundColor Cyan
        $srcPort = Get-FreePort
        $null = Start-Bg bash '-c', "dd if=/dev/zero bs=1M count=100000 status=none | socat -u STDIN TCP-LISTEN:$srcPort,reuseaddr,bind=127.0.0.1"
        Wait-Listen $srcPort
        $memProxy = Start-ChaosProxy -Name "bench-mem-$PID" -Upstream "127.0.0.1:$srcPort"
        Add-NetworkFault -Proxy $memProxy.Name -Type Latency -Latency 1000ms -Confirm:$false | Out-Null
        [GC]::Collect(); $me = [Diagnostics.Process]::GetCurrentProcess(); $me.Refresh(); $rssBefore = $me.WorkingSet64
        $null = Start-Bg (Find-Tool socat) '-u', "TCP:$($memProxy.Listen)", 'OPEN:/dev/null'
        $peak = $rssBefore; $sw = [Diagnostics.Stopwatch]::StartNew()
        while ($sw.Elapsed.TotalSeconds -lt [math]::Max(8, $Seconds)) { Start-Sleep -Milliseconds 250; $me.Refresh(); $peak = [math]::Max($peak, $me.WorkingSet64) }
        $moved = (Get-ChaosProxy $memProxy.Name).BytesDownstream
        $results.memory = [ordered]@{
            seconds = [math]::Round($sw.Elapsed.TotalSeconds, 1)
            rssBeforeMB = [math]::Round($rssBefore / 1MB, 1); rssPeakMB = [math]::Round($peak / 1MB, 1); rssGrowthMB = [math]::Round(($peak - $rssBefore) / 1MB, 1)
            deliveredMB = [math]::Round($moved / 1MB, 1); deliveredMBps = [math]::Round($moved / 1MB / $sw.Elapsed.TotalSeconds, 1)
            queueBoundMBPerDirection = 16
        }
        Stop-ChaosProxy $memProxy.Name -Confirm:$false
    }
} finally {
    Get-ChaosProxy -Name "bench*" -ErrorAction SilentlyContinue | Stop-ChaosProxy -Confirm:$false
    Stop-BenchAll
}

$file = Save-BenchResult proxy $results
Write-Host "`n== results (ratios are what to quote; this machine is shared) -> $file" -ForegroundColor Green
$r = $results
if ($r.Contains('pinned')) { "pinned: nginx worker on CPU {0}, every proxy on CPU {1}, wrk {2}" -f $r.pinned.nginxCpu, $r.pinned.proxyCpus, $r.pinned.wrk | Write-Host }
foreach ($mode in 'keepalive', 'close' | Where-Object { $r.Contains($_) }) {
    $m = $r[$mode]
    "{0}, {1} connections, median of {2} x {3}s, req/s: direct {4:N0} | ChaosPS {5:N0} | haproxy {6:N0} | socat {7:N0} | ChaosPS/haproxy {8}x, ChaosPS/direct {9}x | CPU per request: ChaosPS {11} us, haproxy {12} us{10}" -f `
        $mode, $Connections, $Rounds, $Seconds, $m.direct.rps, $m.chaosps.rps, $m.haproxy.rps, $m.socat.rps, $m.chaospsVsHaproxy, $m.chaospsVsDirect,
        $(if ($m.Contains('chaospsWithLatency0Toxic')) { " | with a 0 ms latency toxic {0:N0} ({1}x direct)" -f $m.chaospsWithLatency0Toxic, $m.toxicPathVsDirect }), $m.chaosps.cpuUsPerRequest, $m.haproxy.cpuUsPerRequest | Write-Host
}
if ($r.Contains('latency')) {
    foreach ($q in 'p50', 'p90', 'p99') {
        $l = $r.latency[$q]
        "round trip {0}: direct {1} us | ChaosPS +{2} | haproxy +{3} | socat +{4}" -f $q, $l.directUs, $l.chaospsAddedUs, $l.haproxyAddedUs, $l.socatAddedUs | Write-Host
    }
}
if ($r.Contains('bulk')) {
    "bulk, one {0} MB stream (iperf3), median of {1}: direct {2} GB/s | ChaosPS {3} GB/s ({4}x direct) | haproxy {5} GB/s ({6}x direct) | socat {7} GB/s | CPU per GiB: ChaosPS {8} ms, haproxy {9} ms" -f `
        $r.bulk.megabytes, $Rounds, $r.bulk.directGBps, $r.bulk.chaospsGBps, $r.bulk.chaospsVsDirect, $r.bulk.haproxyGBps, $r.bulk.haproxyVsDirect, $r.bulk.socatGBps, $r.bulk.cpuMsPerGiBChaosps, $r.bulk.cpuMsPerGiBHaproxy | Write-Host
}
if ($r.Contains('memory')) {
    "memory, 1000 ms latency toxic + fast sender for {0}s: RSS {1} MB -> peak {2} MB (+{3} MB) while delivering {4} MB/s" -f $r.memory.seconds, $r.memory.rssBeforeMB, $r.memory.rssPeakMB, $r.memory.rssGrowthMB, $r.memory.deliveredMBps | Write-Host
}
