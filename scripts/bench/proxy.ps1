<#
.SYNOPSIS
    The chaos proxy side by side with a direct connection and with socat, in one run, as ratios (this machine is shared and noisy, so only same-run ratios mean anything):
      1. HTTP keep-alive through the proxy to nginx at 50 connections (wrk): req/s direct vs ChaosPS proxy vs
         `socat TCP-LISTEN:port,fork,reuseaddr TCP:127.0.0.1:nginxport`, -Rounds rounds in turn, medians quoted; plus
         one run through a proxy with a 0 ms latency toxic (what the toxic path costs);
      2. added latency per hop at low load: one keep-alive connection per path, round trips taken in turn
         (HopLatency.cs), p50/p90/p99 through the proxy and socat minus direct;
      3. bulk throughput of one large transfer with iperf3 (one TCP stream, -n BulkMB): direct, proxy, socat;
      4. memory of this process while a 1000 ms latency toxic sits in front of a fast sender (bounded buffering).
    Everything listens on 127.0.0.1; nginx runs from a throwaway config in a temp folder and is stopped at the end.
    Needs nginx, wrk, socat and iperf3 (apt-get install nginx wrk socat iperf3; tried once when missing).
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench proxy
#>
param(
    [string] $ModulePath = (Get-ChildItem "$PSScriptRoot/../../out/ChaosPS/*/ChaosPS.psd1" -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty FullName),
    [int] $Seconds = 6,
    [int] $Rounds = 3,
    [int] $Connections = 50,
    [int] $LatencyRounds = 20000,
    [int] $BulkMB = 4096
)
$ErrorActionPreference = 'Stop'
if (-not $env:CHAOSPS_STATE_DIR) { $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-$PID" }
Import-Module $ModulePath

$missing = 'nginx', 'wrk', 'socat', 'iperf3' | Where-Object { -not (Get-Command $_ -ErrorAction SilentlyContinue) -and -not (Test-Path "/usr/sbin/$_") }
if ($missing) {
    Write-Host "installing $($missing -join ', ')"
    & sudo -n apt-get install -y -q @missing 2>&1 | Out-Null
    if ($LASTEXITCODE) { & apt-get install -y -q @missing 2>&1 | Out-Null }
}
$nginxExe = (Get-Command nginx -ErrorAction SilentlyContinue).Source; if (-not $nginxExe) { $nginxExe = '/usr/sbin/nginx' }
foreach ($t in 'wrk', 'socat', 'iperf3') { if (-not (Get-Command $t -ErrorAction SilentlyContinue)) { throw "$t is not installed (apt-get install wrk socat nginx iperf3)" } }
Add-Type -Path "$PSScriptRoot/HopLatency.cs"

function Get-FreePort { $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p }
function Wait-Port([int] $Port) {
    for ($i = 0; $i -lt 100; $i++) { try { [Net.Sockets.TcpClient]::new('127.0.0.1', $Port).Dispose(); return } catch { Start-Sleep -Milliseconds 50 } }
    throw "nothing listens on 127.0.0.1:$Port"
}
function Start-Bg([string] $Exe, [string[]] $Arguments) {
    $psi = [Diagnostics.ProcessStartInfo]::new($Exe)
    foreach ($a in $Arguments) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    [Diagnostics.Process]::Start($psi)
}
function Wait-Listen([int] $Port) {
    # Like Wait-Port, without connecting (a single-shot `socat TCP-LISTEN` would take our probe as its one client).
    for ($i = 0; $i -lt 100; $i++) { if (& ss -Hltn "sport = :$Port") { return }; Start-Sleep -Milliseconds 50 }
    throw "nothing listens on 127.0.0.1:$Port"
}
function Invoke-Wrk([string] $Url, [int] $C, [int] $T, [int] $D) {
    $out = & wrk "-t$T" "-c$C" "-d$($D)s" $Url 2>&1 | Out-String
    $rps = if ($out -match 'Requests/sec:\s+([\d.]+)') { [double]$Matches[1] } else { [double]::NaN }
    $errors = if ($out -match 'Socket errors: (.*)') { $Matches[1].Trim() } elseif ($out -match 'Non-2xx or 3xx responses: (\d+)') { "non-2xx $($Matches[1])" } else { '' }
    [pscustomobject]@{ Rps = $rps; Errors = $errors; Raw = $out }
}

$tmp = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-proxy-$PID"
New-Item -ItemType Directory -Force "$tmp/logs", "$tmp/www" | Out-Null
[IO.File]::WriteAllText("$tmp/www/index.html", 'hello from nginx')
$nginxPort = Get-FreePort
@"
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy; fastcgi_temp_path $tmp/fcgi; uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
    server { listen 127.0.0.1:$nginxPort; root $tmp/www; location / { index index.html; } }
}
"@ | Set-Content "$tmp/nginx.conf"

