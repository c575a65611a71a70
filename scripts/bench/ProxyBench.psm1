<#
    Shared parts of the proxy benchmarks (proxy.ps1, proxy-http.ps1): free ports, waiting for listeners, background
    processes, a throwaway nginx, haproxy and socat as reference proxies, wrk runs and medians, and the JSON result
    file under out/bench/. Everything listens on 127.0.0.1 and everything started here is stopped by Stop-BenchAll.
#>
$ErrorActionPreference = 'Stop'
$script:Procs = [System.Collections.Generic.List[Diagnostics.Process]]::new()
$script:Dirs = [System.Collections.Generic.List[string]]::new()
$script:Nginx = @()

function Get-FreePort { $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p }

function Wait-Port([int] $Port) {
    for ($i = 0; $i -lt 100; $i++) { try { [Net.Sockets.TcpClient]::new('127.0.0.1', $Port).Dispose(); return } catch { Start-Sleep -Milliseconds 50 } }
    throw "nothing listens on 127.0.0.1:$Port"
}

function Wait-Listen([int] $Port) {
    # Like Wait-Port, without connecting (a single-shot `socat TCP-LISTEN` would take the probe as its one client).
    for ($i = 0; $i -lt 100; $i++) { if (& ss -Hltn "sport = :$Port") { return }; Start-Sleep -Milliseconds 50 }
    throw "nothing listens on 127.0.0.1:$Port"
}

function Find-Tool([string] $Name) {
    $c = Get-Command $Name -ErrorAction SilentlyContinue
    if ($c) { return $c.Source }
    if (Test-Path "/usr/sbin/$Name") { return "/usr/sbin/$Name" }
    $null
}

<# Installs the Debian packages that are missing (tried once, quietly); throws naming what is still missing. #>
function Assert-BenchTools([string[]] $Names) {
    $missing = $Names | Where-Object { -not (Find-Tool $_) }
    if ($missing) {
        Write-Host "installing $($missing -join ', ')"
        & sudo -n apt-get install -y -q @missing 2>&1 | Out-Null
        if ($LASTEXITCODE) { & apt-get install -y -q @missing 2>&1 | Out-Null }
    }
    $still = $Names | Where-Object { -not (Find-Tool $_) }
    if ($still) { throw "not installed: $($still -join ', ') (apt-get install $($Names -join ' '))" }
}

function Start-Bg([string] $Exe, [string[]] $Arguments) {
    $psi = [Diagnostics.ProcessStartInfo]::new($Exe)
    foreach ($a in $Arguments) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $p = [Diagnostics.Process]::Start($psi)
    $script:Procs.Add($p)
    $p
}

function New-BenchDir([string] $Name) {
    $d = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-$Name-$PID"
    New-Item -ItemType Directory -Force $d | Out-Null
    $script:Dirs.Add($d)
    $d
}

<# nginx from a throwaway config (one worker, keep-alive without limits, a 16-byte page); returns its port. #>
function Start-BenchNginx {
    $exe = Find-Tool nginx
    $tmp = New-BenchDir nginx
    New-Item -ItemType Directory -Force "$tmp/logs", "$tmp/www" | Out-Null
    [IO.File]::WriteAllText("$tmp/www/index.html", 'hello from nginx')
    $port = Get-FreePort
    @"
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;
events { worker_connections 16384; }
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path $tmp/body; proxy_temp_path $tmp/proxy; fastcgi_temp_path $tmp/fcgi; uwsgi_temp_path $tmp/uwsgi; scgi_temp_path $tmp/scgi;
    server { listen 127.0.0.1:$port backlog=4096; root $tmp/www; location / { index index.html; } }
}
"@ | Set-Content "$tmp/nginx.conf"
    & $exe -c "$tmp/nginx.conf" -p $tmp 2>&1 | Out-Null
    $script:Nginx += , @($exe, $tmp)
    Wait-Port $port
    $port
}

<#
    haproxy as a plain TCP relay (mode tcp) from a config in a temp file, in the foreground (-db) as a child of this
    process (never the system service); nbthread as given, so it runs on as many threads as the proxy it is compared
    with. Returns its port.
#>
function Start-BenchHaproxy([string] $Upstream, [int] $Threads = 1) {
    $exe = Find-Tool haproxy
    $tmp = New-BenchDir haproxy
    $port = Get-FreePort
    @"
global
    nbthread $Threads
    maxconn 4000
    log stderr format raw local0 emerg
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen bench
    bind 127.0.0.1:$port
    server upstream $Upstream
"@ | Set-Content "$tmp/haproxy.cfg"
    $p = Start-Bg $exe '-db', '-f', "$tmp/haproxy.cfg"
    Wait-Listen $port
    $script:LastHaproxyPid = $p.Id
    $port
}

