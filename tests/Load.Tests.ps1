#Requires -Modules Pester
# Start-LoadTest, Export-LoadTestReport, Merge-LoadTestResult against a small keep-alive HTTP server on 127.0.0.1
# (compiled from the xunit suite's TestServer.cs and TestHttpServer.cs into this pwsh with Add-Type).

BeforeAll {
    Import-Module $env:CHAOSPS_MODULE -Force
    $src = 'TestServer.cs', 'TestHttpServer.cs' | ForEach-Object { Join-Path $PSScriptRoot "ChaosPS.Engine.Tests/Support/$_" }
    if (-not ('ChaosPS.Engine.Tests.TestHttpServer' -as [type])) {
        Add-Type -Path $src -ReferencedAssemblies System.Web.HttpUtility, System.Net.Sockets, System.Net.Primitives, System.Collections, System.Collections.Specialized, System.Linq, System.Runtime, System.Memory, System.Threading, System.Threading.ThreadPool
    }
    $script:srv = [ChaosPS.Engine.Tests.TestHttpServer]::new()
    $script:base = $srv.Base
    $script:tmp = Join-Path ([IO.Path]::GetTempPath()) "chaosps-load-$PID"
    New-Item -ItemType Directory -Force $tmp | Out-Null
    $PSDefaultParameterValues['Start-LoadTest:ProgressAction'] = 'SilentlyContinue'
}

AfterAll {
    $srv.Dispose()
    Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
}

