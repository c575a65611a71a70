@{
    version     = '1.0.0'
    title       = 'Spike: sudden jumps to 2000 and 3000 users are absorbed within the latency and error bounds'
    description = @'
Proves: from a base of 100 users the load jumps to 2000, back to 100, then to 3000 (levels scaled by peak_vus / 3000;
jump_seconds (10 s) jumps, hold_seconds (60 s) holds, both x -Scale) and the entry point keeps p(95) under 500 ms, p(99)
under 1000 ms and the error rate under 1%, bodies checked. At CI scale the matrix runs it with -Configuration
@{ peak_vus = 60; hold_seconds = 20 }.
Catches: ErrorEveryNth, EmptyBody. Not NoShedding: with -MaxConcurrency at least peak_vus (needed for the healthy
target to pass, since a shed request is an error here) no worker ever reaches its bound, so shedding never matters;
overload-sheds-load is the experiment for that.
Own system: -Configuration @{ target_url = 'http://host:port' }, or -Testbed (Start-ChaosTestbed; start it with -MaxConcurrency at least peak_vus).
'@
    tags        = @('load', 'spike')
    configuration = @{
        target_url   = @{ type = 'env'; key = 'CHAOSPS_TARGET_URL' }
        workers      = @{ commandLine = '*chaosps-testbed.dll worker*' }
        health_path  = '/health'
        infer_path   = '/v1/infer'
        answer_match = '"text":"[^"]+'
        infer_body   = '{"prompt":"spike","max_tokens":4}'
        peak_vus     = 3000
        jump_seconds = 10
        hold_seconds = 60
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
               arguments = @{ Url = '${target_url}${infer_path}'; Body = '${infer_body}'; Match = '${answer_match}'; Peak = '${peak_vus}'; Jump = '${jump_seconds}'; Hold = '${hold_seconds}' }
               script = {
                   param($Url, $Body, $Match, $Peak, $Jump, $Hold, $Scale)
                   function D([double] $s) { '{0}ms' -f [math]::Max(500, [math]::Round($s * $Scale * 1000)) }
                   function V([double] $u) { [math]::Max(1, [math]::Round($u * [double]$Peak / 3000)) }
                   $j = [double]$Jump; $h = [double]$Hold
                   $stages = "$(D $j):$(V 100)", "$(D $h):$(V 100)", "$(D $j):$(V 2000)", "$(D $h):$(V 2000)", "$(D $j):$(V 100)", "$(D $h):$(V 100)", "$(D $j):$(V 3000)", "$(D $h):$(V 3000)", "$(D $j):0"
                   Start-LoadTest -Uri $Url -Method POST -Body $Body -ContentType 'application/json' -Concurrency 0 -Stage $stages -Timeout 10s `
                       -ExpectStatus 200 -BodyMatch $Match -Name 'inference-spike' `
                       -Threshold 'http_req_duration: p(95)<500', 'http_req_duration: p(99)<1000', 'http_req_failed: rate<0.01', 'checks: rate>0.99'
               } } }
    )
    rollbacks = @()
}