<# The process id of the haproxy the last Start-BenchHaproxy started (for CPU figures). #>
function Get-BenchHaproxyPid { $script:LastHaproxyPid }

<# socat forking one process per connection (the classic relay); returns its port. #>
function Start-BenchSocat([string] $Upstream) {
    $port = Get-FreePort
    $p = Start-Bg (Find-Tool socat) "TCP-LISTEN:$port,fork,reuseaddr,bind=127.0.0.1,backlog=4096", "TCP:$Upstream"
    Wait-Listen $port
    $script:LastSocatPid = $p.Id
    $port
}

<# The process id of the socat the last Start-BenchSocat started (its forked children inherit its CPU affinity). #>
function Get-BenchSocatPid { $script:LastSocatPid }

<# The worker processes of every nginx that Start-BenchNginx started (children of the pid in its pid file). #>
function Get-BenchNginxWorkerPids {
    foreach ($n in $script:Nginx) {
        $master = [int](Get-Content "$($n[1])/nginx.pid" -ErrorAction SilentlyContinue)
        if ($master) { [IO.File]::ReadAllText("/proc/$master/task/$master/children").Split(' ', [StringSplitOptions]::RemoveEmptyEntries) | ForEach-Object { [int]$_ } }
    }
}

<#
    Sets the CPU affinity of a process (every thread, with -AllThreads) or of one thread id, through taskset(1); throws
    when taskset fails, so a pinned run never silently runs unpinned.
#>
function Set-BenchAffinity([int] $Id, [string] $Cpus, [switch] $AllThreads) {
    $a = @('-c', '-p'); if ($AllThreads) { $a = @('-a', '-c', '-p') }
    $out = & taskset @a $Cpus $Id 2>&1
    if ($LASTEXITCODE -ne 0) { throw "taskset $($a -join ' ') $Cpus $Id failed: $out" }
}

<# The thread ids of this process's proxy relay loops (threads named chaosps-relay-N). #>
function Get-RelayThreadIds {
    Get-ChildItem "/proc/$PID/task" | Where-Object { (Get-Content "$($_.FullName)/comm" -ErrorAction SilentlyContinue) -like 'chaosps-relay-*' } | ForEach-Object { [int]$_.Name }
}

function ConvertTo-Ms([string] $v) {
    if ($v -match '^([\d.]+)(us|ms|s)$') { $n = [double]$Matches[1]; switch ($Matches[2]) { 'us' { $n / 1000 } 'ms' { $n } 's' { $n * 1000 } } } else { [double]::NaN }
}

$script:WrkCpus = $null
<# Every later wrk run starts on these CPUs (taskset -c); $null or '' lets the scheduler place it. #>
function Set-BenchWrkCpus([string] $Cpus) { $script:WrkCpus = $Cpus }

<# One wrk run; -Close sends `Connection: close` (a new connection per request). #>
function Invoke-Wrk([string] $Url, [int] $Connections, [int] $Threads, [int] $Seconds, [switch] $Close) {
    $a = @("-t$Threads", "-c$Connections", "-d$($Seconds)s", '--latency')
    if ($Close) { $a += '-H', 'Connection: close' }
    $out = if ($script:WrkCpus) { & taskset -c $script:WrkCpus wrk @a $Url 2>&1 | Out-String } else { & wrk @a $Url 2>&1 | Out-String }
    [pscustomobject]@{
        Rps = if ($out -match 'Requests/sec:\s+([\d.]+)') { [double]$Matches[1] } else { [double]::NaN }
        P99 = if ($out -match '(?m)^\s+99%\s+(\S+)') { ConvertTo-Ms $Matches[1] } else { [double]::NaN }
        Requests = if ($out -match '(\d+) requests in') { [long]$Matches[1] } else { 0 }
        Non2xx = if ($out -match 'Non-2xx or 3xx responses: (\d+)') { [long]$Matches[1] } else { 0 }
        Errors = if ($out -match 'Socket errors: (.*)') { $Matches[1].Trim() } else { '' }
        Raw = $out
    }
}

function Get-Median([double[]] $v) {
    $s = $v | Where-Object { -not [double]::IsNaN($_) } | Sort-Object
    if (-not $s) { return [double]::NaN }
    $s = @($s)
    if ($s.Count % 2) { $s[[int][math]::Floor($s.Count / 2)] } else { ($s[$s.Count / 2 - 1] + $s[$s.Count / 2]) / 2 }
}