Describe 'Start-LoadTest' -Tag 'Load' {
    It 'runs a closed-model test and returns a typed, formatted result' {
        $r = Start-LoadTest "$base/json" -Concurrency 4 -Iterations 200 -JsonPath @{ '$.status' = 'ok' } -BodyContains '"n":42'
        $r.GetType().FullName | Should -Be 'ChaosPS.Load.LoadTestResult'
        $r.Requests | Should -Be 200
        $r.Failed | Should -Be 0
        $r.ChecksPassed | Should -Be 400
        $r.Latency.P95 | Should -BeGreaterThan 0
        $r.Latency.Count | Should -Be 200
        # No threshold was given: nothing was judged, so the run is Inconclusive and never Passed.
        $r.Verdict | Should -Be 'Inconclusive'
        $r.Passed | Should -BeFalse
        $text = $r | Out-String
        $text | Should -Match 'Verdict\s*:\s*INCONCLUSIVE'
        $text | Should -Match 'Latency\s*:\s*p50'
    }

    It 'evaluates every threshold, marks each, and fails the result on a failing one' {
        $r = Start-LoadTest "$base/ok" -Concurrency 2 -Iterations 50 -Threshold 'http_req_duration: p(95)<60000, p(99)<60000', 'http_req_failed: rate<0.01', 'ttfb: p(99)<0.0001', 'http_reqs: count==50' -ErrorAction SilentlyContinue
        $r.Thresholds.Count | Should -Be 5
        ($r.Thresholds | Where-Object Passed).Count | Should -Be 4
        ($r.Thresholds | Where-Object { -not $_.Passed }).Metric | Should -Be 'ttfb'
        ($r.Thresholds | Where-Object { -not $_.Passed }).Mark | Should -Be '✗'
        $r.Passed | Should -BeFalse
        ($r | Out-String) | Should -Match '✗ ttfb: p\(99\)<0.0001'
    }

    It 'rejects bad input before sending any request: <Case>' -ForEach @(
        @{ Case = 'bad URI'; Params = @{ Uri = 'htp:/nowhere'; Concurrency = 1 }; Id = 'InvalidUri'; Token = 'htp:/nowhere' }
        @{ Case = 'bad header'; Params = @{ Uri = 'URI'; Concurrency = 1; Header = 'X-No-Colon' }; Id = 'InvalidHeader'; Token = 'X-No-Colon' }
        @{ Case = 'bad stage'; Params = @{ Uri = 'URI'; Concurrency = 1; Stage = '30x:10' }; Id = 'InvalidStage'; Token = '30x' }
        @{ Case = 'unknown metric'; Params = @{ Uri = 'URI'; Concurrency = 1; Threshold = 'http_req_latency: p(95)<500' }; Id = 'UnknownThresholdMetric'; Token = 'http_req_latency' }
        @{ Case = 'bad expression'; Params = @{ Uri = 'URI'; Concurrency = 1; Threshold = 'http_req_duration: p95<500' }; Id = 'InvalidThreshold'; Token = 'p95<500' }
        @{ Case = 'no model'; Params = @{ Uri = 'URI' }; Id = 'InvalidModel'; Token = '-Rate' }
    ) {
        $before = $srv.Requests
        $a = $Params.Clone(); if ($a.Uri -eq 'URI') { $a.Uri = "$base/ok" }
        $err = $null
        try { Start-LoadTest @a -Duration 5s -ErrorAction Stop } catch { $err = $_ }
        $err | Should -Not -BeNullOrEmpty
        $err.FullyQualifiedErrorId | Should -BeLike "$Id*"
        $err.Exception.Message | Should -BeLike "*$Token*"
        $srv.Requests | Should -Be $before
    }

    It 'completes against an unreachable target and reports errors by kind' {
        $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $port = $l.LocalEndpoint.Port; $l.Stop()
        $r = Start-LoadTest "http://127.0.0.1:$port/" -Concurrency 2 -Iterations 20 -Threshold 'http_req_failed: rate<0.01' -ErrorAction SilentlyContinue
        $r.Requests | Should -Be 20
        $r.ErrorsByKind['refused'] | Should -Be 20
        $r.Passed | Should -BeFalse
    }

    It 'runs the open model at the requested rate and counts late and dropped requests' {
        $r = Start-LoadTest "$base/ok" -Rate 100 -Duration 2s
        $r.Model | Should -Be 'Open'
        $r.Scheduled | Should -Be 200
        ($r.Requests + $r.Dropped) | Should -Be 200
        $r.ServiceTime.Count | Should -Be $r.Requests
    }

    It 'records streaming (SSE) metrics' {
        $r = Start-LoadTest "$base/sse?n=4&ms=20" -Concurrency 2 -Iterations 4
        $r.Events | Should -Be 16
        $r.TimeToFirstEvent.Count | Should -Be 4
        $r.InterEventLatency.P50 | Should -BeGreaterOrEqual 10
        ($r | Out-String) | Should -Match 'Streaming\s*:\s*16 events'
    }

    It 'rotates through a JSON-lines request file' {
        $f = Join-Path $tmp 'requests.jsonl'
        @('{"name":"ok","uri":"/ok"}', '{"name":"json","uri":"/json"}', '{"name":"infer","method":"POST","uri":"/status/500","json":{"prompt":"hi","max_tokens":8}}') | Set-Content $f
        $r = Start-LoadTest -Uri $base -RequestFile $f -Concurrency 3 -Iterations 30
        $r.ByName.Count | Should -Be 3
        ($r.ByName | Where-Object Name -eq 'infer').Failed | Should -Be 10
        $r.ErrorsByKind['status_500'] | Should -Be 10
    }

    It 'runs as a job, and Stop-Job returns the partial result' {
        $j = Start-LoadTest "$base/ok" -Concurrency 2 -Iterations 20 -AsJob
        $j | Wait-Job -Timeout 60 | Out-Null
        $r = $j | Receive-Job
        $r.Requests | Should -Be 20
        $j2 = Start-LoadTest "$base/ok" -Concurrency 2 -Duration 60s -AsJob
        Start-Sleep -Seconds 2
        $j2 | Stop-Job
        $p = $j2 | Receive-Job
        $p.Aborted | Should -BeTrue
        $p.AbortReason | Should -Be 'cancelled'
        $p.Requests | Should -BeGreaterThan 0
        $p.Duration.TotalSeconds | Should -BeLessThan 30
        Remove-Job $j, $j2 -Force
    }

    It 'stops promptly when the pipeline is stopped (Ctrl+C) and keeps the partial result in $LoadTestResult' {
        $ps = [powershell]::Create()
        try {
            [void]$ps.AddScript("Import-Module '$env:CHAOSPS_MODULE'; Start-LoadTest '$base/ok' -Concurrency 2 -Duration 60s -ProgressAction SilentlyContinue")
            $h = $ps.BeginInvoke()
            Start-Sleep -Seconds 2
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $ps.Stop()
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 15
            $h.IsCompleted | Should -BeTrue
            $p = $ps.Runspace.SessionStateProxy.GetVariable('LoadTestResult')
            $p | Should -Not -BeNullOrEmpty
            $p.Aborted | Should -BeTrue
            $p.AbortReason | Should -Be 'cancelled'
            $p.Requests | Should -BeGreaterThan 0
        }
        finally { $ps.Dispose() }
    }

    It 'aborts on a failing threshold with -AbortOnFail' {
        $r = Start-LoadTest "$base/status/503" -Concurrency 2 -Duration 30s -Threshold 'http_req_failed: rate<0.01' -AbortOnFail -ErrorAction SilentlyContinue
        $r.Aborted | Should -BeTrue
        $r.AbortReason | Should -Match 'threshold'
        $r.Duration.TotalSeconds | Should -BeLessThan 20
    }
}

