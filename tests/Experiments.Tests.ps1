# Experiments end to end against the BUILT module: Chaos Toolkit JSON run unchanged (http + process providers), the
# shipped worker-crash experiment against the embedded testbed, deviation and failure with a non-zero exit of a child
# pwsh, rollbacks, faults restored by the run, a SIGKILLed run undone by the watchdog, -WhatIf and bad input.
BeforeAll {
    Import-Module $env:CHAOSPS_MODULE -Force
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    $script:state = Join-Path ([IO.Path]::GetTempPath()) "chaosps-exp-$([guid]::NewGuid().ToString('n').Substring(0,8))"
    New-Item -ItemType Directory $state | Out-Null
    $script:outerState = $env:CHAOSPS_STATE_DIR
    $env:CHAOSPS_STATE_DIR = $state
    $script:work = Join-Path $state 'work'
    New-Item -ItemType Directory $work | Out-Null
    $script:started = [System.Collections.Generic.List[Diagnostics.Process]]::new()
    function New-ExperimentFile([string] $Name, [string] $Json) {
        $p = Join-Path $work $Name
        Set-Content -LiteralPath $p -Value $Json -Encoding utf8NoBOM
        $p
    }
    # A child pwsh that runs one line against the built module with this test's private ledger.
    function Invoke-Experiment-Child([string] $Line, [hashtable] $Environment = @{}) {
        $envs = @{ CHAOSPS_STATE_DIR = $state; TF_BUILD = ''; GITHUB_ACTIONS = '' }
        foreach ($k in $Environment.Keys) { $envs[$k] = $Environment[$k] }
        Invoke-ChildPwsh -Script "Import-Module '$env:CHAOSPS_MODULE'; Set-Location '$work'; $Line" -Environment $envs
    }
}