<# CPU time (user + system) a process has used so far, in microseconds (from /proc/<pid>/stat; 0 when unreadable). #>
function Get-ProcessCpuUs([int] $ProcessId) {
    try {
        $f = ([IO.File]::ReadAllText("/proc/$ProcessId/stat") -replace '^.*\) ', '') -split ' '
        ([double]$f[11] + [double]$f[12]) * 1e6 / 100 # utime, stime in clock ticks (USER_HZ = 100)
    } catch { 0 }
}

<#
    wrk against every path in turn, -Rounds times (interleaved, so drift on a shared machine hits every path alike),
    after a short warm-up each. Returns per path: median req/s and p99, every round's figures, errors, and for the
    paths named in -CpuOf (path -> process id) the proxy's CPU time per request in microseconds (median): on a busy
    machine that figure is steadier than req/s, which follows whatever else runs.
#>
function Invoke-WrkRounds([System.Collections.IDictionary] $Paths, [int] $Rounds, [int] $Connections, [int] $Threads, [int] $Seconds, [switch] $Close, [hashtable] $CpuOf = @{}) {
    foreach ($u in $Paths.Values) { Invoke-Wrk $u $Connections $Threads 1 -Close:$Close | Out-Null } # warm-up (JIT, forks, caches)
    $runs = [ordered]@{}; foreach ($k in $Paths.Keys) { $runs[$k] = [System.Collections.Generic.List[object]]::new() }
    for ($r = 1; $r -le $Rounds; $r++) {
        foreach ($k in $Paths.Keys) {
            $cpu0 = if ($CpuOf[$k]) { Get-ProcessCpuUs $CpuOf[$k] }
            $w = Invoke-Wrk $Paths[$k] $Connections $Threads $Seconds -Close:$Close
            if ($CpuOf[$k] -and $w.Requests) { $w | Add-Member CpuUsPerRequest ([math]::Round(((Get-ProcessCpuUs $CpuOf[$k]) - $cpu0) / $w.Requests, 2)) }
            $runs[$k].Add($w)
        }
        Write-Host ("   round {0}: {1}" -f $r, (($Paths.Keys | ForEach-Object { '{0} {1:N0}/s' -f $_, $runs[$_][-1].Rps }) -join ' | '))
    }
    $result = [ordered]@{}
    foreach ($k in $Paths.Keys) {
        $req = ($runs[$k] | Measure-Object Requests -Sum).Sum; $bad = ($runs[$k] | Measure-Object Non2xx -Sum).Sum
        $result[$k] = [ordered]@{
            rps = [math]::Round((Get-Median ($runs[$k] | ForEach-Object Rps)))
            p99Ms = [math]::Round((Get-Median ($runs[$k] | ForEach-Object P99)), 2)
            rounds = @($runs[$k] | ForEach-Object { [math]::Round($_.Rps) })
            non2xxShare = if ($req) { [math]::Round($bad / $req, 4) } else { 0 }
            errors = ($runs[$k] | ForEach-Object Errors | Where-Object { $_ } | Select-Object -First 1)
        }
        if ($CpuOf[$k]) { $result[$k].cpuUsPerRequest = Get-Median ($runs[$k] | ForEach-Object CpuUsPerRequest) }
    }
    $result
}

<# Writes the results as JSON to out/bench/<name>.json (and returns the path). #>
function Save-BenchResult([string] $Name, $Result) {
    $dir = Join-Path $PSScriptRoot '../../out/bench'
    New-Item -ItemType Directory -Force $dir | Out-Null
    $path = [IO.Path]::GetFullPath((Join-Path $dir "$Name.json"))
    $Result | ConvertTo-Json -Depth 8 | Set-Content $path
    $path
}

<# Stops everything this module started (processes, nginx) and removes its temp folders. #>
function Stop-BenchAll {
    foreach ($p in $script:Procs) { if (-not $p.HasExited) { try { $p.Kill($true); $null = $p.WaitForExit(5000) } catch { } } }
    $script:Procs.Clear()
    foreach ($n in $script:Nginx) {
        $exe, $tmp = $n
        if (Test-Path "$tmp/nginx.pid") { & $exe -c "$tmp/nginx.conf" -p $tmp -s quit 2>&1 | Out-Null; Start-Sleep -Milliseconds 300 }
    }
    $script:Nginx = @()
    foreach ($d in $script:Dirs) { Remove-Item $d -Recurse -Force -ErrorAction SilentlyContinue }
    $script:Dirs.Clear()
    $script:WrkCpus = $null
}

Export-ModuleMember -Function *
