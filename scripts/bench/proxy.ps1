<#
.SYNOPSIS
    The chaos proxy side by side with a direct connection and with socat, in one run, as ratios (DESIGN §7):
      1. HTTP keep-alive through the proxy to nginx at 50 connections (wrk): req/s direct vs ChaosPS proxy vs
         `socat TCP-LISTEN:port,fork,reuseaddr TCP:127.0.0.1:nginxport`;
      2. added latency per hop at low load (wrk -c1 --latency): p50/p99 through the proxy minus direct;
      3. bulk throughput of one large transfer (dd | socat -> proxy -> socat sink), direct vs proxy;
      4. memory of this process while a 1000 ms latency toxic sits in front of a fast sender (bounded buffering).
    Everything listens on 127.0.0.1; nginx runs from a throwaway config in a temp folder and is stopped at the end.
    Needs nginx, wrk and socat (apt-get install nginx wrk socat; tried once when missing).
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench proxy
#>
param(
    [string] $ModulePath = (Get-ChildItem "$PSScriptRoot/../../out/ChaosPS/*/ChaosPS.psd1" -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty FullName),
    [int] $Seconds = 10,
    [int] $Connections = 50,
    [int] $BulkMB = 4096
)
$ErrorActionPreference = 'Stop'
if (-not $env:CHAOSPS_STATE_DIR) { $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-$PID" }
Import-Module $ModulePath

$missing = 'nginx', 'wrk', 'socat' | Where-Object { -not (Get-Command $_ -ErrorAction SilentlyContinue) -and -not (Test-Path "/usr/sbin/$_") }
if ($missing) {
    Write-Host "installing $($missing -join ', ')"
    & sudo -n apt-get install -y -q @missing 2>&1 | Out-Null
    if ($LASTEXITCODE) { & apt-get install -y -q @missing 2>&1 | Out-Null }
}
$nginxExe = (Get-Command nginx -ErrorAction SilentlyContinue).Source; if (-not $nginxExe) { $nginxExe = '/usr/sbin/nginx' }
foreach ($t in 'wrk', 'socat') { if (-not (Get-Command $t -ErrorAction SilentlyContinue)) { throw "$t is not installed (apt-get install wrk socat nginx)" } }

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
function Invoke-Wrk([string] $Url, [int] $C, [int] $T, [int] $D, [switch] $Latency) {
    $args = @("-t$T", "-c$C", "-d${D}s"); if ($Latency) { $args += '--latency' }
    $out = & wrk @args $Url 2>&1 | Out-String
    $rps = if ($out -match 'Requests/sec:\s+([\d.]+)') { [double]$Matches[1] } else { [double]::NaN }
    function ToUs($v, $u) { switch ($u) { 'us' { [double]$v } 'ms' { [double]$v * 1000 } 's' { [double]$v * 1e6 } } }
    $p50 = if ($out -match '\s50%\s+([\d.]+)(us|ms|s)') { ToUs $Matches[1] $Matches[2] } else { $null }
    $p99 = if ($out -match '\s99%\s+([\d.]+)(us|ms|s)') { ToUs $Matches[1] $Matches[2] } else { $null }
    $errors = if ($out -match 'Socket errors: (.*)') { $Matches[1].Trim() } elseif ($out -match 'Non-2xx or 3xx responses: (\d+)') { "non-2xx $($Matches[1])" } else { '' }
    [pscustomobject]@{ Rps = $rps; P50Us = $p50; P99Us = $p99; Errors = $errors; Raw = $out }
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

    # 1. keep-alive req/s at 50 connections
    Write-Host "== wrk -t2 -c$Connections -d${Seconds}s: direct, ChaosPS proxy, socat" -ForegroundColor Cyan
    Invoke-Wrk "http://127.0.0.1:$nginxPort/" $Connections 2 2 | Out-Null   # warm-up (JIT, nginx)
    Invoke-Wrk "http://$($proxy.Listen)/" $Connections 2 2 | Out-Null
    $direct = Invoke-Wrk "http://127.0.0.1:$nginxPort/" $Connections 2 $Seconds
    $viaProxy = Invoke-Wrk "http://$($proxy.Listen)/" $Connections 2 $Seconds
    $viaSocat = Invoke-Wrk "http://127.0.0.1:$socatPort/" $Connections 2 $Seconds
    $results.rps = [ordered]@{
        direct = $direct.Rps; chaosps = $viaProxy.Rps; socat = $viaSocat.Rps
        chaospsVsDirect = [math]::Round($viaProxy.Rps / $direct.Rps, 3); socatVsDirect = [math]::Round($viaSocat.Rps / $direct.Rps, 3)
        chaospsVsSocat = [math]::Round($viaProxy.Rps / $viaSocat.Rps, 2)
        errors = "direct: $($direct.Errors); chaosps: $($viaProxy.Errors); socat: $($viaSocat.Errors)"
    }

    # 2. added latency per hop at low load
    Write-Host "== wrk -t1 -c1 -d${Seconds}s --latency: direct vs proxy" -ForegroundColor Cyan
    $lDirect = Invoke-Wrk "http://127.0.0.1:$nginxPort/" 1 1 $Seconds -Latency
    $lProxy = Invoke-Wrk "http://$($proxy.Listen)/" 1 1 $Seconds -Latency
    $results.latency = [ordered]@{
        directP50Us = $lDirect.P50Us; directP99Us = $lDirect.P99Us; proxyP50Us = $lProxy.P50Us; proxyP99Us = $lProxy.P99Us
        addedP50Us = [math]::Round($lProxy.P50Us - $lDirect.P50Us, 1); addedP99Us = [math]::Round($lProxy.P99Us - $lDirect.P99Us, 1)
    }

    # 3. bulk: one large transfer, dd | socat -> (proxy) -> socat sink
    Write-Host "== bulk: $BulkMB MB in one connection, direct vs proxy" -ForegroundColor Cyan
    function Measure-Bulk([int] $SinkPort, [string] $Via) {
        $sink = Start-Process socat -ArgumentList "-b", "1048576", "-u", "TCP-LISTEN:$SinkPort,reuseaddr,bind=127.0.0.1", "OPEN:/dev/null" -PassThru
        $procs.Add($sink); Wait-Listen $SinkPort
        Start-Sleep -Milliseconds 200
        $sw = [Diagnostics.Stopwatch]::StartNew()
        & bash -c "dd if=/dev/zero bs=1M count=$BulkMB status=none | socat -b 1048576 -u STDIN TCP:$Via"
        $sink.WaitForExit(60000) | Out-Null
        $sw.Elapsed.TotalSeconds
    }
    $sinkPort = Get-FreePort
    $tDirect = Measure-Bulk $sinkPort "127.0.0.1:$sinkPort"
    $sinkPort2 = Get-FreePort
    $bulkProxy = Start-ChaosProxy -Name "bench-bulk-$PID" -Upstream "127.0.0.1:$sinkPort2"
    $tProxy = Measure-Bulk $sinkPort2 $bulkProxy.Listen
    $results.bulk = [ordered]@{
        megabytes = $BulkMB
        directGBps = [math]::Round($BulkMB * 1MB / $tDirect / 1e9, 2); proxyGBps = [math]::Round($BulkMB * 1MB / $tProxy / 1e9, 2)
        proxyVsDirect = [math]::Round($tDirect / $tProxy, 3)
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
"keep-alive, {0} connections, {1}s each: direct {2:N0} req/s | ChaosPS {3:N0} ({4:P0} of direct) | socat {5:N0} ({6:P0} of direct) | ChaosPS/socat {7}x" -f `
    $Connections, $Seconds, $r.rps.direct, $r.rps.chaosps, $r.rps.chaospsVsDirect, $r.rps.socat, $r.rps.socatVsDirect, $r.rps.chaospsVsSocat | Write-Host
"added latency per hop at 1 connection: p50 +{0} us, p99 +{1} us (direct p50 {2} us / p99 {3} us)" -f $r.latency.addedP50Us, $r.latency.addedP99Us, $r.latency.directP50Us, $r.latency.directP99Us | Write-Host
"bulk, one {0} MB transfer: direct {1} GB/s, through the proxy {2} GB/s ({3:P0})" -f $r.bulk.megabytes, $r.bulk.directGBps, $r.bulk.proxyGBps, $r.bulk.proxyVsDirect | Write-Host
"memory, 1000 ms latency toxic + fast sender for {0}s: RSS {1} MB -> peak {2} MB (+{3} MB) while delivering {4} MB/s" -f $r.memory.seconds, $r.memory.rssBeforeMB, $r.memory.rssPeakMB, $r.memory.rssGrowthMB, $r.memory.deliveredMBps | Write-Host
[pscustomobject]$results