AfterAll {
    foreach ($p in $started) { if (-not $p.HasExited) { kill -CONT $p.Id 2>$null; $p.Kill() } }
    Restore-ChaosFault -All -Confirm:$false -ErrorAction SilentlyContinue | Out-Null
    Stop-TestWatchdog $state | Out-Null
    $env:CHAOSPS_STATE_DIR = $outerState
    Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Test-ChaosExperiment and Get-ChaosExperiment' -Tag 'Experiments', 'Unit' {
    It 'lists the shipped experiments, and each one is valid once its target is configured' {
        $all = @(Get-ChaosExperiment)
        $all.Count | Should -BeGreaterOrEqual 1
        $all.Name | Should -Contain 'worker-crash-under-load'
        foreach ($e in $all) {
            $e.Description | Should -Not -Match '^\(invalid\)'
            $e.Tags.Count | Should -BeGreaterThan 0
            Test-ChaosExperiment $e.Path -Configuration @{ target_url = 'http://127.0.0.1:9'; target_address = '127.0.0.1:9' } | Should -BeTrue
        }
    }

    It 'names the file, the JSON path and the expectation of each bad field, and writes $false' -ForEach @(
        @{ Case = 'invalid JSON'; Json = '{ "title": '; Id = 'ChaosPS.InvalidExperimentJson'; Path = '$' }
        @{ Case = 'unknown cmdlet'; Json = '{"title":"t","description":"d","method":[{"type":"action","name":"a","provider":{"type":"process","path":"true"}},{"type":"action","name":"b","provider":{"type":"chaosps","cmdlet":"Invoke-Nothing"}}]}'; Id = 'ChaosPS.UnknownCmdlet'; Path = '$.method[1].provider.cmdlet' }
        @{ Case = 'unknown parameter'; Json = '{"title":"t","description":"d","method":[{"type":"action","name":"b","provider":{"type":"chaosps","cmdlet":"Invoke-WorkerCrash","arguments":{"Sginal":"KILL"}}}]}'; Id = 'ChaosPS.InvalidExperiment'; Path = '$.method[0].provider.arguments.Sginal' }
        @{ Case = 'probe without tolerance'; Json = '{"title":"t","description":"d","steady-state-hypothesis":{"title":"h","probes":[{"type":"probe","name":"p","provider":{"type":"process","path":"true"}}]},"method":[]}'; Id = 'ChaosPS.MissingTolerance'; Path = '$.steady-state-hypothesis.probes[0].tolerance' }
        @{ Case = 'python provider'; Json = '{"title":"t","description":"d","method":[{"type":"action","name":"py","provider":{"type":"python","module":"chaosaws.ec2.actions","func":"stop_instance"}}]}'; Id = 'ChaosPS.UnsupportedProvider'; Path = '$.method[0].provider.type' }
        @{ Case = 'unknown provider'; Json = '{"title":"t","description":"d","method":[{"type":"action","name":"x","provider":{"type":"ftp"}}]}'; Id = 'ChaosPS.UnknownProvider'; Path = '$.method[0].provider.type' }
        @{ Case = 'variable with no value'; Json = '{"title":"t","description":"d","configuration":{"u":{"type":"env","key":"CHAOSPS_NOT_SET_1"}},"method":[{"type":"probe","name":"p","provider":{"type":"http","url":"${u}/x"}}]}'; Id = 'ChaosPS.UndefinedVariable'; Path = '$.method[0].provider.url' }
        @{ Case = 'vault secret'; Json = '{"title":"t","description":"d","secrets":{"db":{"password":{"type":"vault","path":"secret/db"}}},"method":[{"type":"probe","name":"p","provider":{"type":"process","path":"true"}}]}'; Id = 'ChaosPS.UnsupportedSecretType'; Path = '$.secrets.db.password.type' }
        @{ Case = 'env secret not set'; Json = '{"title":"t","description":"d","secrets":{"db":{"password":{"type":"env","key":"CHAOSPS_NOT_SET_2"}}},"method":[{"type":"probe","name":"p","provider":{"type":"process","path":"true"}}]}'; Id = 'ChaosPS.ExperimentSecretNotSet'; Path = '$.secrets.db.password' }
        @{ Case = 'powershell provider in JSON'; Json = '{"title":"t","description":"d","method":[{"type":"action","name":"x","provider":{"type":"powershell","script":"1"}}]}'; Id = 'ChaosPS.UnsupportedProvider'; Path = '$.method[0].provider.type' }
    ) {
        $file = New-ExperimentFile "bad-$($Case -replace '\W', '-').json" $Json
        $errs = $null
        $ok = Test-ChaosExperiment $file -ErrorVariable errs -ErrorAction SilentlyContinue
        $ok | Should -BeFalse
        $errs.Count | Should -BeGreaterThan 0
        $errs[0].FullyQualifiedErrorId | Should -BeLike "$Id,*"
        $errs[0].Exception.Message | Should -BeLike "$file*"
        $errs[0].Exception.Message | Should -Match ([regex]::Escape(": ${Path}:"))
    }

    It 'refuses a bad experiment before anything runs (Invoke-ChaosExperiment)' {
        $marker = Join-Path $work 'ran-bad'
        $file = New-ExperimentFile 'bad-run.json' ('{"title":"t","description":"d","method":[{"type":"action","name":"touch","provider":{"type":"process","path":"touch","arguments":["' + $marker + '"]}},{"type":"action","name":"b","provider":{"type":"chaosps","cmdlet":"Invoke-Nothing"}}]}')
        $errs = $null
        $out = Invoke-ChaosExperiment $file -ErrorVariable errs -ErrorAction SilentlyContinue
        $out | Should -BeNullOrEmpty
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'ChaosPS.UnknownCmdlet,*'
        Test-Path $marker | Should -BeFalse
    }

    It 'refuses a selector that matches nothing before anything runs' {
        $marker = Join-Path $work 'ran-noselector'
        $file = New-ExperimentFile 'no-target.json' ('{"title":"t","description":"d","method":[{"type":"action","name":"touch","provider":{"type":"process","path":"touch","arguments":["' + $marker + '"]}},{"type":"action","name":"crash","provider":{"type":"chaosps","cmdlet":"Invoke-WorkerCrash","target":{"commandLine":"*no-such-process-chaosps-7f3a*"}}}]}')
        { Invoke-ChaosExperiment $file -ErrorAction Stop } | Should -Throw -ErrorId 'ChaosPS.ExperimentTargetNotFound*'
        Test-Path $marker | Should -BeFalse
    }
}

