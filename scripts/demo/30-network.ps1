<#
    Demo part: network chaos. A chaos proxy in front of the router, inference requests through it with and without a
    ledgered 300 ms latency fault, and the toxiproxy-compatible API.
#>
param($Target, [string] $OutDir)
$p = Start-ChaosProxy -Name demo-router -Upstream "127.0.0.1:$($Target.RouterPort)"
try {
    $p | Format-Table | Out-Host
    $uri = "http://$($p.Listen)/"
    $before = Invoke-ChaosInference -Uri $uri -Count 4 -Concurrency 2 -MaxTokens 4
    $job = Invoke-NetworkFault -Proxy demo-router -Type Latency -Latency 300ms -Stream Both -Duration 3s -AsJob -Confirm:$false
    Start-Sleep -Milliseconds 500
    $during = Invoke-ChaosInference -Uri $uri -Count 4 -Concurrency 2 -MaxTokens 4
    $result = $job | Wait-Job | Receive-Job
    $job | Remove-Job
    $result | Format-Table | Out-Host
    Write-Host ("requests through the proxy: {0} before, {1} during the fault; the fault was {2} ({3})" -f $before.Count, $during.Count, $result.Outcome, $result.RestoreOutcome)
    $server = Start-ChaosProxyServer -Listen 127.0.0.1:0
    Write-Host "toxiproxy API at $($server.Uri): $((Invoke-RestMethod "$($server.Uri)/version" -UserAgent toxiproxy-cli).version)"
    Invoke-RestMethod "$($server.Uri)/proxies" -UserAgent toxiproxy-cli | ConvertTo-Json -Depth 5 | Out-Host
    $server | Stop-ChaosProxyServer
    Get-ChaosProxy demo-router | Format-List Name, ConnectionsTotal, BytesUpstream, BytesDownstream, ToxicActivations | Out-Host
} finally {
    Stop-ChaosProxy demo-router -Confirm:$false
}
