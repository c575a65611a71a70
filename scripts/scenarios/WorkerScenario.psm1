# Shared plumbing for the worker-* scenarios: a steady request loop through the router (our own, small: N
# concurrent clients in a loop, every request recorded), and verdict bookkeeping. Loopback only.

function Start-ScenarioLoad {
    <# Starts $Concurrency clients that POST /v1/infer to the router in a loop until Stop-ScenarioLoad. #>
    param([Parameter(Mandatory)] [Uri] $RouterUri, [int] $Concurrency = 4, [int] $MaxTokens = 4, [TimeSpan] $RequestTimeout = [TimeSpan]::FromSeconds(30))
    if (-not $RouterUri.IsLoopback) { throw "Scenario load goes to loopback only; $RouterUri is not." }
    $state = [hashtable]::Synchronized(@{ Stop = $false })
    $results = [System.Collections.Concurrent.ConcurrentQueue[object]]::new()
    $handler = [System.Net.Http.SocketsHttpHandler]::new()
    $handler.UseProxy = $false
    $handler.PooledConnectionLifetime = [TimeSpan]::FromSeconds(2)
    $client = [System.Net.Http.HttpClient]::new($handler)
    $client.Timeout = $RequestTimeout
    $uri = [Uri]::new($RouterUri, '/v1/infer')
    $pool = [runspacefactory]::CreateRunspacePool(1, $Concurrency)
    $pool.Open()
    $loop = {
        param($client, $uri, $state, $results, $maxTokens, $slot)
        $n = 0
        while (-not $state.Stop) {
            $n++
            $body = '{"prompt":"chaos scenario ' + $slot + ' request ' + $n + '","max_tokens":' + $maxTokens + '}'
            $at = [DateTimeOffset]::UtcNow
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $status = 0; $err = $null
            try {
                $content = [System.Net.Http.StringContent]::new($body, [Text.Encoding]::UTF8, 'application/json')
                $resp = $client.PostAsync($uri, $content).GetAwaiter().GetResult()
                $status = [int]$resp.StatusCode
                $null = $resp.Content.ReadAsStringAsync().GetAwaiter().GetResult()
                $resp.Dispose()
            } catch { $err = $_.Exception.GetBaseException().Message }
            $results.Enqueue([pscustomobject]@{ At = $at; Status = $status; Ms = $sw.Elapsed.TotalMilliseconds; Error = $err })
        }
    }
    $runners = foreach ($i in 1..$Concurrency) {
        $ps = [powershell]::Create()
        $ps.RunspacePool = $pool
        $null = $ps.AddScript($loop).AddArgument($client).AddArgument($uri).AddArgument($state).AddArgument($results).AddArgument($MaxTokens).AddArgument($i)
        [pscustomobject]@{ PowerShell = $ps; Handle = $ps.BeginInvoke() }
    }
    [pscustomobject]@{ State = $state; Results = $results; Runners = @($runners); Pool = $pool; Client = $client; StartedAt = [DateTimeOffset]::UtcNow }
}

function Stop-ScenarioLoad {
    <# Stops the clients and summarises: requests, errors (non-2xx or transport), error rate, statuses. #>
    param([Parameter(Mandatory)] $Load)
    $Load.State.Stop = $true
    foreach ($r in $Load.Runners) {
        try { $r.PowerShell.EndInvoke($r.Handle) | Out-Null } catch { }
        $r.PowerShell.Dispose()
    }
    $Load.Pool.Dispose(); $Load.Client.Dispose()
    $all = @($Load.Results.ToArray())
    $errors = @($all | Where-Object { $_.Status -lt 200 -or $_.Status -ge 300 })
    $transport = @($all | Where-Object { $_.Status -eq 0 })
    [pscustomobject]@{
        Requests        = $all.Count
        Errors          = $errors.Count
        TransportErrors = $transport.Count
        ErrorRate       = if ($all.Count) { $errors.Count / $all.Count } else { 1.0 }
        Statuses        = ($all | Group-Object Status | ForEach-Object { "$($_.Name)x$($_.Count)" }) -join ' '
        FirstError      = ($errors | Sort-Object At | Select-Object -First 1)
        SampleErrors    = @($errors | Select-Object -First 3 | ForEach-Object { "$($_.Status) $($_.Error)" })
        P50Ms           = if ($all.Count) { [math]::Round((@($all.Ms | Sort-Object))[[int]($all.Count * 0.5)], 1) } else { $null }
        MaxMs           = if ($all.Count) { [math]::Round(($all.Ms | Measure-Object -Maximum).Maximum, 1) } else { $null }
        Duration        = [DateTimeOffset]::UtcNow - $Load.StartedAt
    }
}

