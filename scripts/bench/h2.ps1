<#
.SYNOPSIS
    HTTP/2: Start-LoadTest -Http2 side by side with h2load (nghttp2-client) against nginx with http2 on 127.0.0.1,
    cleartext (prior knowledge, h2c) and TLS (ALPN h2); medians of interleaved rounds, quoted as ratios.
.DESCRIPTION
    nginx (Debian) with a throwaway config in a temp dir: one worker, access log off, return 200 "hello world", one
    cleartext http2 server and one TLS http2 server (self-signed certificate made with openssl for this run).
    For each case (cleartext and TLS; 50 connections with 1 stream each, 10 connections with 10 streams each), an
    untimed -WarmupSeconds run of h2load and of ChaosPS, then -Rounds interleaved rounds of: h2load -D -Seconds -c C -m M; Start-LoadTest -Http2 -Concurrency C*M -StreamsPerConnection M
    (closed model, the engine's own HTTP/2 client); and, where one stream per connection, Start-LoadTest -Http2
    -Engine HttpClient (SocketsHttpHandler) for reference. Reported: median req/s of each, ratio ChaosPS / h2load,
    ChaosPS failures and generator CPU, and the load average before and after (the machine is shared: the ratios
    within one run are what to read). JSON to -OutFile.
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench h2
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [int] $Seconds = 5,
    [int] $Rounds = 5,
    [string[]] $Case = @('h2c c50 m1', 'h2c c10 m10', 'tls c50 m1', 'tls c10 m10'),
    [switch] $NoHttpClient,
    # Extra ChaosPS rows in the same interleaved rounds, one per value of CHAOSPS_H2_REPOLL (the epoll thread's write
    # batching: -1 writes after each connection's read, as before batching per turn; 0 at the end of each epoll turn;
    # N after up to N more non-blocking polls; the default is 3): before/after figures from one run. Each row also
    # gives nginx's worker CPU time per request (/proc/PID/stat).
    [string[]] $Repoll = @(),
    # Extra ChaosPS rows, one per 'NAME=VALUE' environment setting (e.g. CHAOSPS_H2_HPACK_INDEX=0: request headers
    # as plain literals, without the server's HPACK dynamic table), in the same interleaved rounds.
    [string[]] $Variant = @(),
    # An untimed run of each tool per case before its rounds (seconds; 0 = none): the engine's hot paths reach the
    # JIT's optimised tier, and nginx and the kernel warm up, so the first round measures steady state, not warm-up.
    [int] $WarmupSeconds = 3,
    [string] $OutFile = "$PSScriptRoot/../../out/bench/h2.json"
)
$ErrorActionPreference = 'Stop'
$Repoll = @($Repoll | ForEach-Object { $_ -split ',' } | ForEach-Object Trim | Where-Object { $_ })
$Variant = @(@($Repoll | ForEach-Object { "CHAOSPS_H2_REPOLL=$_" }) + @($Variant | ForEach-Object { $_ -split ',' } | ForEach-Object Trim | Where-Object { $_ }))
foreach ($v in $Variant) { if ($v -notmatch '^CHAOSPS_[A-Z0-9_]+=') { throw "variant '$v' is not 'CHAOSPS_NAME=VALUE'" } }
foreach ($tool in 'nginx', 'h2load', 'openssl') {
    if (-not (Get-Command $tool -ErrorAction SilentlyContinue)) { throw "$tool is not installed (apt-get install -y nginx nghttp2-client openssl)" }
}
Import-Module (Resolve-Path $ModulePath).Path -Force
$PSDefaultParameterValues['Start-LoadTest:ProgressAction'] = 'SilentlyContinue'

function Get-FreePort { $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p }
function Median([double[]] $v) { $s = @($v | Sort-Object); if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }

