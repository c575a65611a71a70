@{
    version     = '1.0.0'
    title       = 'Network partition (hang): requests hang until their timeout, then the system recovers'
    description = @'
Proves: during a partition where connections HANG (the proxy accepts, nothing gets through either way: a timeout
toxic with timeout 0 on both streams), clients get no answer and no early error: every request fails, and not before
its own timeout (p(50) of the failures >= 90% of request_timeout); no refusal. After the partition the system answers
every request again with real bodies. Distinct from network-partition-refused.
Shape: a chaos proxy (Start-ChaosProxy) goes in front of the entry point; load runs through it before the fault
(baseline: error count 0, bodies checked), during it (thresholds that show the fault really had its effect: a run
where the fault did nothing deviates instead of passing), and after it is removed (error count 0, bodies checked).
The fault goes through Invoke-NetworkFault (fault ledger: removed at its end, on error, Ctrl+C or a killed pwsh); the
proxy is stopped by the rollback. Baseline and recovery also catch EmptyBody and ErrorEveryNth (the healthy target
has no error there, measured).
Own system: -Configuration @{ target_url = 'http://host:port' } (the proxy goes in front of it; traffic stays on loopback, so the entry point must be on 127.0.0.1 or ::1; proxy_listen picks the proxy's address), or -Testbed (Start-ChaosTestbed).
'@
    tags        = @('network', 'partition', 'hang')
    configuration = @{
        target_url   = @{ type = 'env'; key = 'CHAOSPS_TARGET_URL' }
        health_path  = '/health'
        infer_path   = '/v1/infer'
        answer_match = '"text":"[^"]+'
        infer_body   = '{"prompt":"chaos","max_tokens":8}'
        proxy_name   = 'chaosps-exp-partition-hang'
        proxy_listen = '127.0.0.1:0'
        load_rate    = 10
        baseline_seconds = 10
        fault_duration = '25s'
        during_seconds = 15
        recovery_seconds = 10
        request_timeout = '1500ms'
    }
    'steady-state-hypothesis' = @{
        title  = 'The router is healthy and real inference requests get real completions'
        probes = @(
            @{ type = 'probe'; name = 'router-is-healthy'; tolerance = 200
               provider = @{ type = 'http'; url = '${target_url}${health_path}'; timeout = 5 } }
            @{ type = 'probe'; name = 'inference-answers'
               tolerance = @{ type = 'jsonpath'; path = '$.Bad'; expect = 0 }
               provider = @{ type = 'powershell'; arguments = @{ Url = '${target_url}${infer_path}'; Body = '${infer_body}'; Match = '${answer_match}'; Health = '${target_url}${health_path}' }
                   script = {
                       param($Url, $Body, $Match, $Health)
                       # Enough requests to reach every worker the router spreads over (4 per worker the router lists
                       # at /workers, else 8), each judged by its status AND its body: a 200 with an empty body is bad.
                       $n = 8
                       try { $w = @((Invoke-RestMethod ($Health -replace '/health$', '/workers') -TimeoutSec 5)).Count; if ($w -gt 0) { $n = 4 * $w } } catch { }
                       $bad = [System.Collections.Generic.List[string]]::new()
                       foreach ($i in 1..$n) {
                           try {
                               $r = Invoke-WebRequest -Uri $Url -Method POST -Body $Body -ContentType 'application/json' -SkipHttpErrorCheck -TimeoutSec 30
                               $c = [string]$r.Content
                               if ([int]$r.StatusCode -ne 200 -or $c -notmatch $Match) { $bad.Add("$([int]$r.StatusCode) '$($c.Substring(0, [math]::Min(80, $c.Length)))'") }
                           } catch { $bad.Add("no answer: $($_.Exception.Message)") }
                       }
                       [pscustomobject]@{ Requests = $n; Bad = $bad.Count; Samples = @($bad | Select-Object -First 3) }
                   } } }
        )
    }
    method = @(
        @{ type = 'action'; name = 'start-proxy-in-front-of-the-entry-point'
           provider = @{ type = 'powershell'; arguments = @{ Name = '${proxy_name}'; Listen = '${proxy_listen}'; Target = '${target_url}' }
               script = {
                   param($Name, $Listen, $Target)
                   $u = [Uri]$Target
                   Start-ChaosProxy -Name $Name -Listen $Listen -Upstream "$($u.Host):$($u.Port)"
               } } }
        @{ type = 'probe'; name = 'baseline-through-the-proxy'
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'powershell'
               arguments = @{ Name = '${proxy_name}'; Path = '${infer_path}'; Body = '${infer_body}'; Rate = '${load_rate}'; Seconds = '${baseline_seconds}'; Timeout = '10s'; Match = '${answer_match}'
                   Threshold = @('http_req_failed: count==0', 'checks: rate==1') }
               script = {
                   param($Name, $Path, $Body, $Rate, $Seconds, $Timeout, $Match, $Threshold, $Header, $Scale)
                   # Load through the proxy (its bound address: proxy_listen may use port 0); Seconds x -Scale.
                   $p = Get-ChaosProxy -Name $Name
                   $a = @{ Uri = "http://$($p.Listen)$Path"; Method = 'POST'; Body = $Body; ContentType = 'application/json'; Rate = [double]$Rate
                           Duration = [TimeSpan]::FromSeconds([double]$Seconds * $Scale); Timeout = $Timeout; Threshold = @($Threshold) }
                   if ($Match) { $a.ExpectStatus = 200; $a.BodyMatch = $Match }
                   if ($Header) { $a.Header = $Header }
                   Start-LoadTest @a
               } } }
        @{ type = 'action'; name = 'network-fault'; background = $true
           provider = @{ type = 'chaosps'; cmdlet = 'Invoke-NetworkFault'
               arguments = @{ Proxy = '${proxy_name}'; Duration = '${fault_duration}'; Type = 'Timeout'; Timeout = '0s'; Stream = 'Both' } } }
        @{ type = 'probe'; name = 'during-the-fault'
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'powershell'
               arguments = @{ Name = '${proxy_name}'; Path = '${infer_path}'; Body = '${infer_body}'; Rate = '${load_rate}'; Seconds = '${during_seconds}'; Timeout = '${request_timeout}'; Match = ''
                   Threshold = @('http_req_failed: rate==1', 'http_req_duration: p(50)>=1350') }
               script = {
                   param($Name, $Path, $Body, $Rate, $Seconds, $Timeout, $Match, $Threshold, $Header, $Scale)
                   # Load through the proxy at its bound address; Seconds x -Scale. The fault starts in the background:
                   # the load waits until it is in place, so fault and load overlap by construction, not by timing.
                   $p = Get-ChaosProxy -Name $Name
                   $wait = [Diagnostics.Stopwatch]::StartNew()
                   while ($p.Enabled -and @($p.Toxics).Count -eq 0) {
                       if ($wait.Elapsed.TotalSeconds -gt 60) { throw "the fault on proxy $Name was not in place after 60 s" }
                       Start-Sleep -Milliseconds 50; $p = Get-ChaosProxy -Name $Name
                   }
                   $a = @{ Uri = "http://$($p.Listen)$Path"; Method = 'POST'; Body = $Body; ContentType = 'application/json'; Rate = [double]$Rate
                           Duration = [TimeSpan]::FromSeconds([double]$Seconds * $Scale); Timeout = $Timeout; Threshold = @($Threshold) }
                   if ($Match) { $a.ExpectStatus = 200; $a.BodyMatch = $Match }
                   if ($Header) { $a.Header = $Header }
                   Start-LoadTest @a
               } } }
        @{ type = 'action'; name = 'wait-until-the-fault-is-removed'
           provider = @{ type = 'powershell'; arguments = @{ Name = '${proxy_name}' }
               script = {
                   param($Name)
                   $sw = [Diagnostics.Stopwatch]::StartNew()
                   do {
                       $p = Get-ChaosProxy -Name $Name
                       if ($p.Enabled -and @($p.Toxics).Count -eq 0) { return "fault removed after $([int]$sw.Elapsed.TotalMilliseconds) ms" }
                       Start-Sleep -Milliseconds 100
                   } while ($sw.Elapsed.TotalSeconds -lt 120)
                   throw "the fault on proxy $Name was still in place after 120 s"
               } } }
        @{ type = 'probe'; name = 'recovery-through-the-proxy'; pauses = @{ before = 1 }
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'powershell'
               arguments = @{ Name = '${proxy_name}'; Path = '${infer_path}'; Body = '${infer_body}'; Rate = '${load_rate}'; Seconds = '${recovery_seconds}'; Timeout = '10s'; Match = '${answer_match}'
                   Threshold = @('http_req_failed: count==0', 'checks: rate==1') }
               script = {
                   param($Name, $Path, $Body, $Rate, $Seconds, $Timeout, $Match, $Threshold, $Header, $Scale)
                   # Load through the proxy (its bound address: proxy_listen may use port 0); Seconds x -Scale.
                   $p = Get-ChaosProxy -Name $Name
                   $a = @{ Uri = "http://$($p.Listen)$Path"; Method = 'POST'; Body = $Body; ContentType = 'application/json'; Rate = [double]$Rate
                           Duration = [TimeSpan]::FromSeconds([double]$Seconds * $Scale); Timeout = $Timeout; Threshold = @($Threshold) }
                   if ($Match) { $a.ExpectStatus = 200; $a.BodyMatch = $Match }
                   if ($Header) { $a.Header = $Header }
                   Start-LoadTest @a
               } } }
    )
    rollbacks = @(
        @{ type = 'action'; name = 'stop-proxy'
           provider = @{ type = 'chaosps'; cmdlet = 'Stop-ChaosProxy'; arguments = @{ Name = '${proxy_name}' } } }
    )
}
