# Credentials written into a URI (http://admin:secret@host/) never reach a result object, a report in any format, a
# fault record or a proxy listing: the password is masked (http://admin:***@host/). Real target, real load, real proxy.
Describe 'Credentials in URIs are redacted' -Tag 'Redaction' {
    BeforeAll {
        Import-Module $env:CHAOSPS_MODULE -Force
        $script:outerState = $env:CHAOSPS_STATE_DIR
        $script:state = Join-Path ([IO.Path]::GetTempPath()) "chaosps-redact-$([guid]::NewGuid().ToString('n').Substring(0,8))"
        $env:CHAOSPS_STATE_DIR = $state
        $script:target = Start-ChaosTestbed -Workers 1
        $script:cred = $target.RouterUri.ToString() -replace '^http://', 'http://admin:s3cr3tpw@'
        $script:reports = Join-Path $state 'reports'
        New-Item -ItemType Directory $reports -Force | Out-Null
        # Everything an object holds, as text, for a search.
        function ConvertTo-AllText($InputObject) { $InputObject | ConvertTo-Json -Depth 30 -WarningAction SilentlyContinue }
    }
    AfterAll {
        if ($target) { $target | Stop-ChaosTestbed -ErrorAction SilentlyContinue }
        $env:CHAOSPS_STATE_DIR = $outerState
        Remove-Item $state -Recurse -Force -ErrorAction SilentlyContinue
    }

    It 'Start-LoadTest: the result holds no password, and shows the masked URI' {
        $script:load = Start-LoadTest -Uri ($cred + 'health') -Duration 1s -Rate 20
        $load.Requests | Should -BeGreaterThan 0 -Because 'the load really ran against the URI with credentials'
        ConvertTo-AllText $load | Should -Not -Match 's3cr3tpw'
        $load.Uri | Should -Match '^http://admin:\*\*\*@127\.0\.0\.1:\d+/health$'
        $load.Name | Should -Not -Match 's3cr3tpw'
    }

    It 'Export-LoadTestReport -Format <_>: no password in the report' -ForEach 'Json', 'JUnit', 'NUnit', 'Hgrm', 'Html' {
        $path = Join-Path $reports "report.$_"
        Export-LoadTestReport -InputObject $load -Format $_ -Path $path
        $text = Get-Content $path -Raw
        $text | Should -Not -BeNullOrEmpty
        $text | Should -Not -Match 's3cr3tpw'
        if ($_ -ne 'Hgrm') { $text | Should -Match 'admin(:|_)' -Because 'the report still names the target (masked)' }
    }

    It 'Merge-LoadTestResult keeps them out' {
        ConvertTo-AllText (Merge-LoadTestResult -InputObject $load, $load) | Should -Not -Match 's3cr3tpw'
    }

    It 'Invoke-ChaosInference: the result shows the masked URI' {
        $r = Invoke-ChaosInference -Uri $cred -Prompt 'hello' -MaxTokens 2
        $r.StatusCode | Should -Be 200
        ConvertTo-AllText $r | Should -Not -Match 's3cr3tpw'
        $r.Uri.ToString() | Should -Match '^http://admin:\*\*\*@'
    }

    It 'Wait-ChaosRecovery: probes and their details show the masked URI' {
        $r = Wait-ChaosRecovery -Uri ($cred + 'health') -Timeout 10s
        $r.Recovered | Should -BeTrue
        ConvertTo-AllText $r | Should -Not -Match 's3cr3tpw'
        ($r | Out-String -Width 300) | Should -Not -Match 's3cr3tpw'
    }

    It 'a toxiproxy URI with credentials: proxy listing, fault result and fault record are masked' {
        $server = Start-ChaosProxyServer -Listen 127.0.0.1:0
        $api = $server.Uri -replace '^http://', 'http://admin:s3cr3tpw@'
        $null = Start-ChaosProxy -Name redacted -Upstream ($target.RouterUri.Authority)
        try {
            $p = Get-ChaosProxy -ToxiproxyUri $api -Name redacted
            ConvertTo-AllText $p | Should -Not -Match 's3cr3tpw'
            $f = Add-NetworkFault -ToxiproxyUri $api -Proxy redacted -Type Latency -Latency 5ms -Confirm:$false
            ConvertTo-AllText $f | Should -Not -Match 's3cr3tpw'
            $f.ToxiproxyUri | Should -Match '^http://admin:\*\*\*@'
            $rec = Get-ChaosFault -Id $f.FaultId
            "$($rec.Target) $($rec.Description) $($rec.PriorState.Values) $($rec.Undo.Description)" | Should -Not -Match 's3cr3tpw'
            (Restore-ChaosFault -Id $f.FaultId -Confirm:$false).Outcome | Should -Be 'Restored' -Because 'the undo still reaches the server'
            # Remove-NetworkFault, given the URI with credentials or the masked one from a result, finds the record.
            $g = Add-NetworkFault -ToxiproxyUri $api -Proxy redacted -Type Latency -Latency 5ms -Name second -Confirm:$false
            Remove-NetworkFault -ToxiproxyUri $api -Proxy redacted -Name second -Confirm:$false
            Get-ChaosFault -Id $g.FaultId | Should -BeNullOrEmpty
            $h = Add-NetworkFault -ToxiproxyUri $api -Proxy redacted -Type Latency -Latency 5ms -Name third -Confirm:$false
            $h | Remove-NetworkFault -Confirm:$false
            Get-ChaosFault -Id $h.FaultId | Should -BeNullOrEmpty
            (Get-ChaosProxy -ToxiproxyUri $api -Name redacted).Toxics.Count | Should -Be 0
        } finally {
            Stop-ChaosProxy redacted -Confirm:$false -ErrorAction SilentlyContinue
            $server | Stop-ChaosProxyServer
        }
    }
}