Describe 'Chaos Toolkit experiments with http and process providers' -Tag 'Experiments', 'Target' {
    BeforeAll { $script:t = Start-ChaosTestbed -Workers 2 }
    AfterAll { $t | Stop-ChaosTestbed }

    It 'runs a Chaos Toolkit JSON experiment unchanged; its journal has Chaos Toolkit''s shape' {
        # Written as for `chaos run`: configuration from the environment, http and process providers, tolerances.
        $json = @'
{
  "version": "1.0.0",
  "title": "The service answers and the host tools work",
  "description": "http and process providers exactly as Chaos Toolkit documents them",
  "tags": ["ctk"],
  "configuration": { "base_url": { "type": "env", "key": "EXPERIMENT_BASE_URL" } },
  "steady-state-hypothesis": {
    "title": "Service is up",
    "probes": [
      { "type": "probe", "name": "health", "tolerance": 200,
        "provider": { "type": "http", "url": "${base_url}/health", "timeout": 5 } },
      { "type": "probe", "name": "infer-answers", "tolerance": { "type": "jsonpath", "path": "$.usage.completion_tokens", "expect": 2, "target": "body" },
        "provider": { "type": "http", "method": "POST", "url": "${base_url}/v1/infer", "headers": { "Content-Type": "application/json" },
                      "arguments": { "prompt": "hi", "max_tokens": 2 }, "timeout": [3, 10] } },
      { "type": "probe", "name": "uname", "tolerance": { "type": "regex", "pattern": "Linux", "target": "stdout" },
        "provider": { "type": "process", "path": "uname", "arguments": "-s" } }
    ]
  },
  "method": [
    { "type": "action", "name": "wait-a-bit", "provider": { "type": "process", "path": "sleep", "arguments": ["0.2"] }, "pauses": { "after": 0.2 } }
  ],
  "rollbacks": [
    { "type": "action", "name": "say-done", "provider": { "type": "process", "path": "echo", "arguments": "done" } }
  ]
}
'@
        $file = New-ExperimentFile 'ctk.json' $json
        $env:EXPERIMENT_BASE_URL = "$($t.RouterUri)".TrimEnd('/')
        try { $j = Invoke-ChaosExperiment $file -JournalPath (Join-Path $work 'ctk-journal.json') }
        finally { Remove-Item Env:EXPERIMENT_BASE_URL }
        $j.Verdict | Should -Be 'Passed' -Because $j.Reason
        $j.Status | Should -Be 'completed'
        $doc = Get-Content $j.JournalPath -Raw | ConvertFrom-Json -AsHashtable
        foreach ($k in 'chaosps-version', 'platform', 'node', 'experiment', 'start', 'end', 'duration', 'status', 'deviated', 'steady_states', 'run', 'rollbacks', 'chaosps') { $doc.Keys | Should -Contain $k }
        $h = $doc.steady_states.before.probes[0]
        $h.output.Keys | Should -Be @('status', 'headers', 'body')
        $h.output.status | Should -Be 200
        $h.tolerance_met | Should -BeTrue
        $p = $doc.steady_states.before.probes[2]
        @($p.output.Keys | Sort-Object) | Should -Be @('status', 'stderr', 'stdout')
        $p.output.status | Should -Be 0
        $doc.steady_states.after.steady_state_met | Should -BeTrue
        $doc.rollbacks[0].output.stdout | Should -Be "done`n"
        $doc.experiment.steady_state_hypothesis | Should -BeNullOrEmpty
        $doc.experiment['steady-state-hypothesis'].probes[0].provider.url | Should -Be "$($t.RouterUri)health"
        $doc.chaosps.partial | Should -BeFalse
        $doc.chaosps.verdict | Should -Be 'Passed'
    }

    It 'a .psd1 experiment with the same keys and a powershell probe runs too' {
        $psd1 = @"
@{
    title = 'psd1 experiment'
    description = 'the same structure as a PowerShell data file'
    configuration = @{ base_url = '$("$($t.RouterUri)".TrimEnd('/'))' }
    'steady-state-hypothesis' = @{
        title = 'up'
        probes = @(
            @{ type = 'probe'; name = 'health'; tolerance = 200; provider = @{ type = 'http'; url = '`${base_url}/health' } }
            @{ type = 'probe'; name = 'ps'; tolerance = 42; provider = @{ type = 'powershell'; script = 'param(`$a) `$a * 2'; arguments = @{ a = 21 } } }
        )
    }
    method = @()
}
"@
        $file = Join-Path $work 'exp.psd1'
        Set-Content $file $psd1
        Test-ChaosExperiment $file | Should -BeTrue
        $j = Invoke-ChaosExperiment $file -JournalPath $work
        $j.Verdict | Should -Be 'Passed' -Because $j.Reason
        Split-Path $j.JournalPath | Should -Be $work
        $j.SteadyStateBefore.Probes[1].Output.ToJsonString() | Should -Be '42'
    }
}

