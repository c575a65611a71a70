<#
    Shared machinery of the network scenarios (scripts/scenarios/network-*.ps1): the embedded target behind a chaos
    proxy, a small closed-loop HTTP load of our own running through the proxy before, during and after a fault, and
    measured phases. Every fault goes through Invoke-NetworkFault (ledgered: removed at its end, on error and Ctrl+C).
    Traffic goes to 127.0.0.1 only.
#>

function Start-NetworkScenario {
    param([Parameter(Mandatory)] [string] $ModulePath, [int] $Workers = 2, [string] $Name = 'scenario', [TimeSpan] $TokenDelay = [TimeSpan]::FromMilliseconds(1))
    if (-not $env:CHAOSPS_STATE_DIR) { $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-scenario-$PID" }
    Import-Module $ModulePath -ErrorAction Stop
    $target = Start-ChaosTarget -Workers $Workers -TokenDelay $TokenDelay
    try {
        $proxy = Start-ChaosProxy -Name "$Name-$PID" -Upstream "127.0.0.1:$($target.RouterPort)"
    } catch { $target | Stop-ChaosTarget; throw }
    [pscustomobject]@{ Target = $target; Proxy = $proxy; ProxyName = $proxy.Name; Listen = $proxy.Listen }
}

function Stop-NetworkScenario {
    param($Scenario)
    if (-not $Scenario) { return }
    Stop-ChaosProxy -Name $Scenario.ProxyName -Confirm:$false -ErrorAction SilentlyContinue
    $Scenario.Target | Stop-ChaosTarget -ErrorAction SilentlyContinue
}

function Invoke-ScenarioLoad {
    <#
        Runs -Concurrency closed-loop clients against http://<Listen>/v1/infer for -Duration seconds, each request on a
        fresh connection (so connection-level faults are seen by every request) unless -KeepAlive. Returns one record
        per request: start offset (s), latency (ms), HTTP status (0 = no answer), error kind, bytes.
    #>
    param(
        [Parameter(Mandatory)] [string] $Listen,
        [Parameter(Mandatory)] [double] $Duration,
        [int] $Concurrency = 4,
        [int] $MaxTokens = 8,
        [double] $TimeoutSec = 3,
        [switch] $KeepAlive,
        [Nullable[DateTime]] $Origin
    )
    $origin = if ($Origin) { [DateTime]$Origin } else { [DateTime]::UtcNow }
    1..$Concurrency | ForEach-Object -ThrottleLimit $Concurrency -Parallel {
        $listen = $using:Listen; $deadline = $using:origin + [TimeSpan]::FromSeconds($using:Duration)
        $origin = $using:origin; $keep = [bool]$using:KeepAlive
        $handler = [System.Net.Http.SocketsHttpHandler]::new()
        $handler.ConnectTimeout = [TimeSpan]::FromSeconds($using:TimeoutSec)
        if (-not $keep) { $handler.PooledConnectionLifetime = [TimeSpan]::Zero }
        $client = [System.Net.Http.HttpClient]::new($handler)
        $client.Timeout = [TimeSpan]::FromSeconds($using:TimeoutSec)
        $body = '{"prompt":"chaos","max_tokens":' + $using:MaxTokens + '}'
        while ([DateTime]::UtcNow -lt $deadline) {
            $start = [DateTime]::UtcNow
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $status = 0; $kind = $null; $bytes = 0
            try {
                $req = [System.Net.Http.HttpRequestMessage]::new('POST', "http://$listen/v1/infer")
                $req.Content = [System.Net.Http.StringContent]::new($body, [Text.Encoding]::UTF8, 'application/json')
                if (-not $keep) { $req.Headers.ConnectionClose = $true }
                $resp = $client.SendAsync($req).GetAwaiter().GetResult()
                $bytes = $resp.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult().Length
                $status = [int]$resp.StatusCode
            } catch {
                $e = $_.Exception; while ($e.InnerException) { $e = $e.InnerException }
                $msg = $e.Message
                $kind = if ($e -is [TimeoutException] -or $e -is [Threading.Tasks.TaskCanceledException] -or $msg -match 'Timeout|canceled') { 'Timeout' }
                        elseif ($msg -match 'refused') { 'Refused' }
                        elseif ($msg -match 'reset') { 'Reset' }
                        elseif ($msg -match 'ended prematurely|EOF|closed') { 'Closed' }
                        else { 'Error: ' + $msg }
                Start-Sleep -Milliseconds 20   # do not spin on instant failures
            }
            [pscustomobject]@{ At = ($start - $origin).TotalSeconds; Ms = $sw.Elapsed.TotalMilliseconds; Status = $status; Error = $kind; Bytes = $bytes }
        }
        $client.Dispose()
    } | Sort-Object At
}

function Measure-Phase {
    <# Summarises the requests that started in [From, To) seconds. #>
    param([object[]] $Records, [double] $From, [double] $To, [string] $Name, [switch] $FinishedBefore)
    # -FinishedBefore: only requests that also finished before To (a baseline untouched by the fault).
    $r = @($Records | Where-Object { $_.At -ge $From -and $_.At -lt $To -and (-not $FinishedBefore -or ($_.At + $_.Ms / 1000) -lt $To) })
    $ok = @($r | Where-Object Status -eq 200)
    $lat = @($ok | ForEach-Object Ms | Sort-Object)
    function pct($p) { if ($lat.Count -eq 0) { return $null } $lat[[math]::Min($lat.Count - 1, [int][math]::Floor($p * $lat.Count))] }
    $errors = @{}
    foreach ($x in $r | Where-Object Status -ne 200) { $k = if ($x.Error) { $x.Error } else { "HTTP $($x.Status)" }; $errors[$k] = 1 + [int]$errors[$k] }
    [pscustomobject]@{
        Phase = $Name; Requests = $r.Count; Ok = $ok.Count
        SuccessRate = if ($r.Count) { [math]::Round($ok.Count / $r.Count, 3) } else { $null }
        P50Ms = pct 0.5; P95Ms = pct 0.95; MinMs = if ($lat.Count) { $lat[0] } else { $null }; MaxMs = if ($lat.Count) { $lat[-1] } else { $null }
        Errors = ($errors.GetEnumerator() | Sort-Object Name | ForEach-Object { '{0}={1}' -f $_.Name, $_.Value }) -join ' '
        ErrorCounts = $errors
        Records = $r
    }
}

function Invoke-NetworkScenario {
    <#
        The common shape: baseline load, then the fault for FaultSeconds (Invoke-NetworkFault -AsJob, ledgered) with load
        running, then recovery. Returns the phases and the fault's result; the caller judges.
    #>
    param(
        [Parameter(Mandatory)] $Scenario,
        [Parameter(Mandatory)] [hashtable] $Fault,
        [double] $BaselineSeconds = 3, [double] $FaultSeconds = 5, [double] $RecoverySeconds = 3,
        [int] $Concurrency = 4, [int] $MaxTokens = 8, [double] $TimeoutSec = 3, [switch] $KeepAlive
    )
    $total = $BaselineSeconds + $FaultSeconds + $RecoverySeconds
    $origin = [DateTime]::UtcNow.AddSeconds(0.5)   # the load starts here (the thread job needs a moment to get going)
    $load = Start-ThreadJob -ScriptBlock {
        param($modulePath, $listen, $total, $c, $mt, $to, $ka, $origin)
        Import-Module $modulePath
        while ([DateTime]::UtcNow -lt $origin) { Start-Sleep -Milliseconds 10 }
        Invoke-ScenarioLoad -Listen $listen -Duration $total -Concurrency $c -MaxTokens $mt -TimeoutSec $to -KeepAlive:$ka -Origin $origin
    } -ArgumentList (Join-Path $PSScriptRoot 'NetworkScenario.psm1'), $Scenario.Listen, $total, $Concurrency, $MaxTokens, $TimeoutSec, $KeepAlive.IsPresent, $origin
    while ([DateTime]::UtcNow -lt $origin.AddSeconds($BaselineSeconds)) { Start-Sleep -Milliseconds 10 }
    $faultStart = ([DateTime]::UtcNow - $origin).TotalSeconds
    $job = Invoke-NetworkFault -Proxy $Scenario.ProxyName @Fault -Duration ([TimeSpan]::FromSeconds($FaultSeconds)) -AsJob -Confirm:$false
    try {
        $result = $job | Wait-Job | Receive-Job -ErrorAction Stop
    } finally { $job | Remove-Job -Force }
    $faultEnd = ([DateTime]::UtcNow - $origin).TotalSeconds
    # Judge on the window the fault was really in force (the job reports when it was applied and removed).
    if ($result -and $result.AppliedAt -gt [DateTimeOffset]::MinValue) {
        $faultStart = ($result.AppliedAt.UtcDateTime - $origin).TotalSeconds
        $faultEnd = ($result.RemovedAt.UtcDateTime - $origin).TotalSeconds
    }
    $records = @($load | Wait-Job | Receive-Job)
    $load | Remove-Job -Force
    # The load's clock started a moment before ours: align on our origin approximately (both are UTC-based).
    [pscustomobject]@{
        FaultResult = $result
        FaultStart = $faultStart; FaultEnd = $faultEnd
        Baseline = Measure-Phase $records 0.5 $faultStart 'baseline' -FinishedBefore
        During = Measure-Phase $records ($faultStart + 0.2) ($faultEnd - 0.1) 'fault'
        Recovery = Measure-Phase $records ($faultEnd + 0.5) $total 'recovery'
        Records = $records
        Proxy = Get-ChaosProxy -Name $Scenario.ProxyName
    }
}

function Write-ScenarioVerdict {
    param([string] $Scenario, [object] $Run, [object[]] $Checks)
    $passed = -not ($Checks | Where-Object { -not $_.Passed })
    Write-Host ("`n== {0}: {1}" -f $Scenario, $(if ($passed) { 'PASSED' } else { 'FAILED' })) -ForegroundColor $(if ($passed) { 'Green' } else { 'Red' })
    $Run.Baseline, $Run.During, $Run.Recovery | Select-Object Phase, Requests, Ok, SuccessRate, P50Ms, P95Ms, MinMs, MaxMs, Errors |
        Format-Table -AutoSize | Out-String -Width 200 | Write-Host
    foreach ($c in $Checks) { Write-Host ("  [{0}] {1}: {2}" -f $(if ($c.Passed) { 'x' } else { ' ' }), $c.Check, $c.Measured) }
    [pscustomobject]@{
        Scenario = $Scenario; Passed = [bool]$passed; Checks = $Checks
        Baseline = $Run.Baseline | Select-Object -ExcludeProperty Records, ErrorCounts
        During = $Run.During | Select-Object -ExcludeProperty Records, ErrorCounts
        Recovery = $Run.Recovery | Select-Object -ExcludeProperty Records, ErrorCounts
        Fault = $Run.FaultResult
    }
}

function New-Check([string] $Check, [bool] $Passed, [string] $Measured) { [pscustomobject]@{ Check = $Check; Passed = $Passed; Measured = $Measured } }

Export-ModuleMember -Function *
