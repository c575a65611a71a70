# Network chaos as users see it: the proxy cmdlets, ledgered faults, the toxiproxy API with a real toxiproxy client,
# and every fault type end to end against the embedded testbed's router. All traffic stays on 127.0.0.1.
BeforeAll {
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    # The runner sets CHAOSPS_STATE_DIR (a temp ledger) for the whole run; child pwsh processes inherit it.
    if (-not $env:CHAOSPS_STATE_DIR) { $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-net-$PID" }
    Import-Module (Get-ChaosModulePath) -Force
    $script:target = Start-ChaosTestbed -Workers 1 -TokenDelay 1ms
    $script:routerAddr = '127.0.0.1:{0}' -f $target.RouterPort

    function Invoke-Http {
        # One GET on a fresh connection; returns status, elapsed ms, body length, or the error text.
        param([string] $Listen, [string] $Path = '/health', [int] $TimeoutSec = 10)
        $handler = [System.Net.Http.SocketsHttpHandler]::new()
        $handler.PooledConnectionLifetime = [TimeSpan]::Zero
        $client = [System.Net.Http.HttpClient]::new($handler)
        $client.Timeout = [TimeSpan]::FromSeconds($TimeoutSec)
        $sw = [Diagnostics.Stopwatch]::StartNew()
        try {
            $req = [System.Net.Http.HttpRequestMessage]::new('GET', "http://$Listen$Path")
            $req.Headers.ConnectionClose = $true
            $resp = $client.SendAsync($req).GetAwaiter().GetResult()
            $body = $resp.Content.ReadAsStringAsync().GetAwaiter().GetResult()
            [pscustomobject]@{ Status = [int]$resp.StatusCode; Ms = $sw.Elapsed.TotalMilliseconds; Length = $body.Length; Error = $null }
        } catch {
            $inner = $_.Exception; while ($inner.InnerException) { $inner = $inner.InnerException }
            [pscustomobject]@{ Status = 0; Ms = $sw.Elapsed.TotalMilliseconds; Length = 0; Error = "$($inner.GetType().Name): $($inner.Message)" }
        } finally { $client.Dispose() }
    }
    function New-TestProxy([string] $Name) { Start-ChaosProxy -Name $Name -Upstream $script:routerAddr }
}

AfterAll {
    Get-ChaosProxy -ErrorAction SilentlyContinue | Stop-ChaosProxy -Confirm:$false -ErrorAction SilentlyContinue
    Stop-ChaosProxyServer -ErrorAction SilentlyContinue
    if ($script:target) { $script:target | Stop-ChaosTestbed -ErrorAction SilentlyContinue }
    Get-ChaosFault | Restore-ChaosFault -ErrorAction SilentlyContinue | Out-Null
}

Describe 'Proxy lifecycle' -Tag Network {
    It 'shows proxies and faults legibly in an 80-column console (one header line, addresses whole)' {
        $p = New-TestProxy 'narrow'
        try {
            $f = Add-NetworkFault -Proxy narrow -Type Latency -Latency 5ms -Stream Downstream -Confirm:$false
            $table = (Get-ChaosProxy -Name narrow | Out-String -Width 80) -split "`n" | Where-Object { $_.Trim() }
            $table[0] | Should -Match '^Name\s+Listen\s+Upstream\s+State\s+Conns\s+Traffic\s+Toxics$'
            $table[2] | Should -Match ([regex]::Escape($p.Listen))
            $table[2] | Should -Match ([regex]::Escape($script:routerAddr))
            $table[2] | Should -Match '\s1: '
            $faults = ($f | Out-String -Width 80) -split "`n" | Where-Object { $_.Trim() }
            $faults[0] | Should -Match '^Proxy\s+Name\s+Type\s+Stream\s+Tox\s+Settings$'
            $faults[2] | Should -Match 'latency_downstream\s+latency\s+downstream\s+1 latency=5'
        } finally { Stop-ChaosProxy narrow -Confirm:$false }
    }

    It 'starts a proxy, lists it with live metrics, disables, enables and stops it' {
        $p = New-TestProxy 'life'
        $p.GetType().FullName | Should -Be 'ChaosPS.Network.ChaosProxyInfo'
        $p.Listen | Should -Match '^127\.0\.0\.1:\d+$'
        (Invoke-Http $p.Listen).Status | Should -Be 200
        $g = Get-ChaosProxy -Name life
        $g.ConnectionsTotal | Should -BeGreaterOrEqual 1
        $g.BytesUpstream | Should -BeGreaterThan 0
        # A byte counter moves just after its write, so the client may have read the response first.
        Wait-Until { (Get-ChaosProxy -Name life).BytesDownstream -gt 0 } 5 | Should -BeTrue
        Disable-ChaosProxy life -Confirm:$false
        (Invoke-Http $p.Listen).Error | Should -Match 'refused'
        Enable-ChaosProxy life -Confirm:$false
        (Invoke-Http $p.Listen).Status | Should -Be 200
        Stop-ChaosProxy life -Confirm:$false
        Get-ChaosProxy -Name life -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        (Invoke-Http $p.Listen).Error | Should -Match 'refused'
    }

    It 'outlives the pipeline that started it (lives in the session, not the pipeline)' {
        & { Start-ChaosProxy -Name 'bg' -Upstream $script:routerAddr | Out-Null }
        $ps = [powershell]::Create('CurrentRunspace')
        $null = $ps.AddScript('Get-ChaosProxy bg').Invoke()
        $ps.Dispose()
        (Invoke-Http (Get-ChaosProxy bg).Listen).Status | Should -Be 200
        Stop-ChaosProxy bg -Confirm:$false
    }

    It 'names the address when the listen address is in use, and creates nothing' {
        $a = New-TestProxy 'first'
        { Start-ChaosProxy -Name 'second' -Listen $a.Listen -Upstream $script:routerAddr -ErrorAction Stop } |
            Should -Throw -ErrorId 'ListenAddressInUse,ChaosPS.Commands.StartChaosProxyCommand' -ExpectedMessage "*$($a.Listen)*"
        Get-ChaosProxy -Name second -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Stop-ChaosProxy first -Confirm:$false
    }

    It 'refuses a non-loopback listen address without -AllowNonLoopback' {
        { Start-ChaosProxy -Name wide -Listen '0.0.0.0:0' -Upstream $script:routerAddr -ErrorAction Stop } |
            Should -Throw -ErrorId 'NonLoopbackListen,ChaosPS.Commands.StartChaosProxyCommand'
        Get-ChaosProxy -Name wide -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It '-WhatIf creates nothing' {
        Start-ChaosProxy -Name whatif -Upstream $script:routerAddr -WhatIf
        Get-ChaosProxy -Name whatif -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}

Describe 'Faults with the ledger' -Tag Network {
    BeforeAll { $script:p = New-TestProxy 'led' }
    AfterAll { Stop-ChaosProxy led -Confirm:$false -ErrorAction SilentlyContinue }

    It 'Add-NetworkFault records the fault, slows traffic, and Remove-NetworkFault undoes both' {
        $f = $p | Add-NetworkFault -Type Latency -Latency 300ms -Stream Both -Confirm:$false
        $f.GetType().FullName | Should -Be 'ChaosPS.Network.NetworkFaultInfo'
        $f.Name | Should -Be 'latency_both'
        $f.FaultId | Should -Not -BeNullOrEmpty
        (Get-ChaosFault -Id $f.FaultId).Kind | Should -Be 'NetworkFault'
        $r = Invoke-Http $p.Listen
        $r.Status | Should -Be 200
        $r.Ms | Should -BeGreaterOrEqual 590   # 300 ms each way
        $f | Remove-NetworkFault
        Get-ChaosFault -Id $f.FaultId | Should -BeNullOrEmpty
        (Get-ChaosProxy led).Toxics | Should -BeNullOrEmpty
    }

    It 'rejects bad input before changing anything' {
        { Add-NetworkFault -Proxy led -Type Latency -Latency 1s -Toxicity 1.5 -Confirm:$false -ErrorAction Stop } | Should -Throw
        { Add-NetworkFault -Proxy led -Type Latency -RateKBps 5 -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidToxicAttribute,ChaosPS.Commands.AddNetworkFaultCommand'
        { Add-NetworkFault -Proxy led -Type Slicer -AverageSize 0 -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'InvalidToxicAttribute,ChaosPS.Commands.AddNetworkFaultCommand'
        { Add-NetworkFault -Proxy nope -Type Latency -Latency 1s -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId 'ProxyNotFound,ChaosPS.Commands.AddNetworkFaultCommand'
        (Get-ChaosProxy led).Toxics | Should -BeNullOrEmpty
        Get-ChaosFault -Kind NetworkFault | Should -BeNullOrEmpty
    }

    It 'reads bare duration literals with their units (100us is a ushort, 2s a short to PowerShell)' {
        $f = Add-NetworkFault -Proxy led -Type Slicer -AverageSize 16 -Delay 100us -Name units -Confirm:$false
        $f.Attributes['delay'] | Should -Be 100          # microseconds for the slicer
        $g = Add-NetworkFault -Proxy led -Type Latency -Latency 2s -Jitter 250ms -Name units2 -Confirm:$false
        $g.Attributes['latency'] | Should -Be 2000
        $g.Attributes['jitter'] | Should -Be 250
        Remove-NetworkFault -Proxy led -Name units, units2
        (Get-ChaosProxy led).Toxics | Should -BeNullOrEmpty
    }

    It 'Invoke-NetworkFault removes the fault when the duration ends and reports what happened' {
        $job = Start-ThreadJob { param($l) Start-Sleep -Milliseconds 300; [Net.Sockets.TcpClient]::new('127.0.0.1', [int]($l -split ':')[1]).Dispose() } -ArgumentList $p.Listen
        $res = Invoke-NetworkFault -Proxy led -Type Latency -Latency 50ms -Duration 1s -Confirm:$false
        $job | Wait-Job | Remove-Job
        $res.GetType().FullName | Should -Be 'ChaosPS.Network.NetworkFaultResult'
        $res.Outcome | Should -Be 'Completed'
        $res.RestoreOutcome | Should -Be 'Restored'
        $res.ActualDuration.TotalSeconds | Should -BeGreaterOrEqual 0.95
        $res.ConnectionsDuring | Should -BeGreaterOrEqual 1
        (Get-ChaosProxy led).Toxics | Should -BeNullOrEmpty
        Get-ChaosFault -Kind NetworkFault | Should -BeNullOrEmpty
    }

    It 'Invoke-NetworkFault -AsJob stopped early still removes the fault' {
        $job = Invoke-NetworkFault -Proxy led -Type Timeout -Timeout 0 -Duration 60s -AsJob -Confirm:$false
        Wait-Until { (Get-ChaosProxy led).Toxics.Count -eq 1 } -TimeoutSeconds 20 | Should -BeTrue
        $job | Stop-Job
        Wait-Until { (Get-ChaosProxy led).Toxics.Count -eq 0 } -TimeoutSeconds 20 | Should -BeTrue
        Get-ChaosFault -Kind NetworkFault | Should -BeNullOrEmpty
        $job | Remove-Job -Force
    }

    It 'Invoke-NetworkFault -Type Down disables the proxy for the duration and enables it again' {
        $job = Invoke-NetworkFault -Proxy led -Type Down -Duration 2s -AsJob -Confirm:$false
        Wait-Until { -not (Get-ChaosProxy led).Enabled } -TimeoutSeconds 20 | Should -BeTrue
        (Invoke-Http $p.Listen).Error | Should -Match 'refused'
        $job | Wait-Job -Timeout 30 | Out-Null
        (Receive-Job $job).RestoreOutcome | Should -Be 'Restored'
        (Get-ChaosProxy led).Enabled | Should -BeTrue
        (Invoke-Http $p.Listen).Status | Should -Be 200
        $job | Remove-Job -Force
    }
}

Describe 'Faults survive nothing: pwsh death' -Tag Network {
    It 'a fault on a toxiproxy server is removed through the API when the pwsh that added it is killed' {
        $server = Start-ChaosProxyServer -Listen 127.0.0.1:0
        $p = New-TestProxy 'remote'
        $script = @"
Import-Module '$(Get-ChaosModulePath)'
Invoke-NetworkFault -ToxiproxyUri '$($server.Uri)' -Proxy remote -Type Latency -Latency 2s -Duration 10m -Confirm:`$false
"@
        $child = Invoke-ChildPwsh -Script $script -NoWait -Environment @{ CHAOSPS_STATE_DIR = $env:CHAOSPS_STATE_DIR }
        try {
            Wait-Until { (Get-ChaosProxy remote).Toxics.Count -eq 1 } -TimeoutSeconds 60 | Should -BeTrue
            (Get-ChaosFault -Kind NetworkFault).OwnerPid | Should -Be $child.Id
            $child.Kill()   # SIGKILL: no finally block runs in the child
            # The watchdog sees the owner gone and runs the undo step: DELETE the toxic through the API.
            Wait-Until { (Get-ChaosProxy remote).Toxics.Count -eq 0 } -TimeoutSeconds 30 | Should -BeTrue
            Wait-Until { -not (Get-ChaosFault -Kind NetworkFault) } -TimeoutSeconds 10 | Should -BeTrue
        } finally {
            if (-not $child.HasExited) { $child.Kill() }
            Stop-ChaosProxy remote -Confirm:$false -ErrorAction SilentlyContinue
            $server | Stop-ChaosProxyServer
        }
    }

    It 'a built-in proxy dies with its pwsh, and the ledger record is cleared as gone' {
        $script = @"
Import-Module '$(Get-ChaosModulePath)'
`$p = Start-ChaosProxy -Name doomed -Upstream '$script:routerAddr'
Add-NetworkFault -Proxy doomed -Type Latency -Latency 1s -Confirm:`$false | Out-Null
Write-Output `$p.Listen
Start-Sleep 600
"@
        $child = Invoke-ChildPwsh -Script $script -NoWait -Environment @{ CHAOSPS_STATE_DIR = $env:CHAOSPS_STATE_DIR }
        try {
            $listen = $child.StandardOutput.ReadLine()
            $listen | Should -Match '^127\.0\.0\.1:\d+$'
            Wait-Until { @(Get-ChaosFault -Kind NetworkFault).Count -eq 1 } -TimeoutSeconds 30 | Should -BeTrue
            $child.Kill()
            Wait-Until { -not (Get-ChaosFault -Kind NetworkFault) } -TimeoutSeconds 30 | Should -BeTrue
            (Invoke-Http $listen).Error | Should -Match 'refused'
        } finally { if (-not $child.HasExited) { $child.Kill() } }
    }
}

Describe 'Every fault type against the embedded testbed router' -Tag Network {
    BeforeAll { $script:e = New-TestProxy 'e2e' }
    AfterAll { Stop-ChaosProxy e2e -Confirm:$false -ErrorAction SilentlyContinue }
    AfterEach { Remove-NetworkFault -Proxy e2e -All -ErrorAction SilentlyContinue }

    It 'Latency 400ms downstream delays the answer by at least 400 ms' {
        Add-NetworkFault -Proxy e2e -Type Latency -Latency 400ms -Confirm:$false | Out-Null
        $r = Invoke-Http $e.Listen
        $r.Status | Should -Be 200
        $r.Ms | Should -BeGreaterOrEqual 395
    }

    It 'Bandwidth 1 KB/s slows a response of a few KB to seconds' {
        Add-NetworkFault -Proxy e2e -Type Bandwidth -RateKBps 1 -Confirm:$false | Out-Null
        $r = Invoke-Http $e.Listen -Path '/workers'
        $r.Status | Should -Be 200
        $r.Ms | Should -BeGreaterOrEqual ([math]::Max(0, $r.Length - 1000))  # >= (bytes - first 1000) ms at 1000 B/s
    }

    It 'Timeout 0 upstream hangs requests (the client times out)' {
        Add-NetworkFault -Proxy e2e -Type Timeout -Timeout 0 -Stream Upstream -Confirm:$false | Out-Null
        $r = Invoke-Http $e.Listen -TimeoutSec 2
        $r.Status | Should -Be 0   # no answer: the request never reached the router (it may close the idle socket itself)
        $r.Ms | Should -BeGreaterOrEqual 900
    }

    It 'ResetPeer resets the connection' {
        Add-NetworkFault -Proxy e2e -Type ResetPeer -Timeout 0 -Stream Upstream -Confirm:$false | Out-Null
        $r = Invoke-Http $e.Listen
        $r.Status | Should -Be 0
        $r.Error | Should -Match 'reset|forcibly|ended prematurely|EOF'
        (Get-ChaosProxy e2e).Resets | Should -BeGreaterOrEqual 1
    }

    It 'Slicer cuts the response into small pieces and it still arrives whole' {
        Add-NetworkFault -Proxy e2e -Type Slicer -AverageSize 16 -SizeVariation 8 -Delay 100us -Confirm:$false | Out-Null
        $direct = Invoke-Http $script:routerAddr -Path '/workers'
        $r = Invoke-Http $e.Listen -Path '/workers'
        $r.Status | Should -Be 200
        $r.Length | Should -Be $direct.Length
    }

    It 'LimitData cuts the response after the given bytes' {
        Add-NetworkFault -Proxy e2e -Type LimitData -Bytes 20 -Confirm:$false | Out-Null
        $r = Invoke-Http $e.Listen
        $r.Status | Should -Be 0
    }

    It 'SlowClose still delivers the answer' {
        Add-NetworkFault -Proxy e2e -Type SlowClose -Delay 200ms -Confirm:$false | Out-Null
        (Invoke-Http $e.Listen).Status | Should -Be 200
    }

    It 'RefuseConnect makes new connections fail with connection refused, and removal restores it' {
        Add-NetworkFault -Proxy e2e -Type RefuseConnect -Confirm:$false | Out-Null
        (Invoke-Http $e.Listen).Error | Should -Match 'refused'
        Remove-NetworkFault -Proxy e2e -Name refuse_connect_downstream
        (Invoke-Http $e.Listen).Status | Should -Be 200
    }

    It 'ResetOnConnect with toxicity 0.5 resets some connections and spares others' {
        Add-NetworkFault -Proxy e2e -Type ResetOnConnect -Toxicity 0.5 -Confirm:$false | Out-Null
        $results = 1..30 | ForEach-Object { Invoke-Http $e.Listen }
        @($results | Where-Object Status -eq 200).Count | Should -BeGreaterThan 0
        @($results | Where-Object Status -eq 0).Count | Should -BeGreaterThan 0
    }
}

Describe 'toxiproxy HTTP API (Start-ChaosProxyServer)' -Tag Network {
    BeforeAll { $script:server = Start-ChaosProxyServer -Listen 127.0.0.1:0 }
    AfterAll { $script:server | Stop-ChaosProxyServer }

    It 'serves /version and shares its proxies with the cmdlets; -ToxiproxyUri drives it' {
        (Invoke-RestMethod "$($server.Uri)/version" -UserAgent 'toxiproxy-cli').version | Should -Be '2.12.0'
        $p = New-TestProxy 'shared'
        (Invoke-RestMethod "$($server.Uri)/proxies/shared" -UserAgent 'toxiproxy-cli').listen | Should -Be $p.Listen
        $f = Add-NetworkFault -ToxiproxyUri $server.Uri -Proxy shared -Type Latency -Latency 100ms -Stream Upstream -Confirm:$false
        $f.ToxiproxyUri | Should -Be $server.Uri
        (Get-ChaosProxy shared).Toxics.Name | Should -Be 'latency_upstream'
        (Get-ChaosProxy -ToxiproxyUri $server.Uri -Name shared).Toxics.Name | Should -Be 'latency_upstream'
        Remove-NetworkFault -ToxiproxyUri $server.Uri -Proxy shared -Name latency_upstream
        (Get-ChaosProxy shared).Toxics | Should -BeNullOrEmpty
        Stop-ChaosProxy -ToxiproxyUri $server.Uri -Name shared -Confirm:$false
        Get-ChaosProxy shared -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }

    It 'answers errors in toxiproxy''s shape' {
        # PowerShell's own user agent starts with Mozilla/, which toxiproxy (and this server) answer with 403.
        (Invoke-WebRequest "$($server.Uri)/proxies" -SkipHttpErrorCheck).StatusCode | Should -Be 403
        $r = Invoke-WebRequest "$($server.Uri)/proxies/nope" -SkipHttpErrorCheck -UserAgent 'toxiproxy-cli'
        $r.StatusCode | Should -Be 404
        $r.Content | Should -Be "{`"error`":`"proxy not found`",`"status`":404}`n"
    }

    It 'works with the unchanged npm toxiproxy client (toxiproxy-node-client)' {
        if (-not (Get-Command npm -ErrorAction SilentlyContinue) -or -not (Get-Command node -ErrorAction SilentlyContinue)) {
            Set-ItResult -Skipped -Because 'node/npm are not installed'; return
        }
        $dir = Join-Path ([IO.Path]::GetTempPath()) "chaosps-toxiproxy-client-$PID"
        New-Item -ItemType Directory -Path $dir -Force | Out-Null
        & npm install --prefix $dir --no-audit --no-fund --silent --fetch-retries=0 --fetch-timeout=30000 toxiproxy-node-client@4.1.0 2>&1 | Out-Null
        if (-not (Test-Path "$dir/node_modules/toxiproxy-node-client")) {
            Set-ItResult -Skipped -Because 'the npm registry is not reachable (toxiproxy-node-client could not be installed)'; return
        }
        $json = & node "$PSScriptRoot/Network/toxiproxy-node-client.js" $dir $server.Uri
        $o = $json | ConvertFrom-Json
        $o.fatal | Should -BeNullOrEmpty
        $o.version | Should -Be "{`"version`": `"2.12.0`"}`n"
        $o.created.listen | Should -Match '^127\.0\.0\.1:\d+$'
        $o.plain.data | Should -Be 'hello'
        $o.toxic.name | Should -Be 'latency_downstream'
        $o.toxic.attributes.latency | Should -Be 300
        $o.slowed.data | Should -Be 'world'
        $o.slowed.ms | Should -BeGreaterOrEqual 295
        $o.afterRemove.data | Should -Be 'again'
        $o.badType | Should -Match '400'
        $o.conflict | Should -Match '409'
        $o.disabled | Should -BeFalse
        $o.populated | Should -Be 'pop1'
        $o.afterReset | Should -BeTrue
        $o.afterDelete | Should -Match '404'
        Remove-Item $dir -Recurse -Force -ErrorAction SilentlyContinue
    }
}