Describe 'ChaosPS experiments against the embedded testbed' -Tag 'Experiments', 'Target' {
    BeforeAll { $script:t = Start-ChaosTestbed -Workers 3 }
    AfterAll { $t | Stop-ChaosTestbed }

    It 'worker crash under load passes against the healthy target, with load, faults and a timeline in the journal' {
        $path = (Get-ChaosExperiment worker-crash-under-load).Path
        $j = Invoke-ChaosExperiment $path -Testbed $t -Scale 0.4 -JournalPath (Join-Path $work 'crash.json')
        $j.Verdict | Should -Be 'Passed' -Because $j.Reason
        $doc = Get-Content $j.JournalPath -Raw | ConvertFrom-Json -AsHashtable
        $doc.chaosps.scale | Should -Be 0.4
        $doc.chaosps.load.Count | Should -Be 1
        $doc.chaosps.load[0].summary.requests | Should -BeGreaterThan 0
        $doc.chaosps.load[0].thresholds.Count | Should -Be 2
        $doc.chaosps.load[0].series.Count | Should -BeGreaterThan 0
        @($doc.chaosps.faults | Where-Object kind -like 'crash*').Count | Should -BeGreaterOrEqual 1
        @($doc.chaosps.events | Where-Object kind -eq 'fault-start').Count | Should -BeGreaterOrEqual 1
        ($doc.run | Where-Object { $_.activity.name -eq 'crashed-workers-recover' }).tolerance_met | Should -BeTrue
        @(Get-ChaosFault).Count | Should -Be 0
    }

    It '-Scale shortens each Start-LoadTest -Stage and the -Target fills worker_url and data_path' -Tag 'Scale' {
        # 40 s at 5 req/s is ~200 requests unscaled; at scale 0.05 the stage is 2 s (~10 requests).
        $exp = @{ title = 'stage scale'; description = 'stages are scaled'
            'steady-state-hypothesis' = @{ title = 'h'; probes = @(@{ type = 'probe'; name = 'worker'; tolerance = 200; provider = @{ type = 'http'; url = '${worker_url}/health'; timeout = 5 } }) }
            method = @(
                @{ type = 'probe'; name = 'staged-load'; tolerance = @{ type = 'thresholds' }
                   provider = @{ type = 'chaosps'; cmdlet = 'Start-LoadTest'; arguments = @{ Uri = '${target_url}/health'; Rate = 5; Stage = @('40s:5'); Threshold = @('http_req_failed: rate==0') } } }
                @{ type = 'probe'; name = 'data-path'; tolerance = $true; provider = @{ type = 'powershell'; arguments = @{ P = '${data_path}' }; script = { param($P) Test-Path -LiteralPath $P -PathType Container } } }
            ) }
        $j = Invoke-ChaosExperiment -Experiment $exp -Testbed $t -Scale 0.05 -JournalPath $work
        $j.Verdict | Should -Be 'Passed' -Because $j.Reason
        $j.Load[0].Requests | Should -BeGreaterThan 0
        $j.Load[0].Requests | Should -BeLessThan 100 -Because 'the 40 s stage ran as 2 s'
        $j.Experiment['steady-state-hypothesis']['probes'][0]['provider']['url'].ToString() | Should -Be "$($t.Workers[0].Uri.ToString().TrimEnd('/'))/health"
    }

    It 'the same experiment fails its thresholds when the threshold cannot hold (the check can fail)' {
        # Break the expectation on purpose: p(95) under 1 µs cannot hold for a real HTTP round trip.
        $doc = Get-Content (Get-ChaosExperiment worker-crash-under-load).Path -Raw | ConvertFrom-Json -AsHashtable
        $doc.method[0].provider.arguments.Threshold = @('http_req_duration: p(95)<0.001')
        $j = Invoke-ChaosExperiment -Experiment $doc -Testbed $t -Scale 0.3 -JournalPath $work -ErrorVariable errs -ErrorAction SilentlyContinue
        $j.Verdict | Should -Be 'Deviated'
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'ChaosPS.ExperimentDeviated,*'
        $errs[0].TargetObject.JournalPath | Should -Be $j.JournalPath
    }
}