Describe 'Export-LoadTestReport' -Tag 'Load' {
    BeforeAll {
        $script:res = Start-LoadTest "$base/json" -Concurrency 2 -Duration 3s -Threshold 'http_req_duration: p(95)<60000', 'ttfb: p(99)<0.0001', 'http_req_failed: rate<0.01' -ErrorAction SilentlyContinue
    }

    It 'writes k6-like JSON' {
        $p = Join-Path $tmp 'r.json'
        $res | Export-LoadTestReport -Path $p -Format Json
        $j = Get-Content $p -Raw | ConvertFrom-Json
        $j.metrics.http_req_duration.'p(95)' | Should -BeGreaterThan 0
        $j.metrics.http_reqs.count | Should -Be $res.Requests
        $j.metrics.http_req_duration.thresholds.'p(95)<60000'.ok | Should -BeTrue
        $j.metrics.ttfb.thresholds.'p(99)<0.0001'.ok | Should -BeFalse
    }

    It 'writes JUnit and NUnit with one test case per threshold and the failing one failed' {
        $ju = Join-Path $tmp 'r.junit.xml'; $nu = Join-Path $tmp 'r.nunit.xml'
        $res | Export-LoadTestReport -Path $ju -Format JUnit
        $res | Export-LoadTestReport -Path $nu -Format NUnit
        [xml]$x = Get-Content $ju -Raw
        $x.testsuites.testsuite.testcase.Count | Should -Be 3
        $x.testsuites.failures | Should -Be '1'
        @($x.testsuites.testsuite.testcase | Where-Object { $_.failure }).name | Should -Be 'ttfb: p(99)<0.0001'
        [xml]$n = Get-Content $nu -Raw
        $n.'test-run'.result | Should -Be 'Failed'
        $n.'test-run'.failed | Should -Be '1'
        @($n.'test-run'.'test-suite'.'test-case').Count | Should -Be 3
    }

    It 'writes the HdrHistogram percentile spectrum' {
        $p = Join-Path $tmp 'r.hgrm'
        $res | Export-LoadTestReport -Path $p
        $t = Get-Content $p -Raw
        $t | Should -Match 'Value\s+Percentile\s+TotalCount'
        $t | Should -Match "#\[Max\s*=\s*[\d.]+, Total count\s*=\s*$($res.Latency.Count)\]"
    }

    It 'writes a self-contained HTML report that renders in headless Chromium' {
        $p = Join-Path $tmp 'r.html'
        $res | Export-LoadTestReport -Path $p -Format Html
        $h = Get-Content $p -Raw
        $h | Should -Match '<svg id="latency-chart"'
        $h | Should -Match '<svg id="throughput-chart"'
        $h | Should -Match 'class="series"'
        $h | Should -Not -Match '<script[^>]+src='
        $h | Should -Not -Match '(src|href)\s*=\s*"?(https?:)?//'
        $chromium = (Get-Command chromium, chromium-browser, google-chrome -ErrorAction SilentlyContinue | Select-Object -First 1).Source
        if (-not $chromium) { Set-ItResult -Skipped -Because 'no chromium on this machine (.ci/run installs it)'; return }
        $png = Join-Path $tmp 'r.png'; $profile = Join-Path $tmp 'chromium-profile'
        $cargs = @('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update',
            '--disable-sync', "--user-data-dir=$profile", "--screenshot=$png", '--window-size=1280,2000', "file://$p")
        $proc = Start-Process $chromium -ArgumentList $cargs -PassThru -RedirectStandardError (Join-Path $tmp 'chromium.err') -RedirectStandardOutput (Join-Path $tmp 'chromium.out')
        if (-not $proc.WaitForExit(90000)) { $proc.Kill($true); throw 'chromium did not finish in 90 s' }
        Test-Path $png | Should -BeTrue
        (Get-Item $png).Length | Should -BeGreaterThan 30KB
        # A rendered page with charts is not one flat colour: count distinct bytes in the compressed image data.
        $bytes = [IO.File]::ReadAllBytes($png)
        ($bytes | Select-Object -Skip 100 -First 20000 | Sort-Object -Unique).Count | Should -BeGreaterThan 200
    }
}

