@{
    version     = '1.0.0'
    title       = 'Worker ignores SIGTERM: force-killed after its grace period, no request fails, worker back'
    description = @'
Proves: a worker that ignores SIGTERM is SIGKILLed once its grace period has passed (not before), the router keeps
every request answered meanwhile (error count 0, bodies checked: during the grace the stuck worker still serves or is
routed around), the worker is restarted and answering within 30 s (x -Scale, like every recovery window), and real inference works on every worker after.
Verdict Inconclusive (not Passed) when the worker honoured TERM: then nothing about a stuck shutdown was shown (the CI
matrix runs the embedded testbed with -IgnoreTerm). Containers are stopped with docker stop -t grace.
Catches: NoRestart (no recovery), UnhealthyAfterRestart (inference check after the method), NoRetry (requests in
flight when the KILL lands), EmptyBody.
Own system: -Configuration @{ target_url = 'http://host:port'; workers = @{ label = 'app=worker' } } (any Get-ChaosTarget selector: name, port, label, commandLine), or -Testbed (Start-ChaosTestbed) for the embedded one.
'@
    tags        = @('worker-crash', 'term', 'recovery')
    configuration = @{
        target_url   = @{ type = 'env'; key = 'CHAOSPS_TARGET_URL' }
        workers      = @{ commandLine = '*chaosps-testbed.dll worker*' }
        health_path  = '/health'
        infer_path   = '/v1/infer'
        answer_match = '"text":"[^"]+'
        infer_body   = '{"prompt":"chaos","max_tokens":16}'
        load_rate    = 16
        load_duration = '20s'
        grace_seconds = 2
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
        @{ type = 'probe'; name = 'load-through-the-shutdown'; background = $true
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'chaosps'; cmdlet = 'Start-LoadTest'
               arguments = @{ Uri = '${target_url}${infer_path}'; Method = 'POST'; Body = '${infer_body}'; ContentType = 'application/json'
                   Rate = '${load_rate}'; Duration = '${load_duration}'; Timeout = '30s'; ExpectStatus = 200; BodyMatch = '${answer_match}'
                   Threshold = @('http_req_failed: count==0', 'checks: rate==1') } } }
        @{ type = 'probe'; name = 'term-then-kill-after-grace'; pauses = @{ before = 5 }
           tolerance = @{ type = 'verdict'; expect = 'Passed' }
           provider = @{ type = 'powershell'; arguments = @{ Workers = '${workers}'; Health = '${target_url}${health_path}'; Grace = '${grace_seconds}' }
               script = {
                   param($Workers, $Health, $Grace, $Scale)
                   # The recovery windows (back within 30 s, wait up to 60 s) are multiplied by -Scale; the grace period is not.
                   $withinS = 30 * $Scale
                   $grace = [TimeSpan]::FromSeconds([double]$Grace)
                   $victim = Get-ChaosTarget @Workers -Count 1 -Seed 7
                   $p = @{ GracePeriod = $grace; Confirm = $false }
                   if ($victim.Kind -eq 'Container') { $p.ContainerAction = 'Stop' } else { $p.Signal = 'TERM' }
                   $crash = $victim | Invoke-WorkerCrash @p
                   $rec = $crash | Wait-ChaosRecovery -Uri $Health -Timeout ([TimeSpan]::FromSeconds(60 * $Scale))
                   $forcedAfterGrace = [bool]$crash.ForcedKill -and $crash.TimeToExit -ge $grace.Subtract([TimeSpan]::FromMilliseconds(100))
                   $verdict = if (-not $crash.ForcedKill) { 'Inconclusive' } elseif ($forcedAfterGrace -and $rec.Recovered -and $rec.TimeToRecover.TotalSeconds -le $withinS) { 'Passed' } else { 'Failed' }
                   [pscustomobject]@{
                       Verdict = $verdict; Worker = "$victim"; ForcedKill = [bool]$crash.ForcedKill; TimeToExitMs = [int]$crash.TimeToExit.TotalMilliseconds
                       GraceMs = [int]$grace.TotalMilliseconds; ExitCode = $crash.ExitCode; Recovered = [bool]$rec.Recovered
                       TimeToRecoverS = if ($rec.TimeToRecover) { $rec.TimeToRecover.TotalSeconds } else { $null }; LastProbe = "$($rec.LastProbe)"
                       Reason = if (-not $crash.ForcedKill) { 'the worker exited on TERM: it did not ignore it, so a stuck shutdown was not exercised' } elseif (-not $forcedAfterGrace) { 'killed before its grace period ended' } elseif (-not $rec.Recovered) { 'the worker did not come back' } else { '' }
                   }
               } } }
    )
    rollbacks = @()
}