function New-ScenarioVerdict {
    param([Parameter(Mandatory)] [string] $Scenario, [string] $Runtime)
    [pscustomobject]@{
        Scenario = $Scenario; Runtime = $Runtime; Passed = $false; Checks = [System.Collections.Generic.List[object]]::new()
        Load = $null; TimeToDetectMs = $null; TimeToRecoverMs = $null; Details = [ordered]@{}; Error = $null
    }
}

function Add-ScenarioCheck {
    <# Records one measured check: its name, whether it held, and what was measured. #>
    param([Parameter(Mandatory)] $Verdict, [Parameter(Mandatory)] [string] $Name, [bool] $Passed, [string] $Measured)
    $Verdict.Checks.Add([pscustomobject]@{ Name = $Name; Passed = $Passed; Measured = $Measured })
}

function Complete-ScenarioVerdict {
    <# Prints the verdict, writes it as JSON when asked, and returns the exit code (0 pass, 1 fail). #>
    param([Parameter(Mandatory)] $Verdict, [string] $VerdictPath)
    $Verdict.Passed = $Verdict.Checks.Count -gt 0 -and -not $Verdict.Error -and -not ($Verdict.Checks | Where-Object { -not $_.Passed })
    Write-Host ''
    Write-Host "Scenario $($Verdict.Scenario) [$($Verdict.Runtime)]: $(if ($Verdict.Passed) { 'PASSED' } else { 'FAILED' })" -ForegroundColor $(if ($Verdict.Passed) { 'Green' } else { 'Red' })
    foreach ($c in $Verdict.Checks) { Write-Host ("  [{0}] {1}: {2}" -f $(if ($c.Passed) { 'ok' } else { 'FAIL' }), $c.Name, $c.Measured) }
    if ($Verdict.Load) { Write-Host ("  load: {0} requests, {1} errors ({2:P2}), statuses {3}, p50 {4} ms, max {5} ms" -f $Verdict.Load.Requests, $Verdict.Load.Errors, $Verdict.Load.ErrorRate, $Verdict.Load.Statuses, $Verdict.Load.P50Ms, $Verdict.Load.MaxMs) }
    if ($null -ne $Verdict.TimeToDetectMs -or $null -ne $Verdict.TimeToRecoverMs) { Write-Host "  time-to-detect $($Verdict.TimeToDetectMs) ms, time-to-recover $($Verdict.TimeToRecoverMs) ms" }
    if ($Verdict.Error) { Write-Host "  error: $($Verdict.Error)" -ForegroundColor Red }
    if ($VerdictPath) { $Verdict | ConvertTo-Json -Depth 6 | Set-Content $VerdictPath -Encoding utf8NoBOM }
    return [int](-not $Verdict.Passed)
}

function Set-ScenarioRecovery {
    <# Copies Wait-ChaosRecovery's measurements into the verdict and adds the recovery check. #>
    param([Parameter(Mandatory)] $Verdict, [Parameter(Mandatory)] $Recovery)
    $Verdict.TimeToDetectMs = if ($Recovery.TimeToDetect) { [math]::Round($Recovery.TimeToDetect.TotalMilliseconds) } else { $null }
    $Verdict.TimeToRecoverMs = if ($Recovery.TimeToRecover) { [math]::Round($Recovery.TimeToRecover.TotalMilliseconds) } else { $null }
    Add-ScenarioCheck $Verdict 'recovered (every crashed worker back and answering, router healthy)' $Recovery.Recovered `
        $(if ($Recovery.Recovered) { "in $($Verdict.TimeToRecoverMs) ms after $($Recovery.Attempts) probe rounds" } else { "not within the timeout: $($Recovery.LastProbe)" })
}

Export-ModuleMember -Function *
