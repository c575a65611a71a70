<#
.SYNOPSIS
    Start-LoadTest over two generator hosts (network namespaces with their own sshd, PowerShell remoting over SSH)
    against one nginx: merged req/s vs the sum of the hosts' and vs one host alone, and the time from the call to the
    hosts' first request (cold -HostName and warm -Session).
.DESCRIPTION
    The hosts and the target come from tests/MultiHostHelpers.psm1 (namespaces on 198.18.x.0/24, torn down at the end).
    1. -HostName (opens SSH sessions, starts pwsh on each host, imports the module): StartLatency per host.
    2. -Session (sessions open, module loaded): StartLatency, clock offsets, round trips.
    3. Closed model, -Concurrency 8 for -Seconds: one host alone, then both hosts (4 each); merged vs sum.
    All hosts share this machine's cores, so two generators cannot add capacity here; read the exactness and the
    overheads, not the totals. Needs root, ip, sshd and nginx.
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench multihost
#>
param([Parameter(Mandatory)] [string] $ModulePath, [int] $Seconds = 5)
$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
Import-Module (Join-Path $PSScriptRoot '../../tests/MultiHostHelpers.psm1')
$PSDefaultParameterValues['Start-LoadTest:ProgressAction'] = 'SilentlyContinue'
$lab = New-TestHostLab -Hosts gen1, gen2 -DefaultModulePath (Split-Path (Split-Path (Split-Path (Resolve-Path $ModulePath))))
try {
    $ssh = @{ UserName = $lab.User; KeyFilePath = $lab.KeyFile; SshOption = $lab.SshOption }
    $a = $lab.Hosts.gen1.Address, $lab.Hosts.gen2.Address
    $sw = [Diagnostics.Stopwatch]::StartNew()
    $r = Start-LoadTest -Uri $lab.Target -HostName $a @ssh -Rate 200 -Duration 3s -AllowNonLoopback
    '-HostName (ssh + pwsh start + import): first request {0:0} / {1:0} ms after the call; the call took {2:0.0} s' -f $r.Hosts[0].StartLatency.TotalMilliseconds, $r.Hosts[1].StartLatency.TotalMilliseconds, $sw.Elapsed.TotalSeconds
    $s = $a | ForEach-Object { New-PSSession -HostName $_ -UserName $lab.User -KeyFilePath $lab.KeyFile -Options $lab.SshOption }
    $null = Start-LoadTest -Uri $lab.Target -Session $s -Iterations 10 -Concurrency 2 -AllowNonLoopback
    $r = Start-LoadTest -Uri $lab.Target -Session $s -Rate 200 -Duration 3s -AllowNonLoopback
    '-Session (module loaded): first request {0:0} / {1:0} ms after the call (300 ms of it is the start lead); clock offsets {2:0.00} / {3:0.00} ms; round trips {4:0.0} / {5:0.0} ms' -f $r.Hosts[0].StartLatency.TotalMilliseconds, $r.Hosts[1].StartLatency.TotalMilliseconds, $r.Hosts[0].ClockOffset.TotalMilliseconds, $r.Hosts[1].ClockOffset.TotalMilliseconds, $r.Hosts[0].RoundTrip.TotalMilliseconds, $r.Hosts[1].RoundTrip.TotalMilliseconds
    $one = Start-LoadTest -Uri $lab.Target -Session $s[0] -Concurrency 8 -Duration "${Seconds}s" -AllowNonLoopback
    $two = Start-LoadTest -Uri $lab.Target -Session $s -Concurrency 8 -Duration "${Seconds}s" -AllowNonLoopback
    'closed model, 8 VUs, {0} s: one host {1:N0} req/s (p99 {2} ms); two hosts merged {3:N0} req/s, hosts {4:N0} + {5:N0} = {6:N0}; p99 {7} ms (hosts {8} / {9})' -f $Seconds, $one.RequestsPerSecond, $one.Latency.P99, $two.RequestsPerSecond, $two.Hosts[0].RequestsPerSecond, $two.Hosts[1].RequestsPerSecond, ($two.Hosts[0].RequestsPerSecond + $two.Hosts[1].RequestsPerSecond), $two.Latency.P99, $two.Hosts[0].Latency.P99, $two.Hosts[1].Latency.P99
    'merged p50 / p99 / p99.9: {0} / {1} / {2} ms over {3:N0} requests = {4:N0} + {5:N0}' -f $two.Latency.P50, $two.Latency.P99, $two.Latency.P999, $two.Requests, $two.Hosts[0].Requests, $two.Hosts[1].Requests
    $s | Remove-PSSession
}
finally { Remove-TestHostLab $lab }
