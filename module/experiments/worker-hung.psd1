@{
    version     = '1.0.0'
    title       = 'Hung worker (SIGSTOP): requests routed around it within a bounded time, none fails'
    description = @'
Proves: when a worker hangs (suspended with SIGSTOP / docker pause, so it accepts connections but never answers), the
router gives up on it after its per-attempt timeout and answers from another worker: under load not one request fails
or waits past request_timeout (error count 0, bodies checked), and the worker serves again once resumed.
Catches: NoAttemptTimeout (requests already sent to the hung worker wait until it wakes: they pass request_timeout and
fail), EmptyBody. The router's attempt timeout must be shorter than request_timeout (the CI matrix starts the embedded
target with -AttemptTimeout 1s; its default is 30 s). The suspension is undone on any exit (fault ledger).
Own system: -Configuration @{ target_url = 'http://host:port'; workers = @{ label = 'app=worker' } } (any Get-ChaosTarget selector: name, port, label, commandLine), or -Testbed (Start-ChaosTestbed) for the embedded one.
'@
    tags        = @('worker-hang', 'load', 'timeout')
    configuration = @{
        target_url   = @{ type = 'env'; key = 'CHAOSPS_TARGET_URL' }
        workers      = @{ commandLine = '*chaosps-testbed.dll worker*' }
        health_path  = '/health'
        infer_path   = '/v1/infer'
        answer_match = '"text":"[^"]+'
        infer_body   = '{"prompt":"chaos","max_tokens":4}'
        load_rate    = 16
        load_duration = '30s'
        request_timeout = '4s'
        hang_seconds = 20
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
        @{ type = 'probe'; name = 'load-through-the-hang'; background = $true
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'chaosps'; cmdlet = 'Start-LoadTest'
               arguments = @{ Uri = '${target_url}${infer_path}'; Method = 'POST'; Body = '${infer_body}'; ContentType = 'application/json'
                   Rate = '${load_rate}'; Duration = '${load_duration}'; Timeout = '${request_timeout}'; ExpectStatus = 200; BodyMatch = '${answer_match}'
                   Threshold = @('http_req_failed: count==0', 'checks: rate==1') } } }
        @{ type = 'action'; name = 'suspend-one-worker'; pauses = @{ before = 5 }
           provider = @{ type = 'powershell'; arguments = @{ Workers = '${workers}'; Seconds = '${hang_seconds}'; RequestTimeout = '${request_timeout}' }
               script = {
                   param($Workers, $Seconds, $RequestTimeout, $Scale)
                   # Held for hang_seconds x -Scale (the engine passes -Scale to scripts that declare it), and never
                   # less than twice request_timeout: a hang no longer than the client waits cannot show a router
                   # without an attempt timeout (the requests caught in it would still answer in time).
                   $t = if ("$RequestTimeout" -match '^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$') {
                       [double]$Matches[1] * @{ ms = 0.001; s = 1; m = 60 }[$(if ($Matches[2]) { $Matches[2] } else { 's' })]
                   } else { 0 }
                   $d = [TimeSpan]::FromSeconds([math]::Max([double]$Seconds * $Scale, 2 * $t))
                   Get-ChaosTarget @Workers -Count 1 -Seed 7 | Suspend-ChaosTarget -Duration $d -Confirm:$false
               } } }
    )
    rollbacks = @()
}
