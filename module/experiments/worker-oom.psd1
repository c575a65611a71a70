@{
    version     = '1.0.0'
    title       = 'Worker killed by the kernel OOM killer: no request fails, limit restored, worker back'
    description = @'
Proves: when a worker is killed by the kernel's OOM killer for real (Invoke-WorkerOom lowers its memory limit,
containers: the container's limit, processes: a child memory cgroup, and allocates inside it), the kill is an OOM kill
(OomKilled, exit 137), the original memory limit is restored, no request through the router fails (error count 0,
bodies checked), the worker is back within 30 s, and real inference works on every worker afterwards.
Catches: NoRestart (no recovery), NoRetry (requests in flight on the killed worker fail), UnhealthyAfterRestart
(inference check after the method), EmptyBody.
Own system: -Configuration @{ target_url = 'http://host:port'; workers = @{ label = 'app=worker' } } (any Get-ChaosTarget selector: name, port, label, commandLine), or -Testbed (Start-ChaosTestbed) for the embedded one.
'@
    tags        = @('worker-crash', 'oom', 'recovery')
    configuration = @{
        target_url   = @{ type = 'env'; key = 'CHAOSPS_TARGET_URL' }
        workers      = @{ commandLine = '*chaosps-testbed.dll worker*' }
        health_path  = '/health'
        infer_path   = '/v1/infer'
        answer_match = '"text":"[^"]+'
        infer_body   = '{"prompt":"chaos","max_tokens":16}'
        load_rate    = 16
        load_duration = '30s'
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
        @{ type = 'probe'; name = 'load-through-the-oom'; background = $true
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'chaosps'; cmdlet = 'Start-LoadTest'
               arguments = @{ Uri = '${target_url}${infer_path}'; Method = 'POST'; Body = '${infer_body}'; ContentType = 'application/json'
                   Rate = '${load_rate}'; Duration = '${load_duration}'; Timeout = '30s'; ExpectStatus = 200; BodyMatch = '${answer_match}'
                   Threshold = @('http_req_failed: count==0', 'checks: rate==1') } } }
        @{ type = 'probe'; name = 'oom-kill-one-worker'; pauses = @{ before = 8 }
           tolerance = @{ type = 'regex'; pattern = '(?=.*"OomKilled":true)(?=.*"LimitRestored":true)' }
           provider = @{ type = 'powershell'; arguments = @{ Workers = '${workers}' }
               script = {
                   param($Workers)
                   $victim = Get-ChaosTarget @Workers -Count 1 -Seed 7
                   $victim | Invoke-WorkerOom -Timeout 60s -Confirm:$false
               } } }
        @{ type = 'probe'; name = 'oom-killed-worker-recovers'
           tolerance = @{ type = 'recovered'; within = 30 }
           provider = @{ type = 'chaosps'; cmdlet = 'Wait-ChaosRecovery'; input = 'oom-kill-one-worker'; arguments = @{ Uri = '${target_url}${health_path}'; Timeout = '35s' } } }
    )
    rollbacks = @()
}