Describe 'Latency on the path against the embedded testbed' -Tag 'Experiments', 'Target', 'Network' {
    BeforeAll { $script:t = Start-ChaosTestbed -Workers 2 }
    AfterAll { $t | Stop-ChaosTestbed }

    It 'p(95) stays within the budget with latency added, and the proxy is gone afterwards' {
        $j = Invoke-ChaosExperiment (Get-ChaosExperiment latency-on-the-path).Path -Testbed $t -Scale 0.4 -Configuration @{ proxy_listen = "127.0.0.1:$(Get-FreeTcpPort)" } -JournalPath $work
        $j.Verdict | Should -Be 'Passed' -Because $j.Reason
        $j.Load[0].P95Ms | Should -BeGreaterThan 0
        @($j.Faults | Where-Object Kind -eq 'NetworkFault').Count | Should -Be 1
        $j.Faults[0].Restored | Should -BeTrue
        @(Get-ChaosProxy -ErrorAction SilentlyContinue | Where-Object Name -eq 'chaosps-latency-on-the-path').Count | Should -Be 0
        @(Get-ChaosFault).Count | Should -Be 0
    }

    It 'deviates when the latency breaks the budget (the check can fail), and still removes the proxy' {
        $j = Invoke-ChaosExperiment (Get-ChaosExperiment latency-on-the-path).Path -Testbed $t -Scale 0.4 -JournalPath $work -ErrorAction SilentlyContinue `
            -Configuration @{ proxy_listen = "127.0.0.1:$(Get-FreeTcpPort)"; latency = '600ms'; p95_budget_ms = 300 }
        $j.Verdict | Should -Be 'Deviated'
        ($j.Run | Where-Object Name -eq 'load-through-the-proxy').ToleranceMet | Should -BeFalse
        $j.Load[0].Thresholds.Where({ $_.Metric -eq 'http_req_duration' }).Passed | Should -BeFalse
        $j.Rollbacks[0].Status | Should -Be 'succeeded'
        @(Get-ChaosProxy -ErrorAction SilentlyContinue | Where-Object Name -eq 'chaosps-latency-on-the-path').Count | Should -Be 0
    }
}

Describe 'Verdicts, exit codes, rollbacks and faults' -Tag 'Experiments' {
    It 'a hypothesis that stops holding deviates, and a child pwsh exits non-zero (a passing one exits 0)' {
        $marker = Join-Path $work 'healthy'
        New-Item $marker -ItemType File -Force | Out-Null
        $json = '{"title":"marker","description":"the marker file is the steady state","steady-state-hypothesis":{"title":"marker exists","probes":[{"type":"probe","name":"marker","tolerance":0,"provider":{"type":"process","path":"test","arguments":["-f","' + $marker + '"]}}]},"method":[{"type":"action","name":"break","provider":{"type":"process","path":"rm","arguments":["-f","' + $marker + '"]}}],"rollbacks":[{"type":"action","name":"repair","provider":{"type":"process","path":"touch","arguments":["' + $marker + '"]}}]}'
        $file = New-ExperimentFile 'deviates.json' $json
        # Under Azure DevOps the failed cases also become error annotations in the log.
        $r = Invoke-Experiment-Child "Invoke-ChaosExperiment '$file' -ErrorAction SilentlyContinue | Out-Null; exit [int](-not `$?)" @{ TF_BUILD = 'True' }
        $r.ExitCode | Should -Be 1 -Because $r.Error
        $r.Output | Should -Match '##vso\[task\.logissue type=error[^\]]*\].*marker' -Because 'a deviated run annotates its failed probe under TF_BUILD'
        Test-Path $marker | Should -BeTrue -Because 'the rollback played'
        $journal = Get-ChildItem (Join-Path $work 'chaosps-journals') -Filter 'marker-*.json' | Select-Object -Last 1
        $doc = Get-Content $journal.FullName -Raw | ConvertFrom-Json -AsHashtable
        $doc.deviated | Should -BeTrue
        $doc.chaosps.verdict | Should -Be 'Deviated'
        $doc.steady_states.after.steady_state_met | Should -BeFalse

        $okFile = New-ExperimentFile 'passes.json' ($json -replace '"path":"rm","arguments":\["-f","[^"]+"\]', '"path":"true"')
        $r2 = Invoke-Experiment-Child "Invoke-ChaosExperiment '$okFile' | Out-Null; exit [int](-not `$?)" @{ TF_BUILD = 'True' }
        $r2.ExitCode | Should -Be 0 -Because $r2.Error
        $r2.Output | Should -Not -Match '##vso\[task\.logissue' -Because 'a passing run annotates nothing'
    }

    It 'substitutes env and inline secrets into the activities and never writes them in clear (journal, reports, errors)' -Tag 'Secrets' {
        $seen = Join-Path $work 'secret-seen.txt'
        $json = '{"title":"secrets","description":"secrets reach the activities, not the records","secrets":{"api":{"token":{"type":"env","key":"CHAOSPS_TEST_SECRET_TOKEN"},"user":"inline-user-7f3a"}},' +
            '"steady-state-hypothesis":{"title":"h","probes":[{"type":"probe","name":"echo","tolerance":{"type":"regex","pattern":"env-token-9c2e","target":"stdout"},"provider":{"type":"process","path":"sh","arguments":["-c","echo ${user}:${token}; echo ${token} > ' + $seen + '"]}}]},' +
            '"method":[{"type":"action","name":"fails","provider":{"type":"process","path":"/no/such/${token}"}}]}'
        $file = New-ExperimentFile 'secrets.json' $json
        $jpath = Join-Path $work 'secrets-journal.json'
        $r = Invoke-Experiment-Child "Invoke-ChaosExperiment '$file' -JournalPath '$jpath' -ErrorAction SilentlyContinue -ErrorVariable e | Out-Null; `$e | ForEach-Object { `$_.ToString() }; '$jpath' | Export-ChaosExperimentReport -Path '$work/secrets.junit.xml' -Format JUnit -NoAnnotation | Out-Null" @{ CHAOSPS_TEST_SECRET_TOKEN = 'env-token-9c2e' }
        (Get-Content $seen -Raw).Trim() | Should -Be 'env-token-9c2e' -Because 'the activity got the real value'
        $text = Get-Content $jpath -Raw
        $doc = $text | ConvertFrom-Json -AsHashtable
        $doc.steady_states.before.probes[0].tolerance_met | Should -BeTrue -Because 'the tolerance judged the real output'
        $doc.steady_states.before.probes[0].output.stdout.Trim() | Should -Be '***:***'
        $doc.run[0].status | Should -Be 'failed'
        $text | Should -Not -Match 'env-token-9c2e|inline-user-7f3a'
        $text | Should -Match ([regex]::Escape('/no/such/***'))
        $r.Output + $r.Error | Should -Not -Match 'env-token-9c2e|inline-user-7f3a'
        Get-Content "$work/secrets.junit.xml" -Raw | Should -Not -Match 'env-token-9c2e|inline-user-7f3a'
    }

    It 'runs a suite in order, one journal per experiment in the -JournalPath folder' {
        $order = Join-Path $work 'suite-order.txt'
        $files = foreach ($n in 'one', 'two') {
            New-ExperimentFile "suite-$n.json" ('{"title":"suite ' + $n + '","description":"d","steady-state-hypothesis":{"title":"h","probes":[{"type":"probe","name":"p","tolerance":0,"provider":{"type":"process","path":"sh","arguments":["-c","echo ' + $n + ' >> ' + $order + '"]}}]},"method":[]}')
        }
        $dir = Join-Path $work 'suite-journals'
        $js = @(Invoke-ChaosExperiment $files -JournalPath $dir)
        $js.Count | Should -Be 2
        $js.Title | Should -Be @('suite one', 'suite two')
        $js.Verdict | Should -Be @('Passed', 'Passed')
        @(Get-ChildItem $dir -Filter *.json).Count | Should -Be 2
        (Get-Content $order) | Should -Be @('one', 'one', 'two', 'two')
    }

    It 'an error record about a command''s own result is a verdict for the tolerance, any other error fails the activity' {
        $verdict = @{
            title = 'verdict error'; description = 'd'
            'steady-state-hypothesis' = @{ title = 'h'; probes = @(@{ type = 'probe'; name = 'p'; tolerance = 0; provider = @{ type = 'process'; path = 'true' } }) }
            method = @(@{ type = 'probe'; name = 'load'; tolerance = @{ type = 'thresholds' }; provider = @{ type = 'powershell'; script = {
                $r = @{ Requests = 10; Thresholds = @(@{ Metric = 'http_req_failed'; Expression = 'rate<0.01'; Actual = 0.5; Passed = $false }) }
                Write-Error -Message 'thresholds failed' -ErrorId 'ChaosPS.ThresholdsFailed' -TargetObject $r
                $r } } })
        }
        $j = Invoke-ChaosExperiment -Experiment $verdict -JournalPath $work -ErrorAction SilentlyContinue
        $j.Run[0].Status | Should -Be 'succeeded'
        $j.Verdict | Should -Be 'Deviated' -Because $j.Reason
        $verdict.method[0].provider.script = { Write-Error -Message 'broken' -ErrorId 'Something.Else'; @{ Requests = 1 } }
        $j2 = Invoke-ChaosExperiment -Experiment $verdict -JournalPath $work -ErrorAction SilentlyContinue
        $j2.Run[0].Status | Should -Be 'failed'
        $j2.Verdict | Should -Be 'Failed'
        # A script that judges a verdict-bearing result itself and writes its own object (the shipped stress
        # experiments do): the cmdlet's verdict error (here an Inconclusive degradation) is not a failure of the
        # activity, so the run ends Inconclusive as the script said, not Failed.
        $verdict.method[0].tolerance = @{ type = 'verdict'; expect = 'Graceful' }
        $verdict.method[0].provider.script = {
            $v = [pscustomobject]@{ Verdict = 'Inconclusive' }
            Write-Error -Message 'the stressor never reached its target' -ErrorId 'ChaosPS.DegradationInconclusive' -TargetObject $v
            [pscustomobject]@{ Verdict = $v.Verdict; Reasons = @('the stressor never reached its target') } }
        $j3 = Invoke-ChaosExperiment -Experiment $verdict -JournalPath $work -ErrorAction SilentlyContinue
        $j3.Run[0].Status | Should -Be 'succeeded'
        $j3.Verdict | Should -Be 'Inconclusive' -Because $j3.Reason
    }

    It 'a failing action fails the run with its exception in the journal, stops the method and plays rollbacks' {
        $rolled = Join-Path $work 'rolled-back'
        $after = Join-Path $work 'should-not-run'
        $json = '{"title":"failing action","description":"d","steady-state-hypothesis":{"title":"ok","probes":[{"type":"probe","name":"true","tolerance":0,"provider":{"type":"process","path":"true"}}]},"method":[{"type":"action","name":"bad-load","provider":{"type":"chaosps","cmdlet":"Start-LoadTest","arguments":{"Uri":"http://127.0.0.1:1/","Iterations":1,"Concurrency":1,"Threshold":["http_req_latency: p(95)<1"]}}},{"type":"action","name":"later","provider":{"type":"process","path":"touch","arguments":["' + $after + '"]}}],"rollbacks":[{"type":"action","name":"rb","provider":{"type":"process","path":"touch","arguments":["' + $rolled + '"]}}]}'
        $file = New-ExperimentFile 'fails.json' $json
        $j = Invoke-ChaosExperiment $file -JournalPath $work -ErrorVariable errs -ErrorAction SilentlyContinue
        $j.Status | Should -Be 'failed'
        $j.Verdict | Should -Be 'Failed'
        $errs[0].FullyQualifiedErrorId | Should -BeLike 'ChaosPS.ExperimentFailed,*'
        $j.Run[0].Status | Should -Be 'failed'
        $j.Run[0].Exception -join ' ' | Should -Match 'UnknownThresholdMetric'
        Test-Path $after | Should -BeFalse
        Test-Path $rolled | Should -BeTrue
        { Invoke-ChaosExperiment $file -JournalPath $work -ErrorAction Stop } | Should -Throw -ErrorId 'ChaosPS.ExperimentFailed*'
    }

    It 'a fault an action leaves in place is restored when the run ends (no rollback needed)' {
        $s = Start-Process sleep -ArgumentList 600 -PassThru; $started.Add($s)
        $e = @{
            title = 'left in place'; description = 'Suspend without a duration leaves the process stopped'
            'steady-state-hypothesis' = @{ title = 't'; probes = @(@{ type = 'probe'; name = 'alive'; tolerance = $true; provider = @{ type = 'powershell'; script = "(Get-Content /proc/$($s.Id)/stat -Raw) -notmatch '\) T '" } }) }
            method = @(@{ type = 'action'; name = 'freeze'; provider = @{ type = 'chaosps'; cmdlet = 'Suspend-ChaosTarget'; target = @{ id = "$($s.Id)" } } })
        }
        $j = Invoke-ChaosExperiment -Experiment $e -JournalPath $work -HypothesisStrategy before-method-only
        $j.Verdict | Should -Be 'Passed' -Because $j.Reason
        $j.Faults.Count | Should -Be 1
        $j.Faults[0].Kind | Should -Be 'Suspend'
        $j.Faults[0].Restored | Should -BeTrue
        Get-ProcessState $s.Id | Should -BeIn 'S', 'R'
        @(Get-ChaosFault).Count | Should -Be 0
    }

    It 'a "recovered" tolerance on a crash that did not take (SIGTERM ignored) is Inconclusive, never Passed' {
        $psi = [Diagnostics.ProcessStartInfo]::new('/bin/sh')
        foreach ($a in '-c', "trap '' TERM; exec sleep 600") { $psi.ArgumentList.Add($a) }
        $p = [Diagnostics.Process]::Start($psi); $started.Add($p)
        Wait-Until { (Get-Content "/proc/$($p.Id)/cmdline" -Raw -ErrorAction SilentlyContinue) -match '^sleep' } 10 | Out-Null
        $e = @{
            title = 'crash that does not take'; description = 'The target ignores SIGTERM, so there is nothing to recover from'
            method = @(@{ type = 'probe'; name = 'crash-and-recover'; tolerance = @{ type = 'recovered'; within = 30 }
                provider = @{ type = 'powershell'; arguments = @{ Id = $p.Id }
                    script = { param($Id) Get-ChaosTarget -Id $Id | Invoke-WorkerCrash -Signal TERM -ObserveTimeout 1s -Confirm:$false -WarningAction SilentlyContinue | Wait-ChaosRecovery -Timeout 10s -WarningAction SilentlyContinue } } })
        }
        $j = Invoke-ChaosExperiment -Experiment $e -JournalPath $work -ErrorAction SilentlyContinue
        $j.Verdict | Should -Be 'Inconclusive' -Because $j.Reason
        $j.Reason | Should -Match 'no fault took effect'
        $j.Run[0].Inconclusive | Should -BeTrue
        $p.HasExited | Should -BeFalse
    }

    It '-WhatIf prints the plan with targets resolved and touches nothing' {
        $s = Start-Process sleep -ArgumentList 600 -PassThru; $started.Add($s)
        $marker = Join-Path $work 'whatif-ran'
        $json = '{"title":"whatif","description":"d","method":[{"type":"action","name":"touch","provider":{"type":"process","path":"touch","arguments":["' + $marker + '"]}},{"type":"action","name":"crash","provider":{"type":"chaosps","cmdlet":"Invoke-WorkerCrash","target":{"id":["' + $s.Id + '"]}}}]}'
        $file = New-ExperimentFile 'whatif.json' $json
        $r = Invoke-Experiment-Child "Invoke-ChaosExperiment '$file' -JournalPath '$work/whatif-journal.json' -WhatIf"
        $r.ExitCode | Should -Be 0 -Because $r.Error
        $r.Output | Should -Match 'What if'
        $r.Output | Should -Match "process $($s.Id)"
        Test-Path $marker | Should -BeFalse
        Test-Path "$work/whatif-journal.json" | Should -BeFalse
        $s.HasExited | Should -BeFalse
    }

    It 'Ctrl+C (a stopped pipeline) ends the run as interrupted, plays rollbacks and leaves nothing in place' {
        $s = Start-Process sleep -ArgumentList 600 -PassThru; $started.Add($s)
        $rolled = Join-Path $work 'ctrlc-rolled-back'
        $jpath = Join-Path $work 'ctrlc.json'
        $json = '{"title":"ctrl-c","description":"d","method":[{"type":"action","name":"freeze","provider":{"type":"chaosps","cmdlet":"Suspend-ChaosTarget","target":{"id":["' + $s.Id + '"]},"arguments":{"Duration":"5m"}}}],"rollbacks":[{"type":"action","name":"rb","provider":{"type":"process","path":"touch","arguments":["' + $rolled + '"]}}]}'
        $file = New-ExperimentFile 'ctrlc.json' $json
        $ps = [powershell]::Create()
        $null = $ps.AddScript({ param($m, $f, $j, $st) $env:CHAOSPS_STATE_DIR = $st; Import-Module $m; Invoke-ChaosExperiment $f -JournalPath $j }).
            AddArgument($env:CHAOSPS_MODULE).AddArgument($file).AddArgument($jpath).AddArgument($state)
        $h = $ps.BeginInvoke()
        try {
            Wait-Until { (Get-ProcessState $s.Id) -eq 'T' } 60 | Should -BeTrue
            $ps.Stop()
            Get-ProcessState $s.Id | Should -BeIn 'S', 'R'
            @(Get-ChaosFault).Count | Should -Be 0
            Test-Path $rolled | Should -BeTrue
            $doc = Get-Content $jpath -Raw | ConvertFrom-Json -AsHashtable
            $doc.status | Should -Be 'interrupted'
            $doc.chaosps.verdict | Should -Be 'Interrupted'
            $doc.chaosps.partial | Should -BeFalse
        } finally { $ps.Dispose() }
    }

    It 'SIGTERM ends the run as interrupted with rollbacks played, then pwsh exits' {
        $s = Start-Process sleep -ArgumentList 600 -PassThru; $started.Add($s)
        $rolled = Join-Path $work 'term-rolled-back'
        $jpath = Join-Path $work 'term.json'
        $json = '{"title":"sigterm","description":"d","method":[{"type":"action","name":"freeze","provider":{"type":"chaosps","cmdlet":"Suspend-ChaosTarget","target":{"id":["' + $s.Id + '"]},"arguments":{"Duration":"5m"}}}],"rollbacks":[{"type":"action","name":"rb","provider":{"type":"process","path":"touch","arguments":["' + $rolled + '"]}}]}'
        $file = New-ExperimentFile 'term.json' $json
        $p = Invoke-ChildPwsh -NoWait -Script "Import-Module '$env:CHAOSPS_MODULE'; Invoke-ChaosExperiment '$file' -JournalPath '$jpath'" -Environment @{ CHAOSPS_STATE_DIR = $state }
        try {
            Wait-Until { (Get-ProcessState $s.Id) -eq 'T' } 60 | Should -BeTrue
            kill -TERM $p.Id
            $p.WaitForExit(120000) | Should -BeTrue
            Get-ProcessState $s.Id | Should -BeIn 'S', 'R'
            Test-Path $rolled | Should -BeTrue
            $doc = Get-Content $jpath -Raw | ConvertFrom-Json -AsHashtable
            $doc.status | Should -Be 'interrupted'
            $doc.chaosps.partial | Should -BeFalse
            Wait-Until { @(Get-ChaosFault).Count -eq 0 } 30 | Should -BeTrue
        } finally { if (-not $p.HasExited) { $p.Kill() } }
    }

    It 'a SIGKILLed run leaves nothing in place (the watchdog undoes its fault) and a readable partial journal' {
        $s = Start-Process sleep -ArgumentList 600 -PassThru; $started.Add($s)
        $jpath = Join-Path $work 'killed.json'
        $json = '{"title":"killed","description":"d","method":[{"type":"action","name":"freeze","provider":{"type":"chaosps","cmdlet":"Suspend-ChaosTarget","target":{"id":["' + $s.Id + '"]},"arguments":{"Duration":"5m"}}}]}'
        $file = New-ExperimentFile 'killed.json' $json
        $p = Invoke-ChildPwsh -NoWait -Script "Import-Module '$env:CHAOSPS_MODULE'; Invoke-ChaosExperiment '$file' -JournalPath '$jpath'" -Environment @{ CHAOSPS_STATE_DIR = $state }
        try {
            Wait-Until { (Get-ProcessState $s.Id) -eq 'T' -and @(Get-ChaosFault).Count -eq 1 } 60 | Should -BeTrue
            kill -KILL $p.Id
            $p.WaitForExit(30000) | Should -BeTrue
            Wait-Until { (Get-ProcessState $s.Id) -ne 'T' -and @(Get-ChaosFault).Count -eq 0 } 90 | Should -BeTrue
            @(Get-ChaosFault).Count | Should -Be 0
            $doc = Get-Content $jpath -Raw | ConvertFrom-Json -AsHashtable
            $doc.chaosps.partial | Should -BeTrue
            $doc.status | Should -Be 'interrupted'
            $doc.chaosps.verdict | Should -Be 'Interrupted'
            $doc.end | Should -BeNullOrEmpty
            $doc.experiment.title | Should -Be 'killed'
        } finally { if (-not $p.HasExited) { $p.Kill() } }
    }
}