$dir = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-h2-$PID"
New-Item -ItemType Directory -Force $dir | Out-Null
$port = Get-FreePort; $tlsPort = Get-FreePort
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 2 -subj '/CN=127.0.0.1' -addext 'subjectAltName=IP:127.0.0.1' 2>$null
# 'listen ... http2' is the form nginx 1.22 (Debian 12) knows; keepalive_requests also bounds requests per HTTP/2 connection.
@"
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  ssl_protocols TLSv1.2 TLSv1.3;
  server { listen 127.0.0.1:$port http2 backlog=4096; location / { return 200 "hello world\n"; } }
  server { listen 127.0.0.1:$tlsPort ssl http2 backlog=4096; ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem; location / { return 200 "hello world\n"; } }
}
"@ | Set-Content "$dir/nginx.conf"
nginx -c "$dir/nginx.conf"
if ($LASTEXITCODE) { throw "nginx did not start: $(Get-Content "$dir/error.log" -Raw)" }
Start-Sleep -Milliseconds 500
# nginx's one worker: its CPU time per request served is the server's cost of each client's requests, which a shared
# machine disturbs far less than req/s.
$nginxMaster = [int](Get-Content "$dir/nginx.pid")
$nginxWorker = [int]((Get-Content "/proc/$nginxMaster/task/$nginxMaster/children") -split ' ' | Where-Object { $_ } | Select-Object -First 1)
$tick = 1e6 / [double]((getconf CLK_TCK) | Select-Object -First 1)
function Get-NginxTicks { $f = (Get-Content "/proc/$nginxWorker/stat") -replace '^.*\) ', '' -split ' '; [long]$f[11] + [long]$f[12] }

function Invoke-H2load([string] $url, [int] $c, [int] $m, [int] $For = $Seconds) {
    $t0 = Get-NginxTicks
    $out = h2load -D $For -c $c -m $m $url 2>&1 | Out-String
    $dt = (Get-NginxTicks) - $t0
    if ($out -notmatch 'finished in [^,]+, ([0-9.]+) req/s') { throw "h2load gave no rate: $out" }
    $rps = [double]$Matches[1]
    if ($out -match 'requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, (\d+) failed') { $done = [long]$Matches[1]; $failed = [long]$Matches[2] } else { $done = 0; $failed = -1 }
    [pscustomobject]@{ Rps = $rps; Failed = $failed; NginxUs = if ($done) { [math]::Round($dt * $tick / $done, 2) } else { $null } }
}

function Invoke-ChaosPS([string] $url, [int] $c, [int] $m, [string] $engine, [int] $For = $Seconds) {
    $t0 = Get-NginxTicks
    $r = Start-LoadTest $url -Http2 -Engine $engine -Concurrency ($c * $m) -StreamsPerConnection $m -Duration "$($For)s" -SkipCertificateCheck -Name "h2 bench"
    $dt = (Get-NginxTicks) - $t0
    [pscustomobject]@{ Rps = [math]::Round($r.Requests / $r.Duration.TotalSeconds, 1); Failed = $r.Failed; Cpu = $r.Generator.CpuAvgPercent; Engine = $r.Engine
        NginxUs = if ($r.Requests) { [math]::Round($dt * $tick / $r.Requests, 2) } else { $null } }
}

