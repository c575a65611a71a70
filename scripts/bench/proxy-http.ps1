<#
.SYNOPSIS
    What the proxy's HTTP mode costs, in one run and as same-run ratios (the machine is shared and noisy): HTTP
    keep-alive to nginx with wrk (req/s and p99 latency), in turn -Rounds times, medians quoted:
      direct          wrk -> nginx
      haproxy         wrk -> haproxy (mode tcp, nbthread -ProxyThreads) -> nginx (the reference relay)
      tcp             wrk -> ChaosPS proxy, TCP mode (no toxics) -> nginx
      http            wrk -> ChaosPS proxy, HTTP mode (no toxics) -> nginx
      http-fault-0    HTTP mode with an HttpStatus fault that matches every request at 0% (each request is drawn)
      http-503-20     HTTP mode answering 20% with 503 (the measured share is printed; those never reach nginx)
    Everything listens on 127.0.0.1; nginx and haproxy run from throwaway configs and are stopped at the end. Results
    also go to out/bench/proxy-http.json. Shares its helpers with proxy.ps1 (ProxyBench.psm1).
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench proxy-http
#>
param(
    [string] $ModulePath = (Get-ChildItem "$PSScriptRoot/../../out/ChaosPS/*/ChaosPS.psd1" -ErrorAction SilentlyContinue | Select-Object -First 1 -ExpandProperty FullName),
    [int] $Seconds = 5,
    [int] $Rounds = 3,
    [int] $Connections = 50,
    [int] $Threads = 2,
    [int] $ProxyThreads = 1
)
$ErrorActionPreference = 'Stop'
if (-not $env:CHAOSPS_STATE_DIR) { $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-bench-$PID" }
$env:CHAOSPS_PROXY_LOOPS = "$ProxyThreads"
Import-Module $ModulePath
Import-Module "$PSScriptRoot/ProxyBench.psm1" -Force
Assert-BenchTools nginx, haproxy, wrk

$names = @()
try {
    $up = "127.0.0.1:$(Start-BenchNginx)"
    $haproxyPort = Start-BenchHaproxy $up $ProxyThreads
    $tcp = Start-ChaosProxy -Name "bh-tcp-$PID" -Upstream $up; $names += $tcp.Name
    $http = Start-ChaosProxy -Name "bh-http-$PID" -Upstream $up -Mode Http; $names += $http.Name
    $zero = Start-ChaosProxy -Name "bh-zero-$PID" -Upstream $up -Mode Http; $names += $zero.Name
    Add-NetworkFault -Proxy $zero.Name -Type HttpStatus -Percent 0 -Path / -Confirm:$false | Out-Null
    $fault = Start-ChaosProxy -Name "bh-503-$PID" -Upstream $up -Mode Http; $names += $fault.Name
    Add-NetworkFault -Proxy $fault.Name -Type HttpStatus -StatusCode 503 -Percent 20 -Confirm:$false | Out-Null
    $paths = [ordered]@{
        'direct' = "http://${up}/"; 'haproxy' = "http://127.0.0.1:$haproxyPort/"; 'tcp' = "http://$($tcp.Listen)/"; 'http' = "http://$($http.Listen)/"
        'http-fault-0' = "http://$($zero.Listen)/"; 'http-503-20' = "http://$($fault.Listen)/"
    }
    Write-Host "== wrk -t$Threads -c$Connections -d$($Seconds)s --latency x $Rounds rounds, paths in turn" -ForegroundColor Cyan
    $runs = Invoke-WrkRounds $paths $Rounds $Connections $Threads $Seconds
    $direct = $runs['direct'].rps
    $table = foreach ($k in $paths.Keys) {
        [pscustomobject]@{
            Path = $k; ReqPerSec = $runs[$k].rps; VsDirect = [math]::Round($runs[$k].rps / $direct, 3); VsHaproxy = [math]::Round($runs[$k].rps / $runs['haproxy'].rps, 3)
            P99Ms = $runs[$k].p99Ms; Non2xxShare = $runs[$k].non2xxShare; Errors = $runs[$k].errors
        }
    }
    $table | Format-Table -AutoSize | Out-String | Write-Host
    $f = (Get-ChaosProxy $fault.Name).Toxics[0]
    Write-Host ("http-503-20: the fault hit {0:N0} of {1:N0} requests ({2:P2})" -f $f.Activations, $f.RequestsMatched, ($f.Activations / [math]::Max(1, $f.RequestsMatched)))
    $file = Save-BenchResult proxy-http ([ordered]@{
            when = [DateTime]::UtcNow.ToString('o'); uptime = (& uptime).Trim(); wrkThreads = $Threads; proxyThreads = $ProxyThreads
            connections = $Connections; seconds = $Seconds; rounds = $Rounds; paths = $runs
            fault503 = [ordered]@{ activations = $f.Activations; requestsMatched = $f.RequestsMatched }
        })
    Write-Host "-> $file"
} finally {
    foreach ($n in $names) { Stop-ChaosProxy $n -Confirm:$false -ErrorAction SilentlyContinue }
    Stop-BenchAll
}