Describe 'Merge-LoadTestResult' -Tag 'Load' {
    It 'merges results from two child pwsh processes through Export-Clixml with exact counts' {
        $pwsh = (Get-Process -Id $PID).Path
        $procs = foreach ($i in 1, 2) {
            $out = Join-Path $tmp "part$i.clixml"
            $cmd = "Import-Module '$env:CHAOSPS_MODULE'; Start-LoadTest '$base/ok' -Concurrency 2 -Iterations $(100 * $i) -Threshold 'http_req_failed: rate<0.01' -ProgressAction SilentlyContinue | Export-Clixml '$out'"
            # The same PowerShell as this one: an apphost pwsh, or `dotnet <PSHOME>/pwsh.dll` when run as a dotnet tool.
            $pre = @(if ((Split-Path $pwsh -Leaf) -notmatch '^pwsh(\.exe)?$') { Join-Path $PSHOME 'pwsh.dll' })
            Start-Process $pwsh -ArgumentList ($pre + @('-NoProfile', '-NonInteractive', '-Command', $cmd)) -PassThru
        }
        foreach ($p in $procs) { $p.WaitForExit(120000) | Should -BeTrue }
        $parts = 1, 2 | ForEach-Object { Import-Clixml (Join-Path $tmp "part$_.clixml") }
        $parts[0].PSObject.TypeNames[0] | Should -Be 'Deserialized.ChaosPS.Load.LoadTestResult'
        $m = $parts | Merge-LoadTestResult
        $m.GetType().FullName | Should -Be 'ChaosPS.Load.LoadTestResult'
        $m.Requests | Should -Be 300
        $m.Latency.Count | Should -Be 300
        $m.Sources | Should -Be 2
        $m.Latency.Max | Should -Be ([math]::Max($parts[0].Latency.Max, $parts[1].Latency.Max))
        $m.Latency.Min | Should -Be ([math]::Min($parts[0].Latency.Min, $parts[1].Latency.Min))
        $m.Thresholds.Count | Should -Be 1
        $m.Passed | Should -BeTrue
        # New thresholds can be evaluated on the merged data.
        $m2 = $parts | Merge-LoadTestResult -Threshold 'http_reqs: count==300', 'http_reqs: count==301'
        $m2.Thresholds.Passed | Should -Be @($true, $false)
        # A deserialized result exports too.
        $parts[0] | Export-LoadTestReport -Path (Join-Path $tmp 'part.json')
        (Get-Content (Join-Path $tmp 'part.json') -Raw | ConvertFrom-Json).metrics.http_reqs.count | Should -Be 100
    }
}
