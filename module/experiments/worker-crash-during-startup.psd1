@{
    version     = '1.0.0'
    title       = 'Worker killed again while starting up: no traffic to the half-started worker, it still comes back'
    description = @'
Proves: a worker is SIGKILLed, and its replacement is SIGKILLed again while it is still starting (before it answers
its health check). The router never sends traffic to the half-started worker (error count 0, bodies checked), the
supervisor keeps restarting it, and it is finally back and answering within 60 s (x -Scale, like every recovery window); real inference works on every
worker after. Inconclusive when the second kill did not land during start-up (the worker was already healthy: the CI
matrix runs the embedded testbed with -StartupDelay 3s).
Catches: NoRestart (no replacement ever starts: the activity fails), UnhealthyAfterRestart (inference check after the
method), NoRetry (requests in flight on the first victim), EmptyBody.
Own system: -Configuration @{ target_url = 'http://host:port'; workers = @{ label = 'app=worker' } } (any Get-ChaosTarget selector: name, port, label, commandLine), or -Testbed (Start-ChaosTestbed) for the embedded one.
'@
    tags        = @('worker-crash', 'startup', 'recovery')
    configuration = @{
        target_url   = @{ type = 'env'; key = 'CHAOSPS_TARGET_URL' }
        workers      = @{ commandLine = '*chaosps-testbed.dll worker*' }
        health_path  = '/health'
        infer_path   = '/v1/infer'
        answer_match = '"text":"[^"]+'
        infer_body   = '{"prompt":"chaos","max_tokens":16}'
        load_rate    = 16
        load_duration = '25s'
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
        @{ type = 'probe'; name = 'load-through-the-crashes'; background = $true
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'chaosps'; cmdlet = 'Start-LoadTest'
               arguments = @{ Uri = '${target_url}${infer_path}'; Method = 'POST'; Body = '${infer_body}'; ContentType = 'application/json'
                   Rate = '${load_rate}'; Duration = '${load_duration}'; Timeout = '30s'; ExpectStatus = 200; BodyMatch = '${answer_match}'
                   Threshold = @('http_req_failed: count==0', 'checks: rate==1') } } }
        @{ type = 'probe'; name = 'kill-twice-the-second-time-during-startup'; pauses = @{ before = 5 }
           tolerance = @{ type = 'verdict'; expect = 'Passed' }
           provider = @{ type = 'powershell'; arguments = @{ Workers = '${workers}'; Health = '${target_url}${health_path}' }
               script = {
                   param($Workers, $Health, $Scale)
                   # The windows (replacement 30 s, back within 60 s, wait up to 90 s) are multiplied by -Scale, like every recovery window.
                   $replaceS = 30 * $Scale; $withinS = 60 * $Scale
                   $victim = Get-ChaosTarget @Workers -Count 1 -Seed 7
                   $first = $victim | Invoke-WorkerCrash -Signal KILL -Confirm:$false
                   # The replacement: the same container running again, or a new process with the same command line.
                   $sw = [Diagnostics.Stopwatch]::StartNew(); $rep = $null
                   while (-not $rep -and $sw.Elapsed.TotalSeconds -lt $replaceS) {
                       if ($victim.Kind -eq 'Container') {
                           $c = Get-ChaosTarget -ContainerId $victim.ContainerId -ErrorAction SilentlyContinue
                           if ($c -and $c.State -eq 'running' -and $c.StartStamp -ne $victim.StartStamp) { $rep = $c }
                       } else {
                           $rep = Get-ChaosTarget -CommandLine ([WildcardPattern]::Escape($victim.CommandLine)) -ErrorAction SilentlyContinue | Where-Object ProcessId -ne $victim.ProcessId | Select-Object -First 1
                       }
                       if (-not $rep) { Start-Sleep -Milliseconds 50 }
                   }
                   if (-not $rep) { throw "no replacement of $victim started within $replaceS s of the first kill (the worker is not restarted)" }
                   $healthBefore = if ($victim.Uri) { try { [int](Invoke-WebRequest ([Uri]::new([Uri]$victim.Uri, '/health')) -SkipHttpErrorCheck -TimeoutSec 2).StatusCode } catch { 0 } } else { -1 }
                   $second = $rep | Invoke-WorkerCrash -Signal KILL -Confirm:$false
                   $rec = $second | Wait-ChaosRecovery -Uri $Health -Timeout ([TimeSpan]::FromSeconds(90 * $Scale))
                   $inStartup = $healthBefore -ne 200 -and $second.ObservedState -in 'exited', 'restarted'
                   $verdict = if (-not $inStartup) { 'Inconclusive' } elseif ($rec.Recovered -and $rec.TimeToRecover.TotalSeconds -le $withinS) { 'Passed' } else { 'Failed' }
                   [pscustomobject]@{
                       Verdict = $verdict; Worker = "$victim"; FirstKill = "$($first.ObservedState)"; Replacement = "$rep"
                       HealthBeforeSecondKill = $healthBefore; SecondKill = "$($second.ObservedState)"; Recovered = [bool]$rec.Recovered
                       TimeToRecoverS = if ($rec.TimeToRecover) { $rec.TimeToRecover.TotalSeconds } else { $null }; LastProbe = "$($rec.LastProbe)"
                       Reason = if (-not $inStartup) { "the second kill did not land during start-up (health answered $healthBefore)" } elseif (-not $rec.Recovered) { "the worker did not come back within $(90 * $Scale) s" } elseif ($rec.TimeToRecover.TotalSeconds -gt $withinS) { "back after $($rec.TimeToRecover.TotalSeconds) s, later than $withinS s" } else { '' }
                   }
               } } }
    )
    rollbacks = @()
}
