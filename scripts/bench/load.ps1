<#
.SYNOPSIS
    Start-LoadTest side by side with wrk and hey against nginx (Debian) on 127.0.0.1, quoted as ratios; generator
    memory at 1000 connections; open-model rate accuracy at 10,000 req/s; the coordinated-omission experiment.
.DESCRIPTION
    1. nginx with a throwaway config in a temp dir (return 200 "hello world", access log off).
    2. For 50 and 1000 connections: -Rounds interleaved rounds of wrk -t1, hey, and ChaosPS (closed model, Auto engine)
       for -Seconds each; medians of req/s and the ratios ChaosPS/wrk and ChaosPS/hey. ChaosPS runs in a fresh pwsh
       child so its peak RSS (VmHWM) is the generator's alone; a child that only imports the module gives the baseline.
    2b. HTTPS (TLS, HTTP/1.1, self-signed certificate made with openssl for this run): for each -Connections, -Rounds
       interleaved rounds of wrk -t1, ChaosPS -Engine Epoll (the epoll loop with OpenSSL, what Auto picks on Linux
       x64), ChaosPS -Engine Raw (async raw sockets with SslStream, TlsWorker) and ChaosPS -Engine HttpClient;
       medians and the ratios to wrk. -HttpsOnly runs only this part.
    3. Open model at -OpenRate (10,000) req/s for 10 s: achieved rate vs requested, late and dropped.
    4. Coordinated omission: 1000 req/s for 10 s, SIGSTOP nginx's worker for 1 s in the middle; corrected latency p99
       (from intended send time) vs service time p99.
    The machine is shared: numbers vary run to run; the ratios within one run are what to read.
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench load
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Seconds = 8,
    # A list (-Connections 50,1000); under pwsh -File it arrives as one string, split here.
    [string[]] $Connections = @('50', '1000'),
    [double] $OpenRate = 10000,
    [int] $Rounds = 3,
    [switch] $HttpsOnly,
    [string] $OutFile
)
$ErrorActionPreference = 'Stop'
$connectionCounts = @($Connections | ForEach-Object { "$_" -split '[,\s]+' } | Where-Object { $_ } | ForEach-Object { [int]$_ })
if (-not $OutFile) {
    $benchDir = New-Item -ItemType Directory -Force (Join-Path $PSScriptRoot '../../out/bench')
    $OutFile = Join-Path $benchDir "load-$((Get-Date).ToUniversalTime().ToString('yyyyMMdd-HHmmss')).json"
}
$ModulePath = (Resolve-Path $ModulePath).Path
foreach ($tool in 'nginx', 'wrk', 'hey', 'openssl') {
    if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) { throw "$tool is not installed (apt-get install -y nginx wrk hey)" }
}
$pwshExe = (Get-Process -Id $PID).Path
$pwshPre = @(if ((Split-Path $pwshExe -Leaf) -notmatch '^pwsh(\.exe)?$') { Join-Path $PSHOME 'pwsh.dll' })

