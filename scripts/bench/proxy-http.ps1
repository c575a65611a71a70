<#
.SYNOPSIS
    What the proxy's HTTP mode costs, in one run and as same-run ratios (the machine is shared and noisy): HTTP
    keep-alive to nginx with wrk (req/s and p99 latency), in turn -Rounds times, medians quoted:
      direct          wrk -> nginx
      tcp             wrk -> ChaosPS proxy, TCP mode (no toxics) -> nginx
      http            wrk -> ChaosPS proxy, HTTP mode (no toxics) -> nginx
      http-fault-0    HTTP mode with an HttpStatus fault that matches every request at 0% (each request is drawn)
      http-503-20     HTTP mode answering 20% with 503 (the measured share is printed; those never reach nginx)
    Everything listens on 127.0.0.1; nginx runs from a throwaway config in a temp folder and is stopped at the end.
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench proxy-http
#>
param(
    [string] $ModulePath = (Get-ChildItem "$PSScriptRoot/../../out/ChaosPS/*/ChaosPS.psd1" -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty FullName),
    [int] $Seconds = 5,
    [int] $Rounds = 3,
    [int] $Connections = 50,
    [int] $Threads = 2
)
$ErrorActionPreference = 'Stop'
if (-not $env:CHAOSPS_STATE_DIR) { $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-$PID" }
Import-Module $ModulePath
$nginxExe = (Get-Command nginx -ErrorAction SilentlyContinue).Source; if (-not $nginxExe) { $nginxExe = '/usr/sbin/nginx' }
if (-not (Get-Command wrk -ErrorAction SilentlyContinue)) { throw 'wrk is not installed (apt-get install wrk nginx)' }

function Get-FreePort { $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p }
function Wait-Port([int] $Port) {
    for ($i = 0; $i -lt 100; $i++) { try { [Net.Sockets.TcpClient]::new('127.0.0.1', $Port).Dispose(); return } catch { Start-Sleep -Milliseconds 50 } }
    throw "nothing listens on 127.0.0.1:$Port"
}
function ConvertTo-Ms([string] $v) {
    if ($v -match '^([\d.]+)(us|ms|s)$') { $n = [double]$Matches[1]; switch ($Matches[2]) { 'us' { $n / 1000 } 'ms' { $n } 's' { $n * 1000 } } } else { [double]::NaN }
}
function Invoke-Wrk([string] $Url, [int] $D) {
    $out = & wrk "-t$Threads" "-c$Connections" "-d$($D)s" --latency $Url 2>&1 | Out-String
    [pscustomobject]@{
        Rps = if ($out -match 'Requests/sec:\s+([\d.]+)') { [double]$Matches[1] } else { [double]::NaN }
        P99 = if ($out -match '(?m)^\s+99%\s+(\S+)') { ConvertTo-Ms $Matches[1] } else { [double]::NaN }
        Requests = if ($out -match '(\d+) requests in') { [long]$Matches[1] } else { 0 }
        Non2xx = if ($out -match 'Non-2xx or 3xx responses: (\d+)') { [long]$Matches[1] } else { 0 }
        Errors = if ($out -match 'Socket errors: (.*)') { $Matches[1].Trim() } else { '' }
    }
}
function Median([double[]] $v) { $s = $v | Sort-Object; if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 } }

$tmp = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-proxy-http-$PID"
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

$names = @()
try {
    & $nginxExe -c "$tmp/nginx.conf" -p $tmp 2>&1 | Out-Null
    Wait-Port $nginxPort
    $up = "127.0.0.1:$nginxPort"
    $tcp = Start-ChaosProxy -Name "bh-tcp-$PID" -Upstream $up; $names += $tcp.Name
    $http = Start-ChaosProxy -Name "bh-http-$PID" -Upstream $up -Mode Http; $names += $http.Name
    $zero = Start-ChaosProxy -Name "bh-zero-$PID" -Upstream $up -Mode Http; $names += $zero.Name
    Add-NetworkFault -Proxy $zero.Name -Type HttpStatus -Percent 0 -Path / -Confirm:$false | Out-Null
    $fault = Start-ChaosProxy -Name "bh-503-$PID" -Upstream $up -Mode Http; $names += $fault.Name
    Add-NetworkFault -Proxy $fault.Name -Type HttpStatus -StatusCode 503 -Percent 20 -Confirm:$false | Out-Null
    $paths = [ordered]@{
        'direct' = "http://${up}/"; 'tcp' = "http://$($tcp.Listen)/"; 'http' = "http://$($http.Listen)/"
        'http-fault-0' = "http://$($zero.Listen)/"; 'http-503-20' = "http://$($fault.Listen)/"
    }
    Write-Host "== wrk -t$Threads -c$Connections -d$($Seconds)s --latency x $Rounds rounds, paths in turn" -ForegroundColor Cyan
    foreach ($u in $paths.Values) { Invoke-Wrk $u 1 | Out-Null } # warm-up (JIT, nginx)
    $runs = @{}; foreach ($k in $paths.Keys) { $runs[$k] = [System.Collections.Generic.List[object]]::new() }
    for ($r = 1; $r -le $Rounds; $r++) {
        foreach ($k in $paths.Keys) { $runs[$k].Add((Invoke-Wrk $paths[$k] $Seconds)) }
        Write-Host ("   round {0}: " -f $r) -NoNewline
        Write-Host (($paths.Keys | ForEach-Object { '{0} {1:N0}/s p99 {2:N2}ms' -f $_, $runs[$_][-1].Rps, $runs[$_][-1].P99 }) -join ' | ')
    }
    $direct = Median ($runs['direct'] | ForEach-Object Rps)
    $table = foreach ($k in $paths.Keys) {
        $rps = Median ($runs[$k] | ForEach-Object Rps)
        $req = ($runs[$k] | Measure-Object Requests -Sum).Sum; $bad = ($runs[$k] | Measure-Object Non2xx -Sum).Sum
        [pscustomobject]@{
            Path = $k; ReqPerSec = [math]::Round($rps); VsDirect = [math]::Round($rps / $direct, 3)
            P99Ms = [math]::Round((Median ($runs[$k] | ForEach-Object P99)), 2)
            Non2xxShare = if ($req) { [math]::Round($bad / $req, 4) } else { 0 }
            Errors = ($runs[$k] | ForEach-Object Errors | Where-Object { $_ } | Select-Object -First 1)
        }
    }
    $table | Format-Table -AutoSize | Out-String | Write-Host
    $f = (Get-ChaosProxy $fault.Name).Toxics[0]
    Write-Host ("http-503-20: the fault hit {0:N0} of {1:N0} requests ({2:P2})" -f $f.Activations, $f.RequestsMatched, ($f.Activations / [math]::Max(1, $f.RequestsMatched)))
    $null = $table
} finally {
    foreach ($n in $names) { Stop-ChaosProxy $n -Confirm:$false -ErrorAction SilentlyContinue }
    if (Test-Path "$tmp/nginx.pid") { & $nginxExe -c "$tmp/nginx.conf" -p $tmp -s stop 2>&1 | Out-Null }
    Remove-Item $tmp -Recurse -Force -ErrorAction SilentlyContinue
}
