@{
    version     = '1.0.0'
    title       = 'Inference load: 1000 concurrent users sustained with p(95) < 500 ms and under 1% errors'
    description = @'
Proves: ramped to peak_vus concurrent virtual users (100, 500, then peak_vus; closed model) and held there for
hold_seconds (600 s = 10 minutes at -Scale 1; every stage is multiplied by -Scale), the entry point keeps p(95) latency
under 500 ms, p(99) under 1000 ms and the error rate under 1%, with every answer's body checked.
At CI scale the matrix runs it with fewer users and a shorter hold (-Configuration @{ peak_vus = 40; hold_seconds = 50 }): the 1000-user level is only
exercised with the default configuration.
Catches: ErrorEveryNth (5% errors), EmptyBody (body checks), NoShedding under overload (latency bound).
Own system: -Configuration @{ target_url = 'http://host:port' }, or -Testbed (Start-ChaosTestbed; start it with -MaxConcurrency at least peak_vus).
'@
    tags        = @('load', 'inference')
    configuration = @{
        target_url   = @{ type = 'env'; key = 'CHAOSPS_TARGET_URL' }
        workers      = @{ commandLine = '*chaosps-testbed.dll worker*' }
        health_path  = '/health'
        infer_path   = '/v1/infer'
        answer_match = '"text":"[^"]+'
        infer_body   = '{"prompt":"Write a haiku about load testing","max_tokens":8}'
        peak_vus     = 1000
        hold_seconds = 600
        ramp_seconds = 30
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
        @{ type = 'probe'; name = 'load'
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'powershell'
               arguments = @{ Url = '${target_url}${infer_path}'; Body = '${infer_body}'; Match = '${answer_match}'; Peak = '${peak_vus}'; Hold = '${hold_seconds}'; Ramp = '${ramp_seconds}' }
               script = {
                   param($Url, $Body, $Match, $Peak, $Hold, $Ramp, $Scale)
                   function D([double] $s) { '{0}ms' -f [math]::Max(500, [math]::Round($s * $Scale * 1000)) }
                   $peak = [int]$Peak
                   $levels = @([math]::Max(1, [math]::Round($peak / 10)), [math]::Max(1, [math]::Round($peak / 2)), $peak)
                   $stages = @($levels | ForEach-Object { "$(D $Ramp):$_" }) + "$(D $Hold):$peak" + "$(D $Ramp):0"
                   Start-LoadTest -Uri $Url -Method POST -Body $Body -ContentType 'application/json' -Concurrency 0 -Stage $stages -Timeout 10s `
                       -ExpectStatus 200 -BodyMatch $Match -Name 'inference-load' `
                       -Threshold 'http_req_duration: p(95)<500', 'http_req_duration: p(99)<1000', 'http_req_failed: rate<0.01', 'checks: rate>0.99'
               } } }
    )
    rollbacks = @()
}