function Invoke-Child([string] $script) {
    # Runs a script in a fresh pwsh; returns its JSON output as an object.
    $f = [IO.Path]::GetTempFileName() + '.ps1'
    Set-Content $f $script
    try {
        $out = & $pwshExe @pwshPre -NoProfile -NonInteractive -File $f
        $json = ($out | Where-Object { $_ -match '^\{' } | Select-Object -Last 1)
        if (-not $json) { throw "child produced no result: $($out -join "`n")" }
        $json | ConvertFrom-Json
    }
    finally { Remove-Item $f -ErrorAction SilentlyContinue }
}

$dir = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-nginx-$PID"
New-Item -ItemType Directory -Force $dir | Out-Null
$l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $port = $l.LocalEndpoint.Port; $l.Stop()
$l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $tlsPort = $l.LocalEndpoint.Port; $l.Stop()
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 2 -subj '/CN=127.0.0.1' -addext 'subjectAltName=IP:127.0.0.1' 2>$null
@"
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 8192; }
worker_rlimit_nofile 16384;
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server { listen 127.0.0.1:$port backlog=4096; location / { return 200 "hello world\n"; } }
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:bench:10m;
  server { listen 127.0.0.1:$tlsPort ssl backlog=4096; ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem; location / { return 200 "hello world\n"; } }
}
"@ | Set-Content "$dir/nginx.conf"
nginx -c "$dir/nginx.conf"
Start-Sleep -Milliseconds 500
$url = "http://127.0.0.1:$port/"
$masterPid = [int](Get-Content "$dir/nginx.pid")
$workerPids = @((Get-Content "/proc/$masterPid/task/$masterPid/children" -ErrorAction SilentlyContinue) -split '\s+' | Where-Object { $_ } | ForEach-Object { [int]$_ })
$rows = [Collections.Generic.List[object]]::new()
$report = [ordered]@{ Date = (Get-Date).ToUniversalTime().ToString('u'); Cores = [Environment]::ProcessorCount; LoadAvg = (Get-Content /proc/loadavg); UlimitN = (bash -c 'ulimit -n') }
try {
    $baseline = Invoke-Child "Import-Module '$ModulePath'; `$p = Get-Process -Id `$PID; [GC]::Collect(); @{ PeakMB = [math]::Round(`$p.PeakWorkingSet64 / 1MB, 1) } | ConvertTo-Json -Compress"
    $report.PwshBaselinePeakMB = $baseline.PeakMB
    # HTTPS: interleaved rounds, medians.
    $tlsUrl = "https://127.0.0.1:$tlsPort/"
    function Median([double[]] $v) { $s = @($v | Sort-Object); if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }
    $httpsRows = [Collections.Generic.List[object]]::new()
    foreach ($c in $connectionCounts) {
        $w = @(); $t = @(); $e = @(); $h = @(); $tFailed = 0; $eFailed = 0; $tlsP50 = @(); $eTlsP50 = @(); $eEngine = $null; $ePeak = @(); $tPeak = @()
        for ($i = 0; $i -lt $Rounds; $i++) {
            $wrkOut = wrk -t1 "-c$c" "-d${Seconds}s" --timeout 10s $tlsUrl 2>&1
            $w += [double](($wrkOut | Select-String 'Requests/sec:\s+([\d.]+)').Matches[0].Groups[1].Value)
            foreach ($engine in 'Epoll', 'Raw', 'HttpClient') {
                # -Engine Epoll is refused (ChaosPS.InvalidEngine) where libssl.so.3 cannot be loaded: that row stays 0.
                $cp = Invoke-Child @"
Import-Module '$ModulePath'
try {
    `$r = Start-LoadTest '$tlsUrl' -Concurrency $c -Duration ${Seconds}s -SkipCertificateCheck -Engine $engine -ProgressAction SilentlyContinue -ErrorAction Stop
    @{ Rps = `$r.RequestsPerSecond; Failed = `$r.Failed; Engine = `$r.Engine; TlsP50 = `$r.TlsHandshake.P50; PeakMB = `$r.Generator.PeakWorkingSetMB } | ConvertTo-Json -Compress
}
catch { @{ Rps = 0; Failed = 0; Engine = "`$(`$_.FullyQualifiedErrorId)"; TlsP50 = 0 } | ConvertTo-Json -Compress }
"@
                switch ($engine) {
                    'Epoll' { $e += $cp.Rps; $eFailed += $cp.Failed; $eTlsP50 += $cp.TlsP50; $eEngine = $cp.Engine; $ePeak += $cp.PeakMB }
                    'Raw' { $t += $cp.Rps; $tFailed += $cp.Failed; $tlsP50 += $cp.TlsP50; $tEngine = $cp.Engine; $tPeak += $cp.PeakMB }
                    default { $h += $cp.Rps }
                }
            }
        }
        $mw = Median $w; $mt = Median $t; $me = Median $e; $mh = Median $h
        $httpsRows.Add([pscustomobject]@{
            Connections = $c; Rounds = $Rounds; WrkRps = $mw
            ChaosPSEpollTlsRps = $me; EpollTlsVsWrk = [math]::Round($me / [math]::Max($mw, 1), 2)
            ChaosPSTlsRps = $mt; TlsVsWrk = [math]::Round($mt / [math]::Max($mw, 1), 2)
            ChaosPSHttpClientRps = $mh; HttpClientVsWrk = [math]::Round($mh / [math]::Max($mw, 1), 2)
            EpollEngine = $eEngine; EpollFailed = $eFailed; EpollHandshakeP50ms = (Median $eTlsP50); EpollPeakRssMB = (Median $ePeak); TlsPeakRssMB = (Median $tPeak)
            Engine = $tEngine; ChaosPSFailed = $tFailed; HandshakeP50ms = (Median $tlsP50)
            WrkAll = $w -join ' '; EpollTlsAll = $e -join ' '; ChaosPSTlsAll = $t -join ' '; HttpClientAll = $h -join ' '
        })
    }
    $report.Https = $httpsRows
    if (-not $HttpsOnly) {

    foreach ($c in $connectionCounts) {
        # -Rounds interleaved rounds (wrk, hey, ChaosPS), medians: the machine's noise hits all three alike.
        $w = @(); $hy = @(); $cps = @(); $last = $null; $wrkErr = ''
        for ($i = 0; $i -lt $Rounds; $i++) {
            $wrkOut = wrk -t1 "-c$c" "-d${Seconds}s" --timeout 10s $url 2>&1
            $w += [double](($wrkOut | Select-String 'Requests/sec:\s+([\d.]+)').Matches[0].Groups[1].Value)
            $wrkErr = ($wrkOut | Select-String 'Socket errors|Non-2xx') -join '; '
            $heyOut = hey -c $c -z "${Seconds}s" $url 2>&1
            $hy += [double](($heyOut | Select-String 'Requests/sec:\s+([\d.]+)').Matches[0].Groups[1].Value)
            $last = Invoke-Child @"
Import-Module '$ModulePath'
`$r = Start-LoadTest '$url' -Concurrency $c -Duration ${Seconds}s -ProgressAction SilentlyContinue
@{ Rps = `$r.RequestsPerSecond; Failed = `$r.Failed; Errors = (`$r.ErrorsByKind | ConvertTo-Json -Compress); P99 = `$r.Latency.P99; PeakMB = `$r.Generator.PeakWorkingSetMB; Cpu = `$r.Generator.CpuAvgPercent; Engine = `$r.Engine } | ConvertTo-Json -Compress
"@
            $cps += [double]$last.Rps
        }
        $wrkRps = Median $w; $heyRps = Median $hy; $cpRps = Median $cps
        $rows.Add([pscustomobject]@{
            Connections = $c; Rounds = $Rounds; WrkRps = $wrkRps; HeyRps = $heyRps; ChaosPSRps = $cpRps; Engine = $last.Engine
            VsWrk = [math]::Round($cpRps / [math]::Max($wrkRps, 1), 2); VsHey = [math]::Round($cpRps / [math]::Max($heyRps, 1), 2)
            ChaosPSFailed = $last.Failed; ChaosPSErrors = $last.Errors; ChaosPSP99ms = $last.P99; ChaosPSPeakRssMB = $last.PeakMB; ChaosPSCpuPct = $last.Cpu; WrkErrors = $wrkErr
            WrkAll = $w -join ' '; HeyAll = $hy -join ' '; ChaosPSAll = $cps -join ' '
        })
    }
    $report.Throughput = $rows

    $open = Invoke-Child @"
