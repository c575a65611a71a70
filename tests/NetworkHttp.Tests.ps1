# The proxy's HTTP mode as users see it: HTTP faults answered, delayed, slowed and reset per request, matched by
# method and path, with exact shares measured over real keep-alive traffic; TCP faults on the same proxy; the
# toxiproxy API and the npm toxiproxy client adding the new toxic types. All traffic stays on 127.0.0.1.
BeforeAll {
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    if (-not $env:CHAOSPS_STATE_DIR) { $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-http-$PID" }
    Import-Module (Get-ChaosModulePath) -Force
    if (-not ('ChaosTestHttpUpstream' -as [type])) { Add-Type -Path "$PSScriptRoot/Network/HttpUpstream.cs" }
    $script:up = [ChaosTestHttpUpstream]::new()

    function New-Client([int] $Connections = 8) {
        $handler = [System.Net.Http.SocketsHttpHandler]::new()
        $handler.MaxConnectionsPerServer = $Connections
        $handler.PooledConnectionIdleTimeout = [TimeSpan]::FromMinutes(5)
        $c = [System.Net.Http.HttpClient]::new($handler)
        $c.Timeout = [TimeSpan]::FromSeconds(30)
        $c
    }
    function Send-Requests {
        # $Count GETs, $Parallel at a time over one keep-alive client; returns the status of each.
        param($Client, [string] $Uri, [int] $Count, [int] $Parallel = 8)
        $statuses = [System.Collections.Generic.List[int]]::new($Count)
        for ($i = 0; $i -lt $Count; $i += $Parallel) {
            $n = [Math]::Min($Parallel, $Count - $i)
            $tasks = [System.Threading.Tasks.Task[System.Net.Http.HttpResponseMessage][]]::new($n)
            for ($j = 0; $j -lt $n; $j++) { $tasks[$j] = $Client.GetAsync($Uri) }
            [System.Threading.Tasks.Task]::WaitAll([System.Threading.Tasks.Task[]] $tasks)
            foreach ($t in $tasks) { $statuses.Add([int] $t.Result.StatusCode); $t.Result.Dispose() }
        }
        , $statuses
    }
    function New-HttpProxy([string] $Name) { Start-ChaosProxy -Name $Name -Upstream $script:up.Address -Mode Http }
}

AfterAll {
    Get-ChaosProxy -ErrorAction SilentlyContinue | Stop-ChaosProxy -Confirm:$false -ErrorAction SilentlyContinue
    Stop-ChaosProxyServer -ErrorAction SilentlyContinue
    if ($script:up) { $script:up.Dispose() }
    Get-ChaosFault | Restore-ChaosFault -ErrorAction SilentlyContinue | Out-Null
}

Describe 'HTTP mode: answering a share of requests' -Tag Network, HttpMode {
    It 'answers 20% of 5,000 keep-alive requests with 503 (measured 20 +/- 2%), the rest from the upstream, connections kept' {
        $p = New-HttpProxy 'share'
        $client = New-Client 8
        try {
            $p.Mode | Should -Be 'http'
            $f = Add-NetworkFault -Proxy share -Type HttpStatus -StatusCode 503 -Percent 20 -RetryAfter 1s -Confirm:$false
            $f.Type | Should -Be 'http_status'
            $f.Toxicity | Should -Be 0.2
            $script:up.ResetCounters()
            $statuses = Send-Requests -Client $client -Uri "http://$($p.Listen)/work" -Count 5000
            $n503 = @($statuses | Where-Object { $_ -eq 503 }).Count
            $n200 = @($statuses | Where-Object { $_ -eq 200 }).Count
            ($n503 + $n200) | Should -Be 5000
            $n503 | Should -BeGreaterOrEqual 900      # 18%
            $n503 | Should -BeLessOrEqual 1100        # 22%
            # The 200s came from the upstream, and only they reached it: the 503s never left the proxy.
            $script:up.Requests | Should -Be $n200
            # Keep-alive kept on both sides: a handful of connections for 5,000 requests, one upstream dial per client connection.
            $info = Get-ChaosProxy share
            $script:up.Connections | Should -BeLessOrEqual 8
            $script:up.Connections | Should -Be $info.ConnectionsTotal
            $info.HttpRequests | Should -Be 5000
            $info.HttpAnswered | Should -Be $n503
            # The result counts the requests the fault hit.
            $t = $info.Toxics | Where-Object Name -eq $f.Name
            $t.Activations | Should -Be $n503
            $t.RequestsMatched | Should -Be 5000
        } finally { $client.Dispose(); Stop-ChaosProxy share -Confirm:$false }
    }

    It 'answers nothing with 0% and everything with 100% (the share is measured, not assumed)' {
        $p = New-HttpProxy 'edges'
        $client = New-Client 4
        try {
            $f = Add-NetworkFault -Proxy edges -Type HttpStatus -StatusCode 500 -Percent 0 -Name zero -Confirm:$false
            $s = Send-Requests -Client $client -Uri "http://$($p.Listen)/a" -Count 200 -Parallel 4
            @($s | Where-Object { $_ -ne 200 }).Count | Should -Be 0
            Remove-NetworkFault -Proxy edges -Name zero -Confirm:$false
            Add-NetworkFault -Proxy edges -Type HttpStatus -StatusCode 404 -Percent 100 -Name all -Confirm:$false | Out-Null
            $s = Send-Requests -Client $client -Uri "http://$($p.Listen)/a" -Count 200 -Parallel 4
            @($s | Where-Object { $_ -eq 404 }).Count | Should -Be 200
        } finally { $client.Dispose(); Stop-ChaosProxy edges -Confirm:$false }
    }

    It 'lets a client retry loop succeed: 429 with Retry-After, retried until the upstream answers' {
        $p = New-HttpProxy 'retry'
        $client = New-Client 1
        try {
            Add-NetworkFault -Proxy retry -Type HttpStatus -StatusCode 429 -RetryAfter 2s -Percent 50 -Name throttle -Confirm:$false | Out-Null
            $attempts = 0; $ok = 0; $retryAfter = @()
            for ($call = 0; $call -lt 40; $call++) {
                for ($try = 1; $try -le 20; $try++) {
                    $attempts++
                    $r = $client.GetAsync("http://$($p.Listen)/order/$call").GetAwaiter().GetResult()
                    $body = $r.Content.ReadAsStringAsync().GetAwaiter().GetResult()
                    if ([int]$r.StatusCode -eq 200) { $body | Should -Be "upstream GET /order/$call"; $ok++; $r.Dispose(); break }
                    [int]$r.StatusCode | Should -Be 429
                    $retryAfter += $r.Headers.RetryAfter.Delta.TotalSeconds
                    $r.Dispose()
                }
            }
            $ok | Should -Be 40
            $attempts | Should -BeGreaterThan 40
            $retryAfter | Sort-Object -Unique | Should -Be 2
            (Get-ChaosProxy retry).Toxics[0].Activations | Should -Be ($attempts - 40)
        } finally { $client.Dispose(); Stop-ChaosProxy retry -Confirm:$false }
    }
}

Describe 'HTTP mode: bodies and matching' -Tag Network, HttpMode {
    It 'passes chunked response and request bodies intact on one keep-alive connection while a fault answers others' {
        $p = New-HttpProxy 'chunks'
        $client = New-Client 1
        try {
            Add-NetworkFault -Proxy chunks -Type HttpStatus -StatusCode 503 -Percent 100 -Path '/blocked' -Confirm:$false | Out-Null
            $expected = [ChaosTestHttpUpstream]::ChunkedBody(300, 997)
            for ($i = 0; $i -lt 5; $i++) {
                $r = $client.GetAsync("http://$($p.Listen)/chunked?n=300&size=997").GetAwaiter().GetResult()
                $r.Headers.TransferEncodingChunked | Should -BeTrue
                $r.Content.ReadAsStringAsync().GetAwaiter().GetResult() | Should -BeExactly $expected
                $b = $client.GetAsync("http://$($p.Listen)/blocked").GetAwaiter().GetResult()
                [int]$b.StatusCode | Should -Be 503
                $b.Headers.GetValues('X-ChaosPS-Fault') | Should -Be 'http_status_downstream'
            }
            # A chunked upload (no length known up front): the upstream gets every byte.
            $data = [byte[]]::new(300000); [Random]::new(7).NextBytes($data)
            $content = [System.Net.Http.StreamContent]::new([IO.MemoryStream]::new($data))
            $req = [System.Net.Http.HttpRequestMessage]::new('POST', "http://$($p.Listen)/echo")
            $req.Content = $content
            $req.Headers.TransferEncodingChunked = $true
            $r = $client.SendAsync($req).GetAwaiter().GetResult()
            $hash = ([System.Security.Cryptography.SHA256]::HashData($data) | ForEach-Object { $_.ToString('x2') }) -join ''
            $r.Content.ReadAsStringAsync().GetAwaiter().GetResult() | Should -Be "300000 $hash"
            $script:up.Connections | Should -BeGreaterThan 0
            (Get-ChaosProxy chunks).ConnectionsTotal | Should -Be 1
        } finally { $client.Dispose(); Stop-ChaosProxy chunks -Confirm:$false }
    }

    It 'answers a request that waits for 100 Continue and closes that connection, so the next request is not taken for its body' {
        $p = New-HttpProxy 'expect'
        $client = New-Client 1
        try {
            Add-NetworkFault -Proxy expect -Type HttpStatus -StatusCode 503 -Percent 100 -Path /upload -Confirm:$false | Out-Null
            $req = [System.Net.Http.HttpRequestMessage]::new('POST', "http://$($p.Listen)/upload")
            $req.Headers.ExpectContinue = $true
            $req.Content = [System.Net.Http.ByteArrayContent]::new([byte[]]::new(200000))
            $r = $client.SendAsync($req).GetAwaiter().GetResult()
            [int]$r.StatusCode | Should -Be 503
            $r.Headers.ConnectionClose | Should -BeTrue
            $r.Dispose()
            $r = $client.GetAsync("http://$($p.Listen)/after").GetAwaiter().GetResult()
            $r.Content.ReadAsStringAsync().GetAwaiter().GetResult() | Should -Be 'upstream GET /after'
        } finally { $client.Dispose(); Stop-ChaosProxy expect -Confirm:$false }
    }

    It 'matches by method and by path prefix or wildcard, and counts what matched' {
        $p = New-HttpProxy 'match'
        $client = New-Client 1
        try {
            Add-NetworkFault -Proxy match -Type HttpStatus -StatusCode 404 -Percent 100 -Method POST -Path '/api/*/items' -Name wild -Confirm:$false | Out-Null
            Add-NetworkFault -Proxy match -Type HttpStatus -StatusCode 500 -Percent 100 -Method 'GET, HEAD' -Path '/admin/' -Name prefix -Confirm:$false | Out-Null
            function St([string] $Method, [string] $Path) {
                $req = [System.Net.Http.HttpRequestMessage]::new($Method, "http://$($p.Listen)$Path")
                if ($Method -eq 'POST') { $req.Content = [System.Net.Http.StringContent]::new('x') }
                $r = $client.SendAsync($req).GetAwaiter().GetResult(); $s = [int]$r.StatusCode; $r.Dispose(); $s
            }
            St POST '/api/v1/items' | Should -Be 404
            St POST '/api/v1/deep/items' | Should -Be 404
            St POST '/api/v1/items?page=2' | Should -Be 404   # the query string is not matched
            St GET '/api/v1/items' | Should -Be 200
            St POST '/api/v1/items/7' | Should -Be 200
            St GET '/admin/users' | Should -Be 500
            St HEAD '/admin/users' | Should -Be 500
            St POST '/admin/users' | Should -Be 200
            St GET '/administrator' | Should -Be 200
            $t = (Get-ChaosProxy match).Toxics
            ($t | Where-Object Name -eq wild).RequestsMatched | Should -Be 3
            ($t | Where-Object Name -eq wild).Activations | Should -Be 3
            ($t | Where-Object Name -eq prefix).Activations | Should -Be 2
            ($t | Where-Object Name -eq prefix).Settings | Should -Match 'method=GET, HEAD path=/admin/'
        } finally { $client.Dispose(); Stop-ChaosProxy match -Confirm:$false }
    }

    It 'delays response headers, slows bodies and resets mid-body, and TCP faults still apply on the same proxy' {
        $p = New-HttpProxy 'shape'
        $client = New-Client 1
        try {
            Add-NetworkFault -Proxy shape -Type HttpDelay -Delay 400ms -Percent 100 -Path /slowhead -Confirm:$false | Out-Null
            Add-NetworkFault -Proxy shape -Type HttpSlowBody -BytesPerSecond 20000 -Percent 100 -Path /bytes -Method GET -Confirm:$false | Out-Null
            Add-NetworkFault -Proxy shape -Type HttpReset -AfterBytes 1000 -Percent 100 -Path /chunked -Confirm:$false | Out-Null
            $sw = [Diagnostics.Stopwatch]::StartNew()
            $r = $client.GetAsync("http://$($p.Listen)/slowhead").GetAwaiter().GetResult()
            [int]$r.StatusCode | Should -Be 200
            $sw.ElapsedMilliseconds | Should -BeGreaterOrEqual 390
            $sw.Restart()
            $r = $client.GetAsync("http://$($p.Listen)/bytes?n=30000").GetAwaiter().GetResult()
            $r.Content.ReadAsStringAsync().GetAwaiter().GetResult().Length | Should -Be 30000
            $sw.ElapsedMilliseconds | Should -BeGreaterOrEqual 1300   # 30,000 bytes at 20,000 B/s: at least 1.5 s less a slice
            $err = $null
            try { $client.GetAsync("http://$($p.Listen)/chunked?n=20&size=500").GetAwaiter().GetResult().Content.ReadAsStringAsync().GetAwaiter().GetResult() | Out-Null }
            catch { $err = $_ }
            $err | Should -Not -BeNullOrEmpty
            $info = Get-ChaosProxy shape
            $info.Resets | Should -Be 1
            ($info.Toxics | Where-Object Type -eq http_reset).Activations | Should -Be 1
            # A TCP fault on the HTTP-mode proxy still acts on every byte.
            Add-NetworkFault -Proxy shape -Type Latency -Latency 300ms -Confirm:$false | Out-Null
            $c2 = New-Client 1
            try {
                $sw.Restart()
                $r = $c2.GetAsync("http://$($p.Listen)/plain").GetAwaiter().GetResult()
                $r.Content.ReadAsStringAsync().GetAwaiter().GetResult() | Should -Be 'upstream GET /plain'
                $sw.ElapsedMilliseconds | Should -BeGreaterOrEqual 290
            } finally { $c2.Dispose() }
        } finally { $client.Dispose(); Stop-ChaosProxy shape -Confirm:$false }
    }
}

Describe 'HTTP mode: bad input is refused before anything changes' -Tag Network, HttpMode {
    BeforeAll { $script:bad = New-HttpProxy 'bad' }
    AfterAll { Stop-ChaosProxy bad -Confirm:$false -ErrorAction SilentlyContinue }

    It 'refuses <Case> with <Id>' -TestCases @(
        @{ Case = 'status 700'; Id = 'InvalidHttpStatus'; Params = @{ Type = 'HttpStatus'; StatusCode = 700 } }
        @{ Case = 'status 99'; Id = 'InvalidHttpStatus'; Params = @{ Type = 'HttpStatus'; StatusCode = 99 } }
        @{ Case = 'percent 101'; Id = 'InvalidPercent'; Params = @{ Type = 'HttpStatus'; Percent = 101 } }
        @{ Case = 'percent -1'; Id = 'InvalidPercent'; Params = @{ Type = 'HttpStatus'; Percent = -1 } }
        @{ Case = 'percent with toxicity'; Id = 'InvalidPercent'; Params = @{ Type = 'HttpStatus'; Percent = 5; Toxicity = 0.5 } }
        @{ Case = 'percent on a TCP fault'; Id = 'InvalidPercent'; Params = @{ Type = 'Latency'; Latency = '1ms'; Percent = 5 } }
        @{ Case = 'a path without a leading slash'; Id = 'InvalidPathPattern'; Params = @{ Type = 'HttpStatus'; Path = 'api/*' } }
        @{ Case = 'a path with a query'; Id = 'InvalidPathPattern'; Params = @{ Type = 'HttpStatus'; Path = '/api?x=1' } }
        @{ Case = 'a path with a space'; Id = 'InvalidPathPattern'; Params = @{ Type = 'HttpStatus'; Path = '/a b' } }
        @{ Case = 'a bad method'; Id = 'InvalidHttpMethod'; Params = @{ Type = 'HttpStatus'; Method = 'GE T' } }
        @{ Case = 'slow body at 0 B/s'; Id = 'InvalidToxicAttribute'; Params = @{ Type = 'HttpSlowBody'; BytesPerSecond = 0 } }
        @{ Case = '-Path on a TCP fault'; Id = 'InvalidToxicAttribute'; Params = @{ Type = 'Latency'; Latency = '1ms'; Path = '/x' } }
    ) {
        $before = (Get-ChaosFault | Measure-Object).Count
        { Add-NetworkFault -Proxy bad @Params -Confirm:$false -ErrorAction Stop } | Should -Throw -ErrorId "$Id,ChaosPS.Commands.AddNetworkFaultCommand"
        (Get-ChaosProxy bad).Toxics | Should -BeNullOrEmpty
        (Get-ChaosFault | Measure-Object).Count | Should -Be $before
    }

    It 'refuses an HTTP fault on a proxy in TCP mode, and a bad -Mode' {
        $tcp = Start-ChaosProxy -Name tcponly -Upstream $script:up.Address
        try {
            { Add-NetworkFault -Proxy tcponly -Type HttpStatus -Percent 10 -Confirm:$false -ErrorAction Stop } |
                Should -Throw -ErrorId 'HttpFaultNeedsHttpMode,ChaosPS.Commands.AddNetworkFaultCommand'
            (Get-ChaosProxy tcponly).Toxics | Should -BeNullOrEmpty
        } finally { Stop-ChaosProxy tcponly -Confirm:$false }
        { Start-ChaosProxy -Name badmode -Upstream $script:up.Address -Mode Udp -ErrorAction Stop } | Should -Throw -ErrorId 'ParameterArgumentValidationError,ChaosPS.Commands.StartChaosProxyCommand'
        Get-ChaosProxy -Name badmode -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}

Describe 'HTTP mode through the toxiproxy API' -Tag Network, HttpMode {
    BeforeAll { $script:server = Start-ChaosProxyServer -Listen 127.0.0.1:0 }
    AfterAll { Stop-ChaosProxyServer -ErrorAction SilentlyContinue }

    It 'creates an HTTP-mode proxy and adds http_* toxics as a toxiproxy client does (Invoke-RestMethod), refusing bad ones with 400' {
        $api = $script:server.Uri
        $ua = @{ UserAgent = 'toxiproxy-cli'; ContentType = 'application/json' }
        $p = Invoke-RestMethod -Method Post "$api/proxies" @ua -Body (@{ name = 'apihttp'; listen = '127.0.0.1:0'; upstream = $script:up.Address; mode = 'http' } | ConvertTo-Json)
        $p.mode | Should -Be 'http'
        try {
            $t = Invoke-RestMethod -Method Post "$api/proxies/apihttp/toxics" @ua -Body (@{ name = 'busy'; type = 'http_status'; toxicity = 1; attributes = @{ status = 503; retry_after = 5; path = '/api/'; method = 'GET' } } | ConvertTo-Json)
            $t.type | Should -Be 'http_status'
            $t.attributes.status | Should -Be 503
            $t.attributes.path | Should -Be '/api/'
            $r = Invoke-WebRequest "http://$($p.listen)/api/x" -SkipHttpErrorCheck
            $r.StatusCode | Should -Be 503
            $r.Headers['Retry-After'] | Should -Be '5'
            (Invoke-WebRequest "http://$($p.listen)/other" -SkipHttpErrorCheck).StatusCode | Should -Be 200
            # An update is a partial merge, as for every toxic.
            $u = Invoke-RestMethod -Method Post "$api/proxies/apihttp/toxics/busy" @ua -Body '{"attributes":{"status":500}}'
            $u.attributes.status | Should -Be 500
            $u.attributes.path | Should -Be '/api/'
            (Invoke-WebRequest "http://$($p.listen)/api/x" -SkipHttpErrorCheck).StatusCode | Should -Be 500
            $metrics = Invoke-RestMethod "$api/metrics" -UserAgent 'prometheus'
            $metrics | Should -Match '(?m)^chaosps_proxy_http_answered_total\{[^}]*proxy="apihttp"[^}]*\} 2$'
            $metrics | Should -Match '(?m)^chaosps_proxy_http_requests_total\{[^}]*proxy="apihttp"[^}]*\} 3$'
            # Ordinary toxics keep working on the same proxy.
            (Invoke-RestMethod -Method Post "$api/proxies/apihttp/toxics" @ua -Body '{"type":"latency","attributes":{"latency":1}}').type | Should -Be 'latency'
            foreach ($bad in @(
                    @{ body = '{"name":"b1","type":"http_status","attributes":{"status":700}}'; msg = '*status*200 to 599*' }
                    @{ body = '{"name":"b2","type":"http_status","toxicity":1.5}'; msg = '*toxicity*' }
                    @{ body = '{"name":"b3","type":"http_status","attributes":{"path":"no-slash"}}'; msg = '*path*' })) {
                $e = Invoke-WebRequest -Method Post "$api/proxies/apihttp/toxics" @ua -Body $bad.body -SkipHttpErrorCheck
                $e.StatusCode | Should -Be 400
                ($e.Content | ConvertFrom-Json).error | Should -BeLike $bad.msg
            }
            (Invoke-RestMethod "$api/proxies/apihttp/toxics" @ua).Count | Should -Be 2
            $tcp = Invoke-RestMethod -Method Post "$api/proxies" @ua -Body (@{ name = 'apitcp'; listen = '127.0.0.1:0'; upstream = $script:up.Address } | ConvertTo-Json)
            $tcp.PSObject.Properties.Name | Should -Not -Contain 'mode'
            (Invoke-WebRequest -Method Post "$api/proxies/apitcp/toxics" @ua -Body '{"type":"http_status"}' -SkipHttpErrorCheck).StatusCode | Should -Be 400
            # The cmdlets see the HTTP mode and the counts through the same API.
            $remote = Get-ChaosProxy -Name apihttp -ToxiproxyUri $api
            $remote.Mode | Should -Be 'http'
        } finally {
            Invoke-RestMethod -Method Delete "$api/proxies/apihttp" @ua | Out-Null
            Invoke-RestMethod -Method Delete "$api/proxies/apitcp" @ua -ErrorAction SilentlyContinue | Out-Null
        }
    }

    It 'works with the unchanged npm toxiproxy client (toxiproxy-node-client): 25% of 800 requests answered 429' {
        if (-not (Get-Command npm -ErrorAction SilentlyContinue) -or -not (Get-Command node -ErrorAction SilentlyContinue)) {
            Set-ItResult -Skipped -Because 'node/npm are not installed'; return
        }
        $dir = Join-Path ([IO.Path]::GetTempPath()) "chaosps-toxiproxy-http-client-$PID"
        New-Item -ItemType Directory -Path $dir -Force | Out-Null
        & npm install --prefix $dir --no-audit --no-fund --silent --fetch-retries=0 --fetch-timeout=30000 toxiproxy-node-client@4.1.0 2>&1 | Out-Null
        if (-not (Test-Path "$dir/node_modules/toxiproxy-node-client")) {
            Set-ItResult -Skipped -Because 'the npm registry is not reachable (toxiproxy-node-client could not be installed)'; return
        }
        $json = & node "$PSScriptRoot/Network/toxiproxy-node-http.js" $dir $script:server.Uri $script:up.Address 800
        $o = $json | ConvertFrom-Json
        $o.fatal | Should -BeNullOrEmpty
        $o.toxic.type | Should -Be 'http_status'
        $o.toxic.attributes.status | Should -Be 429
        $o.toxic.attributes.path | Should -Be '/api/'
        $o.counts.'429' | Should -BeGreaterOrEqual 184   # 23%
        $o.counts.'429' | Should -BeLessOrEqual 216      # 27%
        ($o.counts.'429' + $o.counts.'200') | Should -Be 800
        $o.retryAfter | Should -Be '3'
        $o.other | Should -Be 200
        $o.fetched.retry_after | Should -Be 3
        $o.badStatus | Should -Match '400'
        Remove-Item $dir -Recurse -Force -ErrorAction SilentlyContinue
    }
}
