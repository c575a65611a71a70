# Results a script can trust without reading the source: verdicts as error records, table headers that are property
# names, views that fit 80 columns, help that documents outputs and units, reports that validate against their XSDs,
# and the duration syntax for users' own functions. All traffic stays on 127.0.0.1.
BeforeAll {
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    if (-not $env:CHAOSPS_STATE_DIR) { $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-results-$PID" }
    $script:modulePath = Get-ChaosModulePath
    $script:module = Import-Module $modulePath -PassThru -Force
    # Engine types live in the module's own load context: reach them through the cmdlets' [OutputType].
    $script:engine = (Get-Command Start-LoadTest).OutputType[0].Type.Assembly
    # A port nothing listens on: every request is refused at once.
    $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $script:deadPort = $l.LocalEndpoint.Port; $l.Stop()
    $script:deadUri = "http://127.0.0.1:$deadPort/"

    function Get-SchemaDir {
        # Pester ships the NUnit 3 and JUnit 4 XSDs; found the way build.ps1 finds Pester (NUGET_PACKAGES or
        # ~/.nuget/packages, the version pinned in build/Tools.csproj).
        $nugetRoot = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget/packages' }
        $ver = ([xml](Get-Content "$PSScriptRoot/../build/Tools.csproj")).Project.ItemGroup.PackageDownload |
            Where-Object Include -eq 'Pester' | ForEach-Object { $_.Version.Trim('[', ']') }
        Join-Path $nugetRoot "pester/$ver/tools/schemas"
    }
    function Test-XmlAgainstSchema([string] $Path, [string[]] $Schemas) {
        $set = [Xml.Schema.XmlSchemaSet]::new()
        $set.XmlResolver = [Xml.XmlUrlResolver]::new()   # TestResult.xsd redefines TestDefinitions.xsd by relative path
        foreach ($s in $Schemas) { [void]$set.Add($null, $s) }
        $settings = [Xml.XmlReaderSettings]::new()
        $settings.ValidationType = [Xml.ValidationType]::Schema
        $settings.Schemas = $set
        $settings.ValidationFlags = $settings.ValidationFlags -bor [Xml.Schema.XmlSchemaValidationFlags]::ReportValidationWarnings
        $errors = [Collections.Generic.List[string]]::new()
        $settings.add_ValidationEventHandler({ param($s, $e) $errors.Add("$($e.Severity) line $($e.Exception.LineNumber): $($e.Message)") })
        $reader = [Xml.XmlReader]::Create($Path, $settings)
        try { while ($reader.Read()) { } } finally { $reader.Dispose() }
        , $errors
    }
}

Describe 'A verdict that did not pass is an error record' -Tag Unit {
    It 'Start-LoadTest with a failed threshold: the result on the pipeline, $? false, ChaosPS.ThresholdsFailed with the result as TargetObject' {
        $r = Start-LoadTest -Uri $deadUri -Rate 10 -Duration 1s -Threshold 'http_req_failed: rate<0.01' -ErrorVariable ev -ErrorAction SilentlyContinue
        $ok = $?
        $ok | Should -BeFalse
        $r.Passed | Should -BeFalse
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'ChaosPS.ThresholdsFailed,*'
        $ev[0].CategoryInfo.Category | Should -Be 'InvalidResult'
        $ev[0].TargetObject | Should -Be $r
        "$($ev[0])" | Should -Match 'http_req_failed'
    }

    It 'a run without thresholds is Inconclusive, never Passed, and writes no error (here every request failed)' {
        $r = Start-LoadTest -Uri $deadUri -Rate 10 -Duration 1s -ErrorVariable ev
        $r.Failed | Should -Be $r.Requests
        $r.Requests | Should -BeGreaterThan 0
        $r.Verdict | Should -Be 'Inconclusive'
        $r.Passed | Should -BeFalse
        $ev.Count | Should -Be 0
        "$r" | Should -Match 'INCONCLUSIVE'
        ($r | Out-String) | Should -Match 'Verdict\s*:\s*INCONCLUSIVE \(no thresholds'
        $ju = Join-Path ([IO.Path]::GetTempPath()) "results-$PID-none.junit.xml"
        $nu = Join-Path ([IO.Path]::GetTempPath()) "results-$PID-none.nunit.xml"
        $r | Export-LoadTestReport -Path $ju -Format JUnit | Out-Null
        $r | Export-LoadTestReport -Path $nu -Format NUnit | Out-Null
        $j = [xml](Get-Content $ju -Raw); $n = [xml](Get-Content $nu -Raw)
        Remove-Item $ju, $nu
        $j.testsuites.failures | Should -Be '1'
        $j.testsuites.testsuite.testcase.failure.type | Should -Be 'Inconclusive'
        $n.'test-run'.'test-suite'.result | Should -Be 'Inconclusive'
        $n.'test-run'.'test-suite'.'test-case'.result | Should -Be 'Inconclusive'
    }

    It 'a passed run writes no error and leaves $? true' {
        $r = Start-LoadTest -Uri $deadUri -Rate 10 -Duration 1s -Threshold 'http_reqs: count>0' -ErrorVariable ev
        $ok = $?
        $ok | Should -BeTrue
        $r.Passed | Should -BeTrue
        $r.Verdict | Should -Be 'Passed'
        $ev.Count | Should -Be 0
    }

    It '-ErrorAction Stop throws the id (the result went out first)' {
        $out = [Collections.Generic.List[object]]::new()
        { Start-LoadTest -Uri $deadUri -Rate 10 -Duration 1s -Threshold 'http_req_failed: rate<0.01' -ErrorAction Stop | ForEach-Object { $out.Add($_) } } |
            Should -Throw -ErrorId 'ChaosPS.ThresholdsFailed,*'
        $out.Count | Should -Be 1
    }

    It 'the documented scheduled-task line exits non-zero on a failed run and zero on a passed one' {
        $failed = Invoke-ChildPwsh "Import-Module '$modulePath'; `$r = Start-LoadTest -Uri $deadUri -Rate 5 -Duration 1s -Threshold 'http_req_failed: rate<0.01'; exit [int](-not `$?)"
        $failed.ExitCode | Should -Be 1
        $passed = Invoke-ChildPwsh "Import-Module '$modulePath'; `$r = Start-LoadTest -Uri $deadUri -Rate 5 -Duration 1s -Threshold 'http_reqs: count>0'; exit [int](-not `$?)"
        $passed.ExitCode | Should -Be 0
    }

    It 'Wait-ChaosRecovery that times out: ChaosPS.NotRecovered' {
        $r = Wait-ChaosRecovery -TcpEndpoint "127.0.0.1:$deadPort" -Timeout 1s -ErrorVariable ev -ErrorAction SilentlyContinue
        $r.Recovered | Should -BeFalse
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'ChaosPS.NotRecovered,*'
        $ev[0].TargetObject | Should -Be $r
    }

    It 'Test-GracefulDegradation whose stress failed: Inconclusive, Passed false, ChaosPS.DegradationInconclusive' {
        $api = Start-ChaosProxyServer -Listen '127.0.0.1:0'
        try {
            $v = Test-GracefulDegradation -Uri "$($api.Uri)/version" -Stress { throw 'no stress today' } -Baseline 1s -RecoveryTimeout 5s `
                -Confirm:$false -ErrorVariable ev -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
            $v.Verdict | Should -Be 'Inconclusive'
            $v.Passed | Should -BeFalse
            $ev[0].FullyQualifiedErrorId | Should -BeLike 'ChaosPS.DegradationInconclusive,*'
            $ev[0].TargetObject | Should -Be $v
        } finally { $api | Stop-ChaosProxyServer | Out-Null }
    }
}

Describe 'Wait-ChaosRecovery takes fault results and measures from the fault''s end' -Tag Unit {
    It 'a piped network fault: FaultAt is its RemovedAt, not the moment Wait-ChaosRecovery started' {
        $api = Start-ChaosProxyServer -Listen '127.0.0.1:0'
        $p = Start-ChaosProxy -Name "results-wcr-$PID" -Upstream ($api.Listen)
        try {
            $f = Invoke-NetworkFault -Proxy $p.Name -Type Down -Duration 1s -Confirm:$false
            Start-Sleep -Milliseconds 1500   # the caller does other things before it waits
            $r = $f | Wait-ChaosRecovery -TcpEndpoint $p.Listen -Timeout 10s
            $r.Recovered | Should -BeTrue
            $r.FaultAt | Should -Be $f.RemovedAt
            $r.TimeToRecover.TotalSeconds | Should -BeGreaterThan 1   # the 1.5 s the caller slept counts
        } finally {
            Stop-ChaosProxy -Name $p.Name | Out-Null
            $api | Stop-ChaosProxyServer | Out-Null
        }
    }

    It 'a piped network fault no traffic met: NoTraffic, FaultsWithoutEffect and a warning; with traffic through it, neither' {
        $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start()
        $p = Start-ChaosProxy -Name "results-idle-$PID" -Upstream "127.0.0.1:$($l.LocalEndpoint.Port)"
        try {
            $idle = Invoke-NetworkFault -Proxy $p.Name -Type Latency -Latency 10ms -Duration 300ms -Confirm:$false
            $idle.TrafficMeasured | Should -BeTrue
            $idle.NoTraffic | Should -BeTrue
            $r = $idle | Wait-ChaosRecovery -TcpEndpoint $p.Listen -Timeout 10s -WarningVariable w -WarningAction SilentlyContinue
            $r.Recovered | Should -BeTrue
            $r.FaultCount | Should -Be 1
            $r.FaultsWithoutEffect.Count | Should -Be 1
            $r.FaultsWithoutEffect[0] | Should -Match "latency on proxy $($p.Name)"
            "$w" | Should -Match 'no piped fault took effect'

            # The same fault while a client keeps connecting and writing through the proxy (running before the fault
            # starts and until it ended, so no timing decides whether they overlap): it met traffic.
            $port = [int]($p.Listen -split ':')[-1]
            $stop = [System.Threading.ManualResetEventSlim]::new($false)
            $job = Start-ThreadJob {
                while (-not ($using:stop).IsSet) {
                    $c = [Net.Sockets.TcpClient]::new('127.0.0.1', $using:port)
                    $c.GetStream().Write([byte[]](1..64), 0, 64); $c.Dispose()
                    Start-Sleep -Milliseconds 50
                }
            }
            Wait-Until { (Get-ChaosProxy -Name $p.Name).ConnectionsTotal -gt 0 } 10 | Should -BeTrue
            try { $busy = Invoke-NetworkFault -Proxy $p.Name -Type Latency -Latency 10ms -Duration 1s -Confirm:$false }
            finally { $stop.Set(); $job | Wait-Job | Remove-Job }
            $busy.ConnectionsDuring | Should -BeGreaterThan 0
            $busy.NoTraffic | Should -BeFalse
            $r2 = $busy | Wait-ChaosRecovery -TcpEndpoint $p.Listen -Timeout 10s -WarningVariable w2 -WarningAction SilentlyContinue
            $r2.FaultsWithoutEffect.Count | Should -Be 0
            "$w2" | Should -Not -Match 'no piped fault took effect'
        } finally {
            Stop-ChaosProxy -Name $p.Name | Out-Null
            $l.Stop()
        }
    }

    It 'refuses what is not a fault result, with a specific id' {
        { 'not a fault' | Wait-ChaosRecovery -TcpEndpoint "127.0.0.1:$deadPort" -Timeout 1s -ErrorAction Stop } |
            Should -Throw -ErrorId 'NotAFaultResult,*'
    }
}

Describe 'Table views' -Tag Unit {
    BeforeDiscovery {
        $script:views = foreach ($f in Get-ChildItem "$PSScriptRoot/../module/formats" -Filter *.Format.ps1xml) {
            foreach ($v in ([xml](Get-Content $f.FullName -Raw)).Configuration.ViewDefinitions.View) {
                if (-not $v.TableControl) { continue }
                $items = @($v.TableControl.TableRowEntries.TableRowEntry)[0].TableColumnItems.TableColumnItem
                $headers = @($v.TableControl.TableHeaders.TableColumnHeader)
                $labels = for ($i = 0; $i -lt $headers.Count; $i++) { if ($headers[$i].Label) { $headers[$i].Label } else { @($items)[$i].PropertyName } }
                # A view may also select the Deserialized type (jobs, remoting); the engine type is the first.
                @{ File = $f.Name; View = $v.Name; TypeName = @($v.ViewSelectedBy.TypeName)[0]; Labels = @($labels); Grouped = [bool]$v.GroupBy }
            }
        }
    }

    It '<View> (<File>): every header is a property of <TypeName>' -ForEach $views {
        $t = $engine.GetType($TypeName)
        $t | Should -Not -BeNullOrEmpty -Because "$TypeName must be an engine type"
        $names = @($t.GetProperties().Name) + @((Get-TypeData $TypeName).Members.Keys)
        $missing = @($Labels | Where-Object { $_ -notin $names })
        $missing | Should -BeNullOrEmpty -Because "a user writes `$r.<header> and must get the column's value"
    }

    It '<View> (<File>) renders in 80 columns: one header line with every header whole, no line wider' -ForEach $views {
        $t = $engine.GetType($TypeName)
        if (-not $t.GetConstructor([type[]]@())) { Set-ItResult -Skipped -Because "$TypeName has no parameterless constructor"; return }
        $o = [Activator]::CreateInstance($t)
        $lines = @(($o | Format-Table -View $View | Out-String -Width 80) -split "`r?`n" | Where-Object { $_.Trim() })
        # A grouped view prints its group line first (e.g. "Defects: none"); it must fit too.
        if ($Grouped) { $lines[0].Length | Should -BeLessOrEqual 80; $lines = @($lines | Select-Object -Skip 1) }
        # header, dashes, and one row unless every value of a default instance is empty
        $lines.Count | Should -BeLessOrEqual 3 -Because "a wrapped header or value adds lines:`n$($lines -join "`n")"
        $lines[1] | Should -Match '^[\s-]+$' -Because "the second line is the dashes under a one-line header:`n$($lines -join "`n")"
        foreach ($l in $Labels) { $lines[0] | Should -Match ([regex]::Escape($l)) }
        ($lines | Measure-Object Length -Maximum).Maximum | Should -BeLessOrEqual 80
    }

    It 'a stress result that never reached its target fits 80 columns and says so (no "0us")' {
        $t = $engine.GetType('ChaosPS.Stress.StressResult')
        $o = [Activator]::CreateInstance($t)
        $set = { param($n, $v) $t.GetProperty($n).SetValue($o, $v) }
        & $set Kind 'FileDescriptor'; & $set Target 'host'; & $set Requested '80% on 2 cores'; & $set Unit '%'
        & $set TargetValue 80.0; & $set Reached 27.8; & $set Peak 54.2; & $set Restore 'Restored'
        $lines = @(($o | Out-String -Width 80) -split "`r?`n" | Where-Object { $_.Trim() })
        $lines.Count | Should -Be 3 -Because ($lines -join "`n")
        $lines[2] | Should -Match 'never'
        "$o" | Should -Match 'NEVER REACHED'
        "$o" | Should -Not -Match '0us'
    }

    It 'Format-List * on a load result does not dump the base64 merge state and histogram' {
        $r = Start-LoadTest -Uri $deadUri -Rate 5 -Duration 1s
        $text = $r | Format-List * | Out-String -Width 200
        $text.Length | Should -BeLessThan 8000
        $text | Should -Not -Match '[A-Za-z0-9+/]{200,}'
        # ... and Merge-LoadTestResult still merges (live objects and ones that went through Export-Clixml).
        $xml = Join-Path ([IO.Path]::GetTempPath()) "results-merge-$PID.xml"
        $r | Export-Clixml $xml
        $m = @($r, (Import-Clixml $xml)) | Merge-LoadTestResult
        Remove-Item $xml
        $m.Requests | Should -Be (2 * $r.Requests)
    }
}

Describe 'Help' -Tag Unit {
    It 'SYNTAX shows -WhatIf and -Confirm, switches without a value, and no Nullable`1' {
        $syntax = Get-Help Invoke-CpuExhaustion | Select-Object -ExpandProperty syntax | Out-String -Width 400
        $syntax | Should -Match '\[-WhatIf\]'
        $syntax | Should -Match '\[-Confirm\]'
        $syntax | Should -Match '\[-AsJob\]'
        $maml = Get-Content (Join-Path (Split-Path $modulePath) 'en-US/ChaosPS.dll-Help.xml') -Raw
        $maml | Should -Not -Match 'Nullable`1'
        (Get-Help Start-LoadTest -Parameter Duration | Out-String) | Should -Match 'TimeSpan'
    }

    It 'every duration parameter says its unit' {
        foreach ($c in $module.ExportedCmdlets.Values) {
            foreach ($p in $c.Parameters.Values | Where-Object { $_.Attributes | Where-Object { $_.GetType().Name -eq 'DurationTransformAttribute' } }) {
                (Get-Help $c.Name -Parameter $p.Name | Out-String -Width 400) | Should -Match 'bare number' -Because "$($c.Name) -$($p.Name)"
            }
        }
        (Get-Help Add-NetworkFault -Parameter Latency | Out-String -Width 400) | Should -Match 'bare number is refused'
    }

    It 'about_ChaosPS_OutputTypes lists every output type with every property, generated from the types' {
        $about = Get-Help about_ChaosPS_OutputTypes | Out-String -Width 400
        foreach ($c in $module.ExportedCmdlets.Values) {
            foreach ($ot in $c.OutputType | Where-Object { $_.Type -and $_.Type.Namespace -like 'ChaosPS*' }) {
                $about | Should -Match ([regex]::Escape($ot.Type.FullName))
                $block = ($about -split "(?m)^  (?=ChaosPS\.)" | Where-Object { $_.StartsWith($ot.Type.FullName + "`n") -or $_.StartsWith($ot.Type.FullName + "`r") })
                $block | Should -Not -BeNullOrEmpty -Because "$($ot.Type.FullName) needs its own section"
                foreach ($p in $ot.Type.GetProperties()) { $block | Should -Match "(?m)^    $([regex]::Escape($p.Name))\b" }
            }
        }
        (Get-Help Start-LoadTest -Full | Out-String -Width 400) | Should -Match 'about_ChaosPS_OutputTypes'
    }
}

Describe 'Load test reports validate against the NUnit 3 and JUnit 4 schemas' -Tag Unit {
    BeforeAll {
        $script:schemas = Get-SchemaDir
        $script:run = Start-LoadTest -Uri $deadUri -Rate 5 -Duration 1s -Threshold 'http_req_failed: rate<0.01', 'http_reqs: count>0' -ErrorAction SilentlyContinue
        $script:plain = Start-LoadTest -Uri $deadUri -Rate 5 -Duration 1s
    }

    It 'finds the XSDs Pester ships' {
        Test-Path "$schemas/NUnit3/TestResult.xsd" | Should -BeTrue
        Test-Path "$schemas/JUnit4/junit_schema_4.xsd" | Should -BeTrue
    }

    It 'NUnit: <Case>' -ForEach @(@{ Case = 'failed and passed thresholds'; Var = 'run' }, @{ Case = 'no thresholds'; Var = 'plain' }) {
        $p = Join-Path ([IO.Path]::GetTempPath()) "results-$PID-$Var.nunit.xml"
        (Get-Variable $Var -Scope Script -ValueOnly) | Export-LoadTestReport -Path $p -Format NUnit | Out-Null
        $errors = Test-XmlAgainstSchema $p "$schemas/NUnit3/TestResult.xsd"
        Remove-Item $p
        $errors | Should -BeNullOrEmpty
    }

    It 'JUnit: <Case>' -ForEach @(@{ Case = 'failed and passed thresholds'; Var = 'run' }, @{ Case = 'no thresholds'; Var = 'plain' }) {
        $p = Join-Path ([IO.Path]::GetTempPath()) "results-$PID-$Var.junit.xml"
        (Get-Variable $Var -Scope Script -ValueOnly) | Export-LoadTestReport -Path $p -Format JUnit | Out-Null
        $errors = Test-XmlAgainstSchema $p "$schemas/JUnit4/junit_schema_4.xsd"
        Remove-Item $p
        $errors | Should -BeNullOrEmpty
    }

    It 'the validator fails a report that breaks the schema (the check can fail)' {
        $p = Join-Path ([IO.Path]::GetTempPath()) "results-$PID-broken.nunit.xml"
        $run | Export-LoadTestReport -Path $p -Format NUnit | Out-Null
        $x = [xml](Get-Content $p -Raw); $x.'test-run'.RemoveAttribute('random-seed'); $x.Save($p)
        $errors = Test-XmlAgainstSchema $p "$schemas/NUnit3/TestResult.xsd"
        Remove-Item $p
        $errors | Should -Not -BeNullOrEmpty
    }
}

Describe 'Duration units' -Tag Unit {
    It 'refuses a bare number for a millisecond-scale parameter (-Latency 100 is not 100 seconds)' {
        { Add-NetworkFault -Proxy nope -Type Latency -Latency 100 -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "*'100ms'*"
        { Wait-ChaosRecovery -TcpEndpoint "127.0.0.1:$deadPort" -MaxLatency 250 -Timeout 1s -ErrorAction Stop } |
            Should -Throw -ExpectedMessage "*no unit*"
    }

    It 'takes the same values with a unit, and zero without one' {
        { Add-NetworkFault -Proxy "nope-$PID" -Type Latency -Latency 100ms -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProxyNotFound,*'
        { Add-NetworkFault -Proxy "nope-$PID" -Type Latency -Latency 0 -Confirm:$false -ErrorAction Stop } |
            Should -Throw -ErrorId 'ProxyNotFound,*'
    }
}

Describe 'The duration syntax in your own functions' -Tag Unit {
    It 'binds ''12s'', ''1m30s'', 500ms, an unquoted 30s and a TimeSpan to a [timespan] parameter' {
        $f = [scriptblock]::Create('param([ChaosPS.Commands.DurationTransform()][timespan] $Timeout) $Timeout')
        (& $f '12s') | Should -Be ([timespan]::FromSeconds(12))
        (& $f '1m30s') | Should -Be ([timespan]::FromSeconds(90))
        (& $f '500ms') | Should -Be ([timespan]::FromMilliseconds(500))
        (& $f 30s) | Should -Be ([timespan]::FromSeconds(30))
        (& $f 5) | Should -Be ([timespan]::FromSeconds(5))
        (& $f ([timespan]::FromMinutes(2))) | Should -Be ([timespan]::FromMinutes(2))
        { & $f 'soon' } | Should -Throw -ErrorId 'ParameterArgumentTransformationError*'
    }

    It 'in a script function, with RequireUnit for millisecond values' {
        . ([scriptblock]::Create(@'
function Test-ResultsDelay {
    param([ChaosPS.Commands.DurationTransform(RequireUnit = $true)][timespan] $Delay)
    $Delay
}
'@))
        Test-ResultsDelay -Delay 250ms | Should -Be ([timespan]::FromMilliseconds(250))
        { Test-ResultsDelay -Delay 250 } | Should -Throw -ExpectedMessage "*'250ms'*"
    }
}

Describe 'A Down fault counts the connections it refused' -Tag Unit {
    It 'RefusedDuring and ConnectionsDuring count every attempt made while the proxy was down' {
        $api = Start-ChaosProxyServer -Listen '127.0.0.1:0'
        $p = Start-ChaosProxy -Name "results-down-$PID" -Upstream ($api.Listen)
        $hostName, $port = $p.Listen -split ':'
        function Test-Connect { $c = [Net.Sockets.TcpClient]::new(); try { $c.Connect($hostName, [int]$port); $true } catch { $false } finally { $c.Dispose() } }
        try {
            $job = Invoke-NetworkFault -Proxy $p.Name -Type Down -Duration 4s -Confirm:$false -AsJob
            $polls = 0
            while (Test-Connect) { $polls++; Start-Sleep -Milliseconds 20; if ($polls -gt 500) { throw 'the proxy never went down' } }
            Start-Sleep -Milliseconds 200
            $refusedHere = @(1..10 | ForEach-Object { Test-Connect } | Where-Object { -not $_ }).Count
            $refusedHere | Should -Be 10
            $r = $job | Wait-Job -Timeout 30 | Receive-Job
            if ((id -u) -ne '0') { $r.RefusedDuring | Should -BeNullOrEmpty; Set-ItResult -Skipped -Because 'counting refused connections needs root or CAP_NET_RAW'; return }
            # 10 attempts here, plus the one that saw it go down (if the counter was already running).
            $r.RefusedDuring | Should -BeGreaterOrEqual 10
            $r.RefusedDuring | Should -BeLessOrEqual 11
            $r.ConnectionsDuring | Should -Be ($r.RefusedDuring + $r.ClosedAtStart)
            $r.Activations | Should -Be $r.ConnectionsDuring
            $r.Settings | Should -Match "refused=$($r.RefusedDuring)"
        } finally {
            Get-Job | Where-Object Name -like "*$($p.Name)*" | Remove-Job -Force -ErrorAction SilentlyContinue
            Stop-ChaosProxy -Name $p.Name | Out-Null
            $api | Stop-ChaosProxyServer | Out-Null
        }
    }
}

Describe 'Start-LoadTest -AsJob with a failed threshold' -Tag Unit {
    It 'Receive-Job writes the result and the same ChaosPS.ThresholdsFailed error' {
        $job = Start-LoadTest -Uri $deadUri -Rate 5 -Duration 1s -Threshold 'http_req_failed: rate<0.01' -AsJob
        $r = $job | Wait-Job -Timeout 60 | Receive-Job -ErrorVariable ev -ErrorAction SilentlyContinue
        $job | Remove-Job -Force
        $r.Passed | Should -BeFalse
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'ChaosPS.ThresholdsFailed*'
        $ev[0].TargetObject.Passed | Should -BeFalse
    }
}