$report = [ordered]@{
    Date = (Get-Date).ToUniversalTime().ToString('u'); Cores = [Environment]::ProcessorCount; LoadAvgBefore = (Get-Content /proc/loadavg)
    Nginx = ((nginx -v 2>&1) -join ' '); H2load = ((h2load --version 2>&1 | Select-Object -First 1) -join ' '); Seconds = $Seconds; Rounds = $Rounds
    Rows = [Collections.Generic.List[object]]::new()
}
try {
    foreach ($name in @($Case | ForEach-Object { $_ -split ',' } | ForEach-Object Trim)) {
        if ($name -notmatch '^(h2c|tls) c(\d+) m(\d+)$') { throw "case '$name' is not 'h2c|tls cN mM'" }
        $tls = $Matches[1] -eq 'tls'; $c = [int]$Matches[2]; $m = [int]$Matches[3]
        $url = if ($tls) { "https://127.0.0.1:$tlsPort/" } else { "http://127.0.0.1:$port/" }
        $withClient = -not $NoHttpClient -and $m -eq 1
        $h = @(); $o = @(); $hc = @(); $cpu = @(); $failed = 0; $hFailed = 0; $engine = $null; $hn = @(); $on = @()
        $vr = [ordered]@{}; $vn = [ordered]@{}; foreach ($v in $Variant) { $vr[$v] = @(); $vn[$v] = @() }
        function Invoke-Variants {
            foreach ($v in $Variant) {
                $vname, $vvalue = $v -split '=', 2
                [Environment]::SetEnvironmentVariable($vname, $vvalue)
                try { $x = Invoke-ChaosPS $url $c $m 'Auto'; $vr[$v] += $x.Rps; $vn[$v] += $x.NginxUs; $script:failed += $x.Failed }
                finally { [Environment]::SetEnvironmentVariable($vname, $null) }
            }
        }
        if ($WarmupSeconds -gt 0) {
            $null = Invoke-H2load $url $c $m $WarmupSeconds
            $null = Invoke-ChaosPS $url $c $m 'Auto' $WarmupSeconds
        }
        for ($i = 0; $i -lt $Rounds; $i++) {
            # Interleaved, and the first tool alternates, so neither always runs first after a pause; the variant rows
            # run last in even rounds and first in odd ones, so neither side of a before/after pair always runs later.
            $order = if ($i % 2) { 'variants', 'chaosps', 'h2load' } else { 'h2load', 'chaosps', 'variants' }
            foreach ($t in $order) {
                if ($t -eq 'variants') { Invoke-Variants; continue }
                if ($t -eq 'h2load') { $x = Invoke-H2load $url $c $m; $h += $x.Rps; $hFailed += $x.Failed; $hn += $x.NginxUs }
                else { $x = Invoke-ChaosPS $url $c $m 'Auto'; $o += $x.Rps; $cpu += $x.Cpu; $failed += $x.Failed; $engine = $x.Engine; $on += $x.NginxUs }
            }
            if ($withClient) { $x = Invoke-ChaosPS $url $c $m 'HttpClient'; $hc += $x.Rps; $failed += $x.Failed }
        }
        $rep = if ($Variant) { [ordered]@{} } else { $null }
        foreach ($v in $Variant) { $rep[$v] = [ordered]@{ Rps = (Median $vr[$v]); Ratio = [math]::Round((Median $vr[$v]) / (Median $h), 2); NginxUsPerRequest = (Median $vn[$v]); Rounds = $vr[$v]; NginxUsRounds = $vn[$v] } }
        $row = [ordered]@{
            Case = $name; Connections = $c; StreamsPerConnection = $m; H2loadRps = (Median $h); ChaosPSRps = (Median $o)
            Ratio = [math]::Round((Median $o) / (Median $h), 2); HttpClientRps = if ($withClient) { Median $hc } else { $null }
            HttpClientRatio = if ($withClient) { [math]::Round((Median $hc) / (Median $h), 2) } else { $null }
            ChaosPSFailed = $failed; H2loadFailed = $hFailed; ChaosPSCpuPercent = (Median $cpu); Engine = $engine
            H2loadRounds = $h; ChaosPSRounds = $o; HttpClientRounds = $hc
            H2loadNginxUs = (Median $hn); ChaosPSNginxUs = (Median $on); H2loadNginxUsRounds = $hn; ChaosPSNginxUsRounds = $on
            Variants = $rep
        }
        $report.Rows.Add([pscustomobject]$row)
        Write-Host ("{0,-12} h2load {1,9:0} req/s ({6:0.00} us nginx/req)   ChaosPS {2,9:0} req/s  ({3:0.00}x, {7:0.00} us nginx/req)   HttpClient {4,9}   failed {5}" -f $name, $row.H2loadRps, $row.ChaosPSRps, $row.Ratio,
            $(if ($withClient) { '{0:0} ({1:0.00}x)' -f $row.HttpClientRps, $row.HttpClientRatio } else { '-' }), $failed, $row.H2loadNginxUs, $row.ChaosPSNginxUs)
        foreach ($v in $Variant) { Write-Host ("{0,-12}   {1,-26} ChaosPS {2,9:0} req/s  ({3:0.00}x, {4:0.00} us nginx/req)" -f '', $v, $row.Variants[$v].Rps, $row.Variants[$v].Ratio, $row.Variants[$v].NginxUsPerRequest) }
    }
}
finally {
    nginx -c "$dir/nginx.conf" -s stop 2>$null
    Start-Sleep -Milliseconds 300
    Remove-Item -Recurse -Force $dir -ErrorAction SilentlyContinue
}
$report.LoadAvgAfter = (Get-Content /proc/loadavg)
"== HTTP/2 vs h2load (req/s, medians of $Rounds interleaved rounds of $Seconds s; ratio = ChaosPS / h2load)"
$report.Rows | Format-Table Case, H2loadRps, ChaosPSRps, Ratio, HttpClientRps, HttpClientRatio, ChaosPSFailed, ChaosPSCpuPercent, H2loadNginxUs, ChaosPSNginxUs -AutoSize | Out-String -Width 200
"load average before: $($report.LoadAvgBefore)  after: $($report.LoadAvgAfter)"
if ($OutFile) {
    New-Item -ItemType Directory -Force (Split-Path $OutFile) | Out-Null
    $report | ConvertTo-Json -Depth 5 | Set-Content $OutFile
    "JSON: $((Resolve-Path $OutFile).Path)"
}