Import-Module '$ModulePath'
`$r = Start-LoadTest '$url' -Rate $OpenRate -Duration 10s -ProgressAction SilentlyContinue
@{ Achieved = `$r.RequestsPerSecond; Requests = `$r.Requests; Scheduled = `$r.Scheduled; Late = `$r.Late; Dropped = `$r.Dropped; DurationS = `$r.Duration.TotalSeconds; P99 = `$r.Latency.P99; Cpu = `$r.Generator.CpuAvgPercent } | ConvertTo-Json -Compress
"@
    $report.OpenModel = [pscustomobject]@{
        RequestedRps = $OpenRate; AchievedRps = $open.Achieved; Accuracy = [math]::Round($open.Achieved / $OpenRate, 4)
        Sent = $open.Requests; Scheduled = $open.Scheduled; Late = $open.Late; Dropped = $open.Dropped; LatencyP99ms = $open.P99; CpuPct = $open.Cpu
    }

    # Coordinated omission: stall nginx's worker for 1 s in the middle of a 10 s run at 1000 req/s.
    Import-Module $ModulePath
    $job = Start-LoadTest $url -Rate 1000 -Duration 10s -Connections 50 -AsJob
    Start-Sleep -Milliseconds 4500
    foreach ($w in $workerPids) { kill -STOP $w }
    Start-Sleep -Seconds 1
    foreach ($w in $workerPids) { kill -CONT $w }
    $co = $job | Wait-Job | Receive-Job
    Remove-Job $job
    $report.CoordinatedOmission = [pscustomobject]@{
        StalledPids = $workerPids -join ','; Requests = $co.Requests
        CorrectedP50ms = $co.Latency.P50; CorrectedP99ms = $co.Latency.P99; CorrectedP999ms = $co.Latency.P999; CorrectedMaxms = $co.Latency.Max
        ServiceP50ms = $co.ServiceTime.P50; ServiceP99ms = $co.ServiceTime.P99; ServiceP999ms = $co.ServiceTime.P999; ServiceMaxms = $co.ServiceTime.Max
        Late = $co.Late; Dropped = $co.Dropped
    }
    }
}
finally {
    foreach ($w in $workerPids) { kill -CONT $w 2>$null }
    nginx -c "$dir/nginx.conf" -s stop 2>$null
    Start-Sleep -Milliseconds 300
    Remove-Item -Recurse -Force $dir -ErrorAction SilentlyContinue
}
$report.LoadAvgAfter = (Get-Content /proc/loadavg)
"== HTTPS, HTTP/1.1 (req/s, medians of $Rounds interleaved rounds; ratios are ChaosPS / wrk -t1)"
"   EpollTls = -Engine Epoll (epoll loop + OpenSSL, Auto's choice here); Tls = -Engine Raw (SslStream, TlsWorker)"
$httpsRows | Format-Table Connections, WrkRps, ChaosPSEpollTlsRps, EpollTlsVsWrk, ChaosPSTlsRps, TlsVsWrk, ChaosPSHttpClientRps, HttpClientVsWrk, EpollFailed, ChaosPSFailed, EpollHandshakeP50ms, HandshakeP50ms, EpollPeakRssMB, TlsPeakRssMB -AutoSize | Out-String -Width 250
$httpsRows | Format-List Connections, EpollEngine, WrkAll, EpollTlsAll, ChaosPSTlsAll, HttpClientAll | Out-String
if ($HttpsOnly) { "load average before: $($report.LoadAvg)  after: $($report.LoadAvgAfter)"; $report | ConvertTo-Json -Depth 5 | Set-Content $OutFile; "JSON: $OutFile"; return }
"== Throughput, HTTP/1.1 keep-alive (req/s, medians of $Rounds interleaved rounds; ratios are ChaosPS / tool)"
$rows | Format-Table Connections, WrkRps, HeyRps, ChaosPSRps, VsWrk, VsHey, Engine, ChaosPSFailed, ChaosPSPeakRssMB, ChaosPSCpuPct -AutoSize | Out-String -Width 250
$rows | Format-List Connections, WrkAll, HeyAll, ChaosPSAll | Out-String
"pwsh + module baseline peak RSS: $($report.PwshBaselinePeakMB) MB"
"== Open model at $OpenRate req/s for 10 s"
$report.OpenModel | Format-List | Out-String
"== Coordinated omission (1000 req/s, 10 s, target SIGSTOPped for 1 s)"
$report.CoordinatedOmission | Format-List | Out-String
"load average before: $($report.LoadAvg)  after: $($report.LoadAvgAfter)"
$report | ConvertTo-Json -Depth 5 | Set-Content $OutFile
"JSON: $OutFile"
