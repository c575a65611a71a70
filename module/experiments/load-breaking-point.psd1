@{
    version     = '1.0.0'
    title       = 'Breaking point: the rate ramp finds where the system breaks, and it is not below min_rate'
    description = @'
Proves: an open-model rate ramp (start_rate, then +start_rate per step, steps steps, 30 s per step at -Scale 1) finds
the breaking point: the first step where p(95) >= 500 ms or errors >= 1%. Verdict Passed when the system held at least
min_rate req/s before breaking (or never broke), Failed when it broke below min_rate, Inconclusive when the load
generator itself could not reach the step's rate (nothing was learned about the system). The breaking point is in the
output either way.
Catches: ErrorEveryNth (errors >= 1% from the first step: it breaks below min_rate), EmptyBody (the steady-state
inference check). No 'checks' threshold here: the breaking-point detector reads a second without body checks as a
failed threshold. CI runs it with -Configuration @{ start_rate = 10; steps = 3; min_rate = 20 }.
Own system: -Configuration @{ target_url = 'http://host:port' }, or -Testbed (Start-ChaosTestbed; start it with -MaxConcurrency at least peak_vus).
'@
    tags        = @('load', 'stress', 'breaking-point')
    configuration = @{
        target_url   = @{ type = 'env'; key = 'CHAOSPS_TARGET_URL' }
        workers      = @{ commandLine = '*chaosps-testbed.dll worker*' }
        health_path  = '/health'
        infer_path   = '/v1/infer'
        answer_match = '"text":"[^"]+'
        infer_body   = '{"prompt":"stress","max_tokens":4}'
        start_rate   = 200
        steps        = 10
        min_rate     = 400
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
           tolerance = @{ type = 'verdict'; expect = 'Passed' }
           provider = @{ type = 'powershell'
               arguments = @{ Url = '${target_url}${infer_path}'; Body = '${infer_body}'; Match = '${answer_match}'; StartRate = '${start_rate}'; Steps = '${steps}'; MinRate = '${min_rate}' }
               script = {
                   param($Url, $Body, $Match, $StartRate, $Steps, $MinRate, $Scale)
                   function D([double] $s) { '{0}ms' -f [math]::Max(500, [math]::Round($s * $Scale * 1000)) }
                   $start = [double]$StartRate
                   $stages = foreach ($i in 1..[int]$Steps) { "$(D 2):$($start * $i)"; "$(D 28):$($start * $i)" }
                   $r = Start-LoadTest -Uri $Url -Method POST -Body $Body -ContentType 'application/json' -Rate $start -Stage $stages -Connections 256 -Timeout 5s `
                       -ExpectStatus 200 -BodyMatch $Match -Name 'breaking-point' `
                       -Threshold 'http_req_duration: p(95)<500', 'http_req_failed: rate<0.01' -WarningAction SilentlyContinue
                   $bp = $r.BreakingPoint
                   $peak = ($r.TimeSeries | Measure-Object RequestsPerSecond -Maximum).Maximum
                   $bpRate = if ($bp -match 'rate (\d+(?:\.\d+)?)') { [double]$Matches[1] } elseif ($bp) { 0 } else { $null }
                   $verdict = if (-not $bp) { if ($peak -ge 0.8 * $start * [int]$Steps) { 'Passed' } else { 'Inconclusive' } }
                              elseif ($bpRate -ge [double]$MinRate) { 'Passed' } else { 'Failed' }
                   [pscustomobject]@{
                       Verdict = $verdict; BreakingPoint = if ($bp) { "$bp" } else { "no threshold failed up to $($start * [int]$Steps) req/s" }
                       BreakingRate = $bpRate; MinRate = [double]$MinRate; PeakAchieved = $peak; Requests = $r.Requests
                       Reason = if ($verdict -eq 'Inconclusive') { "the load generator reached only $peak req/s of $($start * [int]$Steps)" } elseif ($verdict -eq 'Failed') { "broke at $bpRate req/s, below min_rate $MinRate" } else { '' }
                   }
               } } }
    )
    rollbacks = @()
}
