@{
    version     = '1.0.0'
    title       = 'Memory pressure: the entry point degrades gracefully and recovers'
    description = @'
Proves: with host memory use driven to memory_percent (Reach mode: a floor stays free) for stress_seconds, the entry point keeps answering gracefully.
Verdict: Test-GracefulDegradation probes the entry point at 10 req/s before, during and after the stress: Graceful
means only acceptable statuses (200, 429, 503 with Retry-After), no hang, an error rate within max_error_rate (0: the
healthy embedded testbed has none here, measured; the old 5% let a worker failing 1 request in 20 pass), and healthy
again within 30 s. A stressor that never reached its target makes the verdict Inconclusive, never Graceful.
Catches: ErrorEveryNth (any 500 is an error; the bound is 0), EmptyBody (steady-state body checks).
Own system: -Configuration @{ target_url = 'http://host:port' }, or -Testbed (Start-ChaosTestbed).
'@
    tags        = @('stress', 'memory')
    configuration = @{
        target_url   = @{ type = 'env'; key = 'CHAOSPS_TARGET_URL' }
        workers      = @{ commandLine = '*chaosps-testbed.dll worker*' }
        health_path  = '/health'
        infer_path   = '/v1/infer'
        answer_match = '"text":"[^"]+'
        infer_body   = '{"prompt":"chaos","max_tokens":4}'
        stress_seconds = 20
        max_error_rate = 0
        memory_percent = 80
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
        @{ type = 'probe'; name = 'graceful-degradation'
           tolerance = @{ type = 'verdict'; expect = 'Graceful' }
           provider = @{ type = 'powershell'
               arguments = @{ Url = '${target_url}${infer_path}'; Method = 'POST'; Body = '${infer_body}'; Seconds = '${stress_seconds}'; MaxErrorRate = '${max_error_rate}'; Acceptable = @(200, 429, 503); ExpectStatus = @(); Percent = '${memory_percent}' }
               script = {
                   param($Url, $Method, $Body, $Seconds, $MaxErrorRate, $Acceptable, $ExpectStatus, $Scale, $Percent)
                   $s = [math]::Max(3, [double]$Seconds * $Scale)
                   if ($Url -notmatch '^https?://' -or ($PSBoundParameters.ContainsKey('Path') -and -not $Path)) {
                       return [pscustomobject]@{ Verdict = 'Inconclusive'; Reasons = @("not configured: probe URL '$Url'$(if ($PSBoundParameters.ContainsKey('Path')) { ", data_path '$Path'" }) (see the description)") }
                   }
                   $stress = { Invoke-MemoryExhaustion -Percent ([double]$Percent) -Mode Reach -Duration "$($s)s" -Force -Confirm:$false }.GetNewClosure()
                   $probe = @{ Uri = $Url; Rate = 10; Baseline = '2s'; RecoveryTimeout = '30s'; HangTimeout = '10s'; AcceptableStatus = @($Acceptable); MaxErrorRate = [double]$MaxErrorRate; Confirm = $false }
                   if ($Method -eq 'POST') { $probe.Method = 'POST'; $probe.Body = $Body }
                   # Its NotGraceful / DegradationInconclusive error is about the verdict, judged below with the evidence; any other error fails the probe.
                   $v = Test-GracefulDegradation @probe -Stress $stress -ErrorAction SilentlyContinue -ErrorVariable tgd
                   foreach ($e in @($tgd)) { if ($e.FullyQualifiedErrorId -notmatch '^ChaosPS\.(NotGraceful|DegradationInconclusive)\b') { throw $e } }
                   # A stressor that never reached its target proves nothing about that load: Inconclusive, never Graceful.
                   $stressors = @($v.StressResults | Where-Object { $_.PSObject.Properties['TimeToReach'] })
                   $unreached = @($stressors | Where-Object { $null -eq $_.TimeToReach })
                   $missing = @(@($ExpectStatus) | Where-Object { $_ -and -not $v.Stress.Statuses.ContainsKey("$_") })
                   # Not graceful under less load than asked is still not graceful; graceful under less load proves nothing.
                   $verdict = if ($stressors.Count -eq 0) { 'Inconclusive' }
                              elseif ($v.Verdict -ne 'Graceful') { $v.Verdict }
                              elseif ($unreached.Count -gt 0) { 'Inconclusive' }
                              elseif ($missing.Count -gt 0) { 'NotGraceful' }
                              else { 'Graceful' }
                   [pscustomobject]@{
                       Verdict = $verdict; DegradationVerdict = $v.Verdict; Reasons = @($v.Reasons) + @($missing | ForEach-Object { "expected status $_ during the stress, saw $(@($v.Stress.Statuses.Keys) -join ',')" }) + @($unreached | ForEach-Object { "the $($_.Kind) stressor never reached its target: $_" }) + @(if ($stressors.Count -eq 0) { 'no stressor result: the stress did not run' })
                       Baseline = "$($v.Baseline)"; Stress = "$($v.Stress)"; Recovery = "$($v.Recovery)"; ErrorRate = $v.ErrorRate; Hangs = $v.Hangs
                       TimeToRecoverS = if ($v.TimeToRecover) { $v.TimeToRecover.TotalSeconds } else { $null }; Stressors = @($stressors | ForEach-Object { "$_" })
                   }
               } } }
    )
    rollbacks = @()
}
