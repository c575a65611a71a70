#Requires -Modules Pester
# Experiment journal -> JUnit / NUnit / HTML reports, Pester Should operators, journal-driven test cases, CI annotations,
# and the example Azure DevOps pipeline. Journals are the fixtures in ChaosPS.Engine.Tests/Experiments/Reports/Journals.

BeforeAll {
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    Import-Module (Get-ChaosModulePath) -Force
    $script:J = Join-Path $PSScriptRoot 'ChaosPS.Engine.Tests/Experiments/Reports/Journals'
    $script:tmp = Join-Path ([IO.Path]::GetTempPath()) "chaosps-expreports-$PID"
    New-Item -ItemType Directory -Force $tmp | Out-Null
    $script:PesterPsd1 = Join-Path (Get-Module Pester | Sort-Object Version -Descending | Select-Object -First 1).ModuleBase 'Pester.psd1'
    $script:ModulePath = Get-ChaosModulePath
    $script:Root = Split-Path $PSScriptRoot

    # Pester's schemas: NUGET_PACKAGES or ~/.nuget/packages, the version pinned in build/Tools.csproj (as build.ps1 finds Pester).
    $nuget = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget/packages' }
    $ver = ([xml](Get-Content "$Root/build/Tools.csproj")).Project.ItemGroup.PackageDownload | Where-Object Include -eq 'Pester' | ForEach-Object { $_.Version.Trim('[', ']') }
    $script:Schemas = Join-Path $nuget "pester/$ver/tools/schemas"

    function script:Test-Xsd([string] $File, [string] $Schema) {
        # Returns the validation errors of $File against $Schema (empty when valid).
        $set = [Xml.Schema.XmlSchemaSet]::new(); $set.XmlResolver = [Xml.XmlUrlResolver]::new()
        $r = [Xml.XmlReader]::Create($Schema, [Xml.XmlReaderSettings]@{ DtdProcessing = 'Ignore'; XmlResolver = [Xml.XmlUrlResolver]::new() })
        try { [void]$set.Add($null, $r) } finally { $r.Dispose() }
        $set.Compile()
        $errors = [Collections.Generic.List[string]]::new()
        $settings = [Xml.XmlReaderSettings]@{ ValidationType = 'Schema'; Schemas = $set }
        $settings.add_ValidationEventHandler({ param($s, $e) $errors.Add("line $($e.Exception.LineNumber): $($e.Message)") }.GetNewClosure())
        $reader = [Xml.XmlReader]::Create($File, $settings)
        try { while ($reader.Read()) { } } finally { $reader.Dispose() }
        , $errors
    }
    $script:JUnitXsd = Join-Path $Schemas 'JUnit4/junit_schema_4.xsd'
    $script:NUnitXsd = Join-Path $Schemas 'NUnit3/TestResult.xsd'

    function script:Invoke-PesterChild([string] $Script, [hashtable] $Environment = @{}) {
        # A fresh pwsh; TF_BUILD / GITHUB_ACTIONS cleared unless the test sets them.
        $envs = @{ TF_BUILD = ''; GITHUB_ACTIONS = ''; NO_COLOR = '1' }
        foreach ($k in $Environment.Keys) { $envs[$k] = $Environment[$k] }
        Invoke-ChildPwsh -Script $Script -Environment $envs
    }
}

AfterAll {
    Remove-Item -Recurse -Force $tmp -ErrorAction SilentlyContinue
}