$procs = [System.Collections.Generic.List[Diagnostics.Process]]::new()
$results = [ordered]@{}
try {
    & $nginxExe -c "$tmp/nginx.conf" -p $tmp 2>&1 | Out-Null
    Wait-Port $nginxPort
    $proxy = Start-ChaosProxy -Name "bench-$PID" -Upstream "127.0.0.1:$nginxPort"
    $socatPort = Get-FreePort
    $procs.Add((Start-Process socat -ArgumentList "TCP-LISTEN:$socatPort,fork,reuseaddr,bind=127.0.0.1", "TCP:127.0.0.1:$nginxPort" -PassThru))
    Wait-Port $socatPort

    # 1. keep-alive req/s at 50 connections: the three paths in turn, -Rounds times; medians
    Write-Host "== wrk -t2 -c$Connections -d$($Seconds)s x $Rounds rounds: direct, ChaosPS proxy, socat" -ForegroundColor Cyan
    $toxicProxy = Start-ChaosProxy -Name "bench-toxic-$PID" -Upstream "127.0.0.1:$nginxPort"
    Add-NetworkFault -Proxy $toxicProxy.Name -Type Latency -Latency 0 -Confirm:$false | Out-Null
    $paths = [ordered]@{ direct = "http://127.0.0.1:$nginxPort/"; chaosps = "http://$($proxy.Listen)/"; socat = "http://127.0.0.1:$socatPort/" }
    foreach ($u in $paths.Values) { Invoke-Wrk $u $Connections 2 2 | Out-Null } # warm-up (JIT, nginx, socat's forks)
    $runs = @{ direct = @(); chaosps = @(); socat = @() }
    $errors = @{}
    for ($r = 1; $r -le $Rounds; $r++) {
        foreach ($k in $paths.Keys) {
            $w = Invoke-Wrk $paths[$k] $Connections 2 $Seconds
            $runs[$k] += $w.Rps
            if ($w.Errors) { $errors[$k] = $w.Errors }
        }
        Write-Host ("   round {0}: direct {1:N0}  chaosps {2:N0}  socat {3:N0}" -f $r, $runs.direct[-1], $runs.chaosps[-1], $runs.socat[-1])
    }
    $viaToxic = Invoke-Wrk "http://$($toxicProxy.Listen)/" $Connections 2 $Seconds
    function Median([double[]] $v) { $s = $v | Sort-Object; if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
    $d = Median $runs.direct; $c = Median $runs.chaosps; $so = Median $runs.socat
    $results.rps = [ordered]@{
        connections = $Connections; seconds = $Seconds; rounds = $Rounds
        direct = $d; chaosps = $c; socat = $so
        chaospsVsDirect = [math]::Round($c / $d, 3); socatVsDirect = [math]::Round($so / $d, 3); chaospsVsSocat = [math]::Round($c / $so, 2)
        chaospsWithLatency0Toxic = $viaToxic.Rps; toxicPathVsDirect = [math]::Round($viaToxic.Rps / $d, 3)
        runs = $runs; errors = ($errors.GetEnumerator() | ForEach-Object { "$($_.Key): $($_.Value)" }) -join '; '
    }
    Stop-ChaosProxy $toxicProxy.Name -Confirm:$false

    # 2. added latency per hop at low load: one connection per path, round trips in turn
    Write-Host "== latency: $LatencyRounds round trips per path, taken in turn (direct, ChaosPS, socat)" -ForegroundColor Cyan
    $t = [HopLatency]::Run([int[]]@($nginxPort, [int]($proxy.Listen -split ':')[-1], $socatPort), $LatencyRounds)
    function Pct([double[]] $v, [double] $q) { $s = [double[]]$v.Clone(); [Array]::Sort($s); [math]::Round($s[[int][math]::Floor($q * ($s.Length - 1))], 1) }
    $lat = [ordered]@{ rounds = $LatencyRounds }
    foreach ($q in 50, 90, 99) {
        $dq = Pct $t[0] ($q / 100); $pq = Pct $t[1] ($q / 100); $sq = Pct $t[2] ($q / 100)
        $lat["p$q"] = [ordered]@{ directUs = $dq; chaospsUs = $pq; socatUs = $sq; chaospsAddedUs = [math]::Round($pq - $dq, 1); socatAddedUs = [math]::Round($sq - $dq, 1) }
    }
    $results.latency = $lat

    # 3. bulk: one large transfer with iperf3 (one TCP stream), direct, through the proxy, through socat
    Write-Host "== bulk: iperf3, $BulkMB MB in one stream: direct, ChaosPS, socat" -ForegroundColor Cyan
    $iperfPort = Get-FreePort
    $iperf = Start-Bg iperf3 '-s', '-B', '127.0.0.1', '-p', "$iperfPort"
    $procs.Add($iperf); Wait-Listen $iperfPort
    $bulkProxy = Start-ChaosProxy -Name "bench-bulk-$PID" -Upstream "127.0.0.1:$iperfPort"
    $bulkSocatPort = Get-FreePort
    $procs.Add((Start-Process socat -ArgumentList "TCP-LISTEN:$bulkSocatPort,fork,reuseaddr,bind=127.0.0.1", "TCP:127.0.0.1:$iperfPort" -PassThru))
    Wait-Listen $bulkSocatPort
    function Measure-Iperf([int] $Port) {
        $json = & iperf3 -c 127.0.0.1 -p $Port -n "$($BulkMB)M" -J 2>&1 | Out-String | ConvertFrom-Json
        if ($json.error) { throw "iperf3: $($json.error)" }
        [math]::Round($json.end.sum_received.bits_per_second / 8 / 1e9, 2)
    }
    $bDirect = Measure-Iperf $iperfPort
    $bProxy = Measure-Iperf ([int]($bulkProxy.Listen -split ':')[-1])
    $bSocat = Measure-Iperf $bulkSocatPort
    $results.bulk = [ordered]@{
        megabytes = $BulkMB; directGBps = $bDirect; chaospsGBps = $bProxy; socatGBps = $bSocat
        chaospsVsDirect = [math]::Round($bProxy / $bDirect, 3); chaospsVsSocat = [math]::Round($bProxy / $bSocat, 2)
        proxiedBytes = (Get-ChaosProxy $bulkProxy.Name).BytesUpstream
    }
    Stop-ChaosProxy $bulkProxy.Name -Confirm:$false

    # 4. memory under a 1000 ms latency toxic with a fast sender
    Write-Host "== memory: 1000 ms latency toxic, fast sender (dd | socat), reader at full speed" -ForegroundColor Cyan
    $srcPort = Get-FreePort
    $src = Start-Bg bash '-c', "dd if=/dev/zero bs=1M count=100000 status=none | socat -u STDIN TCP-LISTEN:$srcPort,reuseaddr,bind=127.0.0.1"
    $procs.Add($src); Wait-Listen $srcPort
    $memProxy = Start-ChaosProxy -Name "bench-mem-$PID" -Upstream "127.0.0.1:$srcPort"
    Add-NetworkFault -Proxy $memProxy.Name -Type Latency -Latency 1000ms -Confirm:$false | Out-Null
    [GC]::Collect(); $me = [Diagnostics.Process]::GetCurrentProcess(); $me.Refresh(); $rssBefore = $me.WorkingSet64
    $reader = Start-Process socat -ArgumentList '-u', "TCP:$($memProxy.Listen)", 'OPEN:/dev/null' -PassThru
    $procs.Add($reader)
    $peak = $rssBefore; $sw = [Diagnostics.Stopwatch]::StartNew()
    while ($sw.Elapsed.TotalSeconds -lt [math]::Max(8, $Seconds)) { Start-Sleep -Milliseconds 250; $me.Refresh(); $peak = [math]::Max($peak, $me.WorkingSet64) }
    $moved = (Get-ChaosProxy $memProxy.Name).BytesDownstream
    $received = (Get-ChaosProxy $memProxy.Name)
    $results.memory = [ordered]@{
        seconds = [math]::Round($sw.Elapsed.TotalSeconds, 1)
        rssBeforeMB = [math]::Round($rssBefore / 1MB, 1); rssPeakMB = [math]::Round($peak / 1MB, 1); rssGrowthMB = [math]::Round(($peak - $rssBefore) / 1MB, 1)
        deliveredMB = [math]::Round($moved / 1MB, 1); deliveredMBps = [math]::Round($moved / 1MB / $sw.Elapsed.TotalSeconds, 1)
        queueBoundMBPerDirection = 16
    }
    Stop-ChaosProxy $memProxy.Name -Confirm:$false
} finally {
    foreach ($p in $procs) { if (-not $p.HasExited) { try { $p.Kill($true) } catch { } } }
    if (Test-Path "$tmp/nginx.pid") { & $nginxExe -c "$tmp/nginx.conf" -p $tmp -s quit 2>&1 | Out-Null; Start-Sleep -Milliseconds 300 }
    Get-ChaosProxy -Name "bench*" -ErrorAction SilentlyContinue | Stop-ChaosProxy -Confirm:$false
    Remove-Item $tmp -Recurse -Force -ErrorAction SilentlyContinue
}

Write-Host "`n== results (ratios are what to quote; this machine is shared)" -ForegroundColor Green
$r = $results
"keep-alive, {0} connections, median of {1} x {2}s: direct {3:N0} req/s | ChaosPS {4:N0} ({5:P0} of direct) | socat {6:N0} ({7:P0} of direct) | ChaosPS/socat {8}x | with a 0 ms latency toxic {9:N0} ({10:P0})" -f `
    $Connections, $Rounds, $Seconds, $r.rps.direct, $r.rps.chaosps, $r.rps.chaospsVsDirect, $r.rps.socat, $r.rps.socatVsDirect, $r.rps.chaospsVsSocat, $r.rps.chaospsWithLatency0Toxic, $r.rps.toxicPathVsDirect | Write-Host
foreach ($q in 'p50', 'p90', 'p99') {
    $l = $r.latency[$q]
    "round trip {0}: direct {1} us | ChaosPS {2} us (+{3}) | socat {4} us (+{5})" -f $q, $l.directUs, $l.chaospsUs, $l.chaospsAddedUs, $l.socatUs, $l.socatAddedUs | Write-Host
}
"bulk, one {0} MB stream (iperf3): direct {1} GB/s | ChaosPS {2} GB/s ({3:P0} of direct) | socat {4} GB/s | ChaosPS/socat {5}x" -f $r.bulk.megabytes, $r.bulk.directGBps, $r.bulk.chaospsGBps, $r.bulk.chaospsVsDirect, $r.bulk.socatGBps, $r.bulk.chaospsVsSocat | Write-Host
"memory, 1000 ms latency toxic + fast sender for {0}s: RSS {1} MB -> peak {2} MB (+{3} MB) while delivering {4} MB/s" -f $r.memory.seconds, $r.memory.rssBeforeMB, $r.memory.rssPeakMB, $r.memory.rssGrowthMB, $r.memory.deliveredMBps | Write-Host
[pscustomobject]$results
