@{
    version     = '1.0.0'
    title       = 'Overload: workers shed the excess fast (429/503) instead of queueing it'
    description = @'
Proves: driven well past its capacity (closed-model load with many more clients than the workers accept at once),
the system sheds the excess with fast, clear answers (429/503 with Retry-After) rather than queueing it: p(95) latency
of all answers stays under max_p95_ms, no request times out, and answers that are 200 carry real completions.
Catches: NoShedding (workers never answer 429: the excess waits in an unbounded queue and p(95) grows to many times a
request's service time). The CI matrix starts the embedded testbed with -MaxConcurrency 2 and -TokenDelay 40ms so one
request takes about 650 ms and 2 workers hold 4 at once; 24 clients are 6 times that.
Own system: -Configuration @{ target_url = 'http://host:port'; workers = @{ label = 'app=worker' } } (any Get-ChaosTarget selector: name, port, label, commandLine), or -Testbed (Start-ChaosTestbed) for the embedded one.
'@
    tags        = @('load', 'overload', 'shedding')
    configuration = @{
        target_url   = @{ type = 'env'; key = 'CHAOSPS_TARGET_URL' }
        workers      = @{ commandLine = '*chaosps-testbed.dll worker*' }
        health_path  = '/health'
        infer_path   = '/v1/infer'
        answer_match = '"text":"[^"]+'
        infer_body   = '{"prompt":"chaos","max_tokens":16}'
        clients      = 24
        load_duration = '20s'
        max_p95_ms   = 1500
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
        @{ type = 'probe'; name = 'overload'
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'chaosps'; cmdlet = 'Start-LoadTest'
               arguments = @{ Uri = '${target_url}${infer_path}'; Method = 'POST'; Body = '${infer_body}'; ContentType = 'application/json'
                   Concurrency = '${clients}'; Duration = '${load_duration}'; Timeout = '30s'; ExpectStatus = @(200, 429, 503)
                   Threshold = @('http_req_duration: p(95)<${max_p95_ms}', 'http_req_failed: count==0') } } }
    )
    rollbacks = @()
}