Describe 'Export-ChaosExperimentReport' -Tag 'ExperimentReports' {
    It 'writes JUnit valid against Pester''s JUnit 4 schema for <_>' -ForEach 'passed', 'deviated', 'failed', 'interrupted', 'inconclusive' {
        Test-Path $JUnitXsd | Should -BeTrue -Because "Pester's schemas must be restored ($JUnitXsd)"
        $f = Export-ChaosExperimentReport -InputObject "$J/$_.json" -Path "$tmp/$_.junit.xml" -Format JUnit -PassThru -NoAnnotation
        $f | Should -BeOfType System.IO.FileInfo
        $errors = Test-Xsd $f.FullName $JUnitXsd
        $errors | Should -BeNullOrEmpty
    }

    It 'writes NUnit 3 valid against Pester''s NUnit 3 schema for <_>' -ForEach 'passed', 'deviated', 'failed', 'interrupted', 'inconclusive' {
        $f = Export-ChaosExperimentReport -InputObject "$J/$_.json" -Path "$tmp/$_.nunit.xml" -Format NUnit -PassThru -NoAnnotation
        $errors = Test-Xsd $f.FullName $NUnitXsd
        $errors | Should -BeNullOrEmpty
    }

    It 'the schema check fails a broken file (so a pass above means something)' {
        (Get-Content "$tmp/passed.nunit.xml" -Raw) -replace ' seed="0"', '' | Set-Content "$tmp/broken.nunit.xml"
        (Test-Xsd "$tmp/broken.nunit.xml" $NUnitXsd).Count | Should -BeGreaterThan 0
    }

    It 'fails the deviated journal''s after-probe and threshold with the observed values' {
        $f = "$tmp/deviated.junit.xml"
        Export-ChaosExperimentReport -InputObject "$J/deviated.json" -Path $f -NoAnnotation
        $x = [xml](Get-Content $f -Raw)
        [int]$x.testsuites.failures | Should -BeGreaterOrEqual 4
        $threshold = $x.SelectSingleNode("//testcase[@name='http_req_duration: p(95)<500']")
        $threshold.failure.message | Should -Match 'observed 572\.1'
        $after = $x.SelectSingleNode("//testsuite[contains(@name,'steady state after')]/testcase[@name='router-health-ok']")
        $after.failure.message | Should -Match 'status 503 vs tolerance 200'
    }

    It 'takes a journal as a path, FileInfo, JSON text, an object with ToJson() or one with JournalPath' {
        $path = "$J/deviated.json"
        $live = [pscustomobject]@{ Title = 'x' } | Add-Member -MemberType ScriptMethod -Name ToJson -Value { Get-Content $path -Raw }.GetNewClosure() -PassThru
        $deserialized = [pscustomobject]@{ JournalPath = $path; Status = 'completed' }
        $inputs = @($path, (Get-Item $path), (Get-Content $path -Raw), $live, $deserialized)
        $sizes = foreach ($i in $inputs) {
            $out = "$tmp/in-$([guid]::NewGuid()).xml"
            Export-ChaosExperimentReport -InputObject $i -Path $out -Format JUnit -NoAnnotation
            ([xml](Get-Content $out -Raw)).testsuites.tests
        }
        $sizes | Should -HaveCount 5
        ($sizes | Select-Object -Unique) | Should -HaveCount 1
    }

    It 'puts several piped journals into one JUnit file, and refuses several for one HTML page' {
        $f = Get-ChildItem "$J/*.json" | Export-ChaosExperimentReport -Path "$tmp/all.xml" -Format JUnit -PassThru -NoAnnotation
        ([xml](Get-Content $f -Raw)).testsuites.testsuite.Count | Should -BeGreaterThan 20
        (Test-Xsd $f.FullName $JUnitXsd) | Should -BeNullOrEmpty
        $g = Export-ChaosExperimentReport -InputObject (Get-ChildItem "$J/*.json") -Path "$tmp/all2.xml" -Format JUnit -PassThru -NoAnnotation
        ([xml](Get-Content $g -Raw)).testsuites.tests | Should -Be ([xml](Get-Content $f -Raw)).testsuites.tests
        { Get-ChildItem "$J/*.json" | Export-ChaosExperimentReport -Path "$tmp/all.html" -ErrorAction Stop } |
            Should -Throw -ErrorId 'OneJournalPerFile,ChaosPS.Commands.ExportChaosExperimentReportCommand'
    }

    It 'rejects what is not a journal with a clear error id' {
        { Export-ChaosExperimentReport -InputObject ([pscustomobject]@{ A = 1 }) -Path "$tmp/x.xml" -ErrorAction Stop } |
            Should -Throw -ErrorId 'NotAJournal,ChaosPS.Commands.ExportChaosExperimentReportCommand'
        { Export-ChaosExperimentReport -InputObject '{"title":"no"}' -Path "$tmp/x.xml" -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidJournal,ChaosPS.Commands.ExportChaosExperimentReportCommand'
        { Export-ChaosExperimentReport -InputObject "$tmp/nope.json" -Path "$tmp/x.xml" -ErrorAction Stop } |
            Should -Throw -ErrorId 'JournalNotReadable,ChaosPS.Commands.ExportChaosExperimentReportCommand'
        { Export-ChaosExperimentReport -InputObject "$J/passed.json" -Path "$tmp/x.report" -ErrorAction Stop } |
            Should -Throw -ErrorId 'InvalidFormat,ChaosPS.Commands.ExportChaosExperimentReportCommand'
        Test-Path "$tmp/x.xml" | Should -BeFalse
    }

    It '-WhatIf writes nothing' {
        Export-ChaosExperimentReport -InputObject "$J/passed.json" -Path "$tmp/whatif.html" -WhatIf
        Test-Path "$tmp/whatif.html" | Should -BeFalse
    }

    It 'writes a self-contained HTML page: verdict, timeline with fault bands, escaped outputs, redacted credentials' {
        $f = Export-ChaosExperimentReport -InputObject "$J/failed.json" -Path "$tmp/failed.html" -PassThru -NoAnnotation
        $html = Get-Content $f -Raw
        $html | Should -Match 'id="verdict">FAILED<'
        $html | Should -Not -Match '<script'
        $html | Should -Not -Match '<img'
        $html | Should -Not -Match '(src|href)\s*=\s*["'']?(https?:)?//'
        $html | Should -Match '&lt;script&gt;alert\('
        $html | Should -Not -Match 's3cret-pa55|hunter2|eyJhbGciOiJIUzI1NiJ9'
        $html | Should -Match 'admin:\*\*\*@127\.0\.0\.1'
        ([regex]::Matches($html, 'class="fault-band"')).Count | Should -Be 6   # 3 faults on the throughput and latency charts
        $html | Should -Match 'data-name="p95"'
        $html | Should -Match 'NO — still active'
    }

    It 'writes the journal itself as JSON, redacted' {
        $f = Export-ChaosExperimentReport -InputObject "$J/failed.json" -Path "$tmp/failed.json" -PassThru -NoAnnotation
        $j = Get-Content $f -Raw | ConvertFrom-Json
        $j.chaosps.verdict | Should -Be 'Failed'
        $j.run.Count | Should -Be 4
        (Get-Content $f -Raw) | Should -Not -Match 's3cret-pa55|hunter2'
    }
}

Describe 'Get-ChaosExperimentTestCase' -Tag 'ExperimentReports' {
    It 'yields one case per probe, threshold, rollback and fault, plus recovery and verdict' {
        $cases = Get-ChaosExperimentTestCase "$J/passed.json"
        $cases[0].GetType().FullName | Should -Be 'ChaosPS.Experiments.Reports.JournalTestCase'
        @($cases | Where-Object Kind -eq Hypothesis) | Should -HaveCount 12
        @($cases | Where-Object Kind -eq Threshold) | Should -HaveCount 2
        @($cases | Where-Object Kind -eq Rollback) | Should -HaveCount 1
        @($cases | Where-Object Kind -eq Fault) | Should -HaveCount 3
        @($cases | Where-Object { -not $_.Passed }) | Should -HaveCount 0
        @(Get-ChaosExperimentTestCase "$J/passed.json" -Kind Threshold, Verdict) | Should -HaveCount 3
        (Get-ChaosExperimentTestCase "$J/deviated.json" -AsHashtable | Select-Object -First 1) | Should -BeOfType hashtable
    }

    It 'drives an ordinary Pester suite: the example template runs green on a passed journal and red, with evidence, on a deviated one' {
        $template = Join-Path $Root 'examples/azure-devops/Experiment.Tests.ps1'
        Test-Path $template | Should -BeTrue
        $r = Invoke-PesterChild @"
Import-Module '$PesterPsd1'; Import-Module '$ModulePath'
`$c = New-PesterContainer -Path '$template' -Data @{ Journal = @('$J/passed.json', '$J/deviated.json') }
`$res = Invoke-Pester -Container `$c -PassThru -Output None
"passed=`$(`$res.PassedCount) failed=`$(`$res.FailedCount)"
`$res.Failed | ForEach-Object { 'FAIL ' + `$_.ExpandedName + ' :: ' + (`$_.ErrorRecord[0].Exception.Message -replace '\s+', ' ') }
"@
        $r.Output | Should -Match 'passed=\d+ failed=5'
        $r.Output | Should -Match 'FAIL .*http_req_duration: p\(95\)<500 :: .*observed 572\.1'
        $r.Output | Should -Match 'FAIL .*router-health-ok :: .*status 503 vs tolerance 200'
    }
}

Describe 'Should operators' -Tag 'ExperimentReports' {
    It 'are listed by Get-ShouldOperator' {
        $names = (Get-ShouldOperator).Name
        foreach ($n in 'HaveRecovered', 'PassThresholds', 'BeGraceful', 'HoldSteadyState') { $names | Should -Contain $n }
    }

    It '-HoldSteadyState passes a passed journal and fails a deviated one with the probe evidence' {
        "$J/passed.json" | Should -HoldSteadyState
        { "$J/deviated.json" | Should -HoldSteadyState } | Should -Throw -ExpectedMessage '*router-health-ok*status 503 vs tolerance 200*'
        "$J/deviated.json" | Should -Not -HoldSteadyState
    }

    It 'never passes missing evidence, not even negated' {
        { "$J/interrupted.json" | Should -HoldSteadyState } | Should -Throw -ExpectedMessage '*Inconclusive*interrupted*'
        { "$J/inconclusive.json" | Should -HoldSteadyState } | Should -Throw -ExpectedMessage '*inconclusive*'
        { "$J/inconclusive.json" | Should -Not -HoldSteadyState } | Should -Throw -ExpectedMessage '*inconclusive*'
        { "$J/inconclusive.json" | Should -HaveRecovered } | Should -Throw -ExpectedMessage '*not measured*'
        { "$J/passed.json" | Should -BeGraceful } | Should -Throw -ExpectedMessage '*no Degradation evidence*'
        { [pscustomobject]@{ A = 1 } | Should -HoldSteadyState } | Should -Throw -ExpectedMessage '*not an experiment journal*'
    }

    It '-PassThresholds on journals quotes the observed value' {
        "$J/passed.json" | Should -PassThresholds
        { "$J/deviated.json" | Should -PassThresholds } | Should -Throw -ExpectedMessage '*p(95)<500*observed 572.1*'
    }

    It '-HaveRecovered -Within on journals compares the measured time to recover' {
        "$J/passed.json" | Should -HaveRecovered
        "$J/passed.json" | Should -HaveRecovered -Within 30s
        { "$J/passed.json" | Should -HaveRecovered -Within 5s } | Should -Throw -ExpectedMessage '*within 5.0 s*11.05 s after the last fault*'
        { "$J/failed.json" | Should -HaveRecovered } | Should -Throw -ExpectedMessage '*still active (f-7c2a93)*'
        { "$J/passed.json" | Should -HaveRecovered -Within 'soon' } | Should -Throw -ExpectedMessage '*not a duration*'
    }

    Context 'on real results' {
        BeforeAll {
            # A loopback HTTP target (TestHelpers): 200 normally, or 503/500 while $Mode.Value says so.
            $script:Server = Start-TestHttpServer
            $script:Mode = $script:Server.Mode
            $script:Port = $script:Server.Port
            $script:Uri = $script:Server.Uri
        }
        AfterAll {
            Stop-TestHttpServer $script:Server
        }

        It '-PassThresholds on a Start-LoadTest result passes, and fails quoting the observed value' {
            $ok = Start-LoadTest $Uri -Concurrency 2 -Iterations 40 -Threshold 'http_req_failed: rate<0.01' -ProgressAction SilentlyContinue
            $ok | Should -PassThresholds
            $bad = Start-LoadTest $Uri -Concurrency 2 -Iterations 40 -Threshold 'http_req_duration: p(95)<0.001' -ProgressAction SilentlyContinue -ErrorAction SilentlyContinue
            $bad.Thresholds[0].Passed | Should -BeFalse
            { $bad | Should -PassThresholds } | Should -Throw -ExpectedMessage '*http_req_duration: p(95)<0.001 — observed *'
            $none = Start-LoadTest $Uri -Concurrency 1 -Iterations 5 -ProgressAction SilentlyContinue
            { $none | Should -PassThresholds } | Should -Throw -ExpectedMessage '*no thresholds*'
        }

        It '-HaveRecovered on a Wait-ChaosRecovery result: recovered passes, not recovered fails with the last probe' {
            $r = Wait-ChaosRecovery -TcpEndpoint "127.0.0.1:$($script:Port)" -Timeout 10s
            $r | Should -HaveRecovered -Within 10s
            $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $closed = $l.LocalEndpoint.Port; $l.Stop()
            $down = Wait-ChaosRecovery -TcpEndpoint "127.0.0.1:$closed" -Timeout 1s -ErrorAction SilentlyContinue
            { $down | Should -HaveRecovered } | Should -Throw -ExpectedMessage "*recovered False*127.0.0.1:$closed*"
            $down | Should -Not -HaveRecovered
        }

        It '-BeGraceful on Test-GracefulDegradation: shedding with 503 passes, 500s fail with the reasons' {
            $mode = $script:Mode
            $g = Test-GracefulDegradation -Uri $Uri -Rate 20 -Baseline 1s -Confirm:$false -RecoveryTimeout 10s -Stress ({
                $mode.Value = 'shed'; Start-Sleep -Seconds 2; $mode.Value = 'ok' }.GetNewClosure())
            $g | Should -BeGraceful
            $b = Test-GracefulDegradation -Uri $Uri -Rate 20 -Baseline 1s -Confirm:$false -RecoveryTimeout 10s -ErrorAction SilentlyContinue -Stress ({
                $mode.Value = 'broken'; Start-Sleep -Seconds 2; $mode.Value = 'ok' }.GetNewClosure())
            { $b | Should -BeGraceful } | Should -Throw -ExpectedMessage '*verdict NotGraceful*status 500*'
        }
    }

    It 'registers when Pester is imported after ChaosPS, and again idempotently' {
        $r = Invoke-PesterChild @"
`$ErrorActionPreference = 'Stop'
Import-Module '$ModulePath'
"before=`$([bool](Get-Module Pester))"
Import-Module '$PesterPsd1'
`$c = New-PesterContainer -ScriptBlock { Describe 'late' { It 'holds' { '$J/passed.json' | Should -HoldSteadyState }; It 'deviates' { '$J/deviated.json' | Should -HoldSteadyState } } }
`$res = Invoke-Pester -Container `$c -PassThru -Output None
"passed=`$(`$res.PassedCount) failed=`$(`$res.FailedCount)"
"registered-again=`$(@(Register-ChaosShouldOperator).Count)"
Import-Module '$ModulePath' -Force
"ops=`$(@((Get-ShouldOperator).Name | Where-Object { `$_ -in 'HaveRecovered','PassThresholds','BeGraceful','HoldSteadyState' }).Count)"
"@
        $r.Error | Should -BeNullOrEmpty
        $r.Output | Should -Match 'before=False'
        $r.Output | Should -Match 'passed=1 failed=1'
        $r.Output | Should -Match 'registered-again=0'
        $r.Output | Should -Match 'ops=4'
    }

    It 'Register-ChaosShouldOperator without Pester is a clear error' {
        $r = Invoke-PesterChild @"
Import-Module '$ModulePath'
Register-ChaosShouldOperator -ErrorAction SilentlyContinue -ErrorVariable e
`$e[0].FullyQualifiedErrorId
"@
        $r.Output | Should -Match 'ChaosPS.PesterNotLoaded,Register-ChaosShouldOperator'
    }
}

Describe 'CI annotations' -Tag 'ExperimentReports' {
    It 'Export-ChaosExperimentReport writes ##vso[task.logissue] lines under Azure DevOps' {
        $r = Invoke-PesterChild "Import-Module '$ModulePath'; Export-ChaosExperimentReport -InputObject '$J/deviated.json' -Path '$tmp/ado.xml'" @{ TF_BUILD = 'True' }
        $lines = @($r.Output -split "`n" | Where-Object { $_ -like '##vso*' })
        $lines.Count | Should -Be 5
        $lines | Should -Match '^##vso\[task\.logissue type=error\]ChaosPS experiment '
        ($lines -join "`n") | Should -Match 'observed 572\.1'
    }

    It 'writes ::error:: lines under GitHub Actions, and nothing outside CI or with -NoAnnotation' {
        $gh = Invoke-PesterChild "Import-Module '$ModulePath'; Export-ChaosExperimentReport -InputObject '$J/deviated.json' -Path '$tmp/gh.xml'" @{ GITHUB_ACTIONS = 'true' }
        @($gh.Output -split "`n" | Where-Object { $_ -like '::error *' }).Count | Should -Be 5
        $none = Invoke-PesterChild "Import-Module '$ModulePath'; Export-ChaosExperimentReport -InputObject '$J/deviated.json' -Path '$tmp/none.xml'"
        $none.Output | Should -Not -Match '##vso|::error'
        $off = Invoke-PesterChild "Import-Module '$ModulePath'; Export-ChaosExperimentReport -InputObject '$J/deviated.json' -Path '$tmp/off.xml' -NoAnnotation" @{ TF_BUILD = 'True' }
        $off.Output | Should -Not -Match '##vso'
        $silenced = Invoke-PesterChild "Import-Module '$ModulePath'; Export-ChaosExperimentReport -InputObject '$J/deviated.json' -Path '$tmp/silenced.xml'" @{ TF_BUILD = 'True'; CHAOSPS_ANNOTATIONS = 'off' }
        $silenced.Output | Should -Not -Match '##vso'
        Test-Path "$tmp/silenced.xml" | Should -BeTrue
    }

    It 'a failing Should operator annotates under Azure DevOps; a passing one does not' {
        $r = Invoke-PesterChild @"
Import-Module '$PesterPsd1'; Import-Module '$ModulePath'
'$J/passed.json' | Should -HoldSteadyState
try { '$J/deviated.json' | Should -PassThresholds } catch { 'threw' }
"@ @{ TF_BUILD = 'True' }
        $lines = @($r.Output -split "`n" | Where-Object { $_ -like '##vso*' })
        $lines | Should -HaveCount 1
        $lines[0] | Should -Match '^##vso\[task\.logissue type=error\]Should -PassThresholds: .*observed 572\.1'
        $r.Output | Should -Match 'threw'
    }

    It 'Write-ChaosAnnotation escapes a message so it cannot inject another logging command' {
        $line = Write-ChaosAnnotation -Message "bad`n##vso[task.complete result=Succeeded]" -Provider AzureDevOps -PassThru 6>$null
        $line | Should -Be '##vso[task.logissue type=error]bad%0A##vso[task.complete result=Succeeded]'
        Write-ChaosAnnotation -Journal "$J/passed.json" -Provider GitHubActions -PassThru 6>$null | Should -BeNullOrEmpty
        @(Write-ChaosAnnotation -Journal "$J/failed.json" -Provider GitHubActions -PassThru 6>$null).Count | Should -BeGreaterOrEqual 5
    }
}

Describe 'The example Azure DevOps pipeline' -Tag 'ExperimentReports' {
    BeforeAll {
        $script:Yml = Join-Path $Root 'examples/azure-devops/azure-pipelines.yml'
        # Debian's python3-yaml (.ci/run installs it): the pipeline as JSON.
        $script:py = if (Test-Path /usr/bin/python3) { '/usr/bin/python3' } else { 'python3' }
        $script:YamlJson = & $py -c 'import sys, json, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))' $Yml 2>&1
        $script:YamlExit = $LASTEXITCODE
        $script:Pipeline = if ($YamlExit -eq 0) { $YamlJson | ConvertFrom-Json } else { $null }
    }

    It 'parses as YAML' {
        $YamlExit | Should -Be 0 -Because "$py with PyYAML (Debian python3-yaml) must parse it: $YamlJson"
        $Pipeline | Should -Not -BeNullOrEmpty
    }

    It 'runs the suite in pwsh with PowerShell@2 and publishes JUnit with PublishTestResults@2' {
        $steps = @($Pipeline.steps)
        $ps = @($steps | Where-Object task -eq 'PowerShell@2')
        $ps.Count | Should -BeGreaterOrEqual 1
        foreach ($p in $ps) { $p.inputs.pwsh | Should -BeTrue -Because "$($p.displayName) must run in PowerShell 7 (pwsh: true)" }
        # The text each step runs: its inline script, or the file it names (beside the pipeline in this example).
        $texts = foreach ($p in $ps) {
            if ($p.inputs.targetType -eq 'filePath') { Get-Content (Join-Path (Split-Path $Yml) (Split-Path $p.inputs.filePath -Leaf)) -Raw } else { $p.inputs.script }
        }
        $suite = @($texts | Where-Object { $_ -match 'Invoke-ChaosExperiment' })
        $suite | Should -HaveCount 1
        $suite[0] | Should -Match 'Export-ChaosExperimentReport[^\n]*-Format JUnit'
        $pub = @($steps | Where-Object task -eq 'PublishTestResults@2')
        $pub | Should -HaveCount 1
        $pub[0].inputs.testResultsFormat | Should -Be 'JUnit'
        $pub[0].inputs.testResultsFiles | Should -Not -BeNullOrEmpty
        $pub[0].condition | Should -Match 'always|succeededOrFailed'
    }

    It 'publishes files that validate against the JUnit schema' {
        # The runner script's report step, fed the fixture journals instead of live experiments.
        $pub = @($Pipeline.steps | Where-Object task -eq 'PublishTestResults@2')[0]
        $dir = Join-Path $tmp 'pipeline'
        $runner = Join-Path (Split-Path $Yml) 'Invoke-ExperimentSuite.ps1'
        & $runner -JournalPath (Get-ChildItem "$J/*.json").FullName -OutputDirectory $dir -ModulePath $ModulePath 6>$null
        # testResultsFiles is a glob under searchFolder: '**/' any folders, '*' any name part.
        $rx = '^' + ([regex]::Escape($pub.inputs.testResultsFiles) -replace '\\\*\\\*/', '(.*/)?' -replace '\\\*', '[^/]*') + '$'
        $files = @(Get-ChildItem $dir -Recurse -File | Where-Object { [IO.Path]::GetRelativePath($dir, $_.FullName).Replace('\', '/') -match $rx })
        $files.Count | Should -Be 5
        foreach ($f in $files) { Test-Xsd $f.FullName $JUnitXsd | Should -BeNullOrEmpty }
    }
}
