#Requires -Modules Pester
# Start-LoadTest -Http2 (the engine's own HTTP/2 client) against nginx with http2 on 127.0.0.1: cleartext by prior
# knowledge (h2c) and TLS with ALPN h2 (self-signed certificate this file makes), status codes, body checks, streams
# multiplexed per connection (nginx's $connection in the access log), GOAWAY, and errors by kind.

BeforeAll {
    Import-Module $env:CHAOSPS_MODULE -Force
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    $PSDefaultParameterValues['Start-LoadTest:ProgressAction'] = 'SilentlyContinue'
    $script:dir = Join-Path ([IO.Path]::GetTempPath()) "chaosps-h2-$PID"
    New-Item -ItemType Directory -Force $dir | Out-Null
    New-TestCertificate -Directory $dir
    New-Item -ItemType Directory -Force "$dir/www" | Out-Null
    [IO.File]::WriteAllBytes("$dir/www/big.bin", [byte[]]::new(256KB))
    $script:pc = Get-FreeTcpPort; $script:pt = Get-FreeTcpPort; $script:pg = Get-FreeTcpPort; $script:p1 = Get-FreeTcpPort; $script:ph = Get-FreeTcpPort
    # 'listen ... http2' is the form nginx 1.22 (Debian 12) knows. $connection is nginx's connection serial number.
    @"
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  log_format h2 '`$server_port `$connection `$connection_requests `$server_protocol `$status `$msec `$request_time `$uri';
  access_log $dir/access.log h2;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;
  keepalive_requests 100000;
  server {
    listen 127.0.0.1:$pc http2;
    location / { return 200 "hello h2\n"; }
    location /missing { return 404 "not here\n"; }
    location /drop { return 444; }
    location /echo { client_max_body_size 1m; client_body_buffer_size 1m; proxy_pass http://127.0.0.1:$p1/sink; }
    location /big { root $dir/www; try_files /big.bin =404; limit_rate 512k; limit_rate_after 0; }
  }
  server { listen 127.0.0.1:$pt ssl http2; location / { return 200 "hello h2 tls\n"; } }
  server { listen 127.0.0.1:$pg http2; keepalive_requests 25; location / { return 200 "short-lived\n"; } }
  server { listen 127.0.0.1:$p1; location /sink { return 200 "got it\n"; } }
  # The request headers as nginx decoded them (HPACK), per connection: keepalive_requests 40 ends each connection
  # with GOAWAY, so the run's requests go over several connections whose HPACK tables start empty.
  log_format hdr '`$connection|`$connection_requests|`$request_method|`$uri|`$args|`$http_host|`$http_user_agent|`$http_x_tmpl|`$http_x_shared|`$content_length';
  server { listen 127.0.0.1:$ph http2; keepalive_requests 40; access_log $dir/headers.log hdr; location /hdr { return 200 "hdr\n"; } }
}
"@ | Set-Content "$dir/nginx.conf"
    nginx -c "$dir/nginx.conf"
    if ($LASTEXITCODE) { throw "nginx did not start: $(Get-Content "$dir/error.log" -Raw)" }
    Import-Module (Join-Path $PSScriptRoot TestHelpers.psm1) -Force
    function Get-Log([int] $port, [string] $uri) { @(Get-Content "$dir/access.log" -ErrorAction SilentlyContinue | Where-Object { $_ -like "$port *" -and (-not $uri -or $_ -like "* $uri") }) }
    # nginx writes its access log line after the response; wait until a run's lines are all there.
    function Wait-Log([int] $port, [string] $uri, [int] $count) { Wait-Until { (Get-Log $port $uri).Count -ge $count } -TimeoutSeconds 10 | Out-Null; Get-Log $port $uri }
    function Clear-Log { Clear-Content "$dir/access.log" -ErrorAction SilentlyContinue } # nginx appends (O_APPEND): truncating is safe
}

AfterAll {
    if (Test-Path "$dir/nginx.pid") { nginx -c "$dir/nginx.conf" -s stop 2>$null }
    Start-Sleep -Milliseconds 300
    Remove-Item -Recurse -Force $dir -ErrorAction SilentlyContinue
}

Describe 'Start-LoadTest -Http2 against nginx' -Tag 'Load', 'Http2' {
    It 'speaks HTTP/2 by prior knowledge over cleartext, checks bodies and counts status codes' {
        $r = Start-LoadTest "http://127.0.0.1:$pc/" -Http2 -Concurrency 4 -Iterations 200 -BodyContains 'hello h2'
        $r.Engine | Should -Be 'HTTP2'
        $r.Requests | Should -Be 200
        $r.Failed | Should -Be 0
        $r.ChecksPassed | Should -Be 200
        $r.StatusCodes['200'] | Should -Be 200
        $r.Connect.Count | Should -Be 4
        $log = Wait-Log $pc '/' 200
        @($log | Where-Object { $_ -like "$pc * HTTP/2.0 200 *" }).Count | Should -Be 200
    }

    It 'reports a status outside the expected set as a failure and a body check that does not match as failed checks' {
        $r = Start-LoadTest "http://127.0.0.1:$pc/missing" -Http2 -Concurrency 2 -Iterations 20 -BodyContains 'hello'
        $r.Requests | Should -Be 20
        $r.Failed | Should -Be 20
        $r.StatusCodes['404'] | Should -Be 20
        $r.ChecksFailed | Should -Be 20
        $r.ErrorsByKind['status_404'] | Should -Be 20
        $r = Start-LoadTest "http://127.0.0.1:$pc/missing" -Http2 -Concurrency 2 -Iterations 10 -ExpectStatus 404 -BodyMatch 'not\s+here'
        $r.Failed | Should -Be 0
        $r.ChecksFailed | Should -Be 0
    }

    It 'multiplexes -StreamsPerConnection streams on one connection (nginx sees 2 connections for 20 virtual users)' {
        Clear-Log
        $r = Start-LoadTest "http://127.0.0.1:$pc/" -Http2 -Concurrency 20 -StreamsPerConnection 10 -Iterations 1000 -BodyContains 'hello h2'
        $r.Requests | Should -Be 1000
        $r.Failed | Should -Be 0
        $r.ChecksPassed | Should -Be 1000
        $r.Connect.Count | Should -Be 2
        $log = Wait-Log $pc '/' 1000
        $byConn = $log | Group-Object { ($_ -split ' ')[1] }
        $byConn.Count | Should -Be 2
        # 20 virtual users on 2 connections: each carried about half; the highest request number per connection says so too.
        $byConn | ForEach-Object { $_.Count | Should -BeGreaterThan 100 }
        ($log | ForEach-Object { [int](($_ -split ' ')[2]) } | Measure-Object -Maximum).Maximum | Should -BeGreaterThan 100
    }

    It 'keeps streams of one connection in flight at once (their times on the server overlap)' {
        Clear-Log
        # /big is 256 KiB at 512 KiB/s per request: each takes about half a second on the server. Ten streams on one
        # connection: if they were sent one after the other, no request would start before the previous one ended.
        $r = Start-LoadTest "http://127.0.0.1:$pc/big" -Http2 -Concurrency 10 -StreamsPerConnection 10 -Iterations 10 -Timeout 60s
        $r.Requests | Should -Be 10
        $r.Failed | Should -Be 0
        $r.BytesReceived | Should -Be (10 * 256KB)
        $log = @(Wait-Log $pc '/big.bin' 10) # try_files makes $uri the file
        @($log | Group-Object { ($_ -split ' ')[1] }).Count | Should -Be 1
        $spans = $log | ForEach-Object { $f = $_ -split ' '; $end = [double]$f[5]; [pscustomobject]@{ Start = $end - [double]$f[6]; End = $end } } | Sort-Object Start
        $overlaps = 0
        for ($i = 1; $i -lt $spans.Count; $i++) { if ($spans[$i].Start -lt $spans[$i - 1].End) { $overlaps++ } }
        $overlaps | Should -BeGreaterOrEqual 5
    }

    It 'answers every request when one epoll thread batches the writes of many connections (h2c and TLS)' {
        # The epoll thread writes each connection's requests once per turn, after it has read every ready connection:
        # a connection left out of that flush would leave its streams unsent until -Timeout.
        $saved = $env:CHAOSPS_LOAD_THREADS
        $env:CHAOSPS_LOAD_THREADS = '1'
        try {
            foreach ($u in "http://127.0.0.1:$pc/", "https://127.0.0.1:$pt/") {
                Clear-Log
                $port = ([uri]$u).Port
                # A run of a few seconds rather than a number of requests: broken, it ends with its streams timed out
                # (or never answered) instead of waiting out -Timeout for every request.
                $r = Start-LoadTest $u -Http2 -Concurrency 60 -StreamsPerConnection 6 -Duration 3s -Timeout 10s -SkipCertificateCheck -BodyContains 'hello h2'
                $r.Failed | Should -Be 0 -Because "$u errors: $($r.ErrorsByKind | ConvertTo-Json -Compress)"
                $r.Requests | Should -BeGreaterThan 3000 # 50 per virtual user: every connection was written to again and again
                $r.ChecksPassed | Should -Be $r.Requests
                $r.Connect.Count | Should -Be 10
                $log = Wait-Log $port '/' $r.Requests
                @($log | Where-Object { $_ -like "$port * HTTP/2.0 200 *" }).Count | Should -Be $r.Requests
                @($log | Group-Object { ($_ -split ' ')[1] }).Count | Should -Be 10
            }
        }
        finally { $env:CHAOSPS_LOAD_THREADS = $saved }
    }

    It 'sends request bodies in DATA frames' {
        $body = 'x' * 70000 # more than the server's initial 64 KiB stream window: needs its WINDOW_UPDATEs
        $r = Start-LoadTest "http://127.0.0.1:$pc/echo" -Http2 -Method POST -Body $body -Concurrency 2 -StreamsPerConnection 2 -Iterations 6 -BodyContains 'got it'
        $r.Requests | Should -Be 6
        $r.Failed | Should -Be 0
        $r.ChecksPassed | Should -Be 6
        $r.BytesSent | Should -BeGreaterThan (6 * 70000)
    }

    It 'sends every request with its own headers, repeated on one connection and after GOAWAY (HPACK dynamic table)' {
        # Three request templates interleaved on each connection: the encoder indexes a field the first time a
        # connection sends it and refers to it by index later, so a wrong index would show as another template's
        # header (or an HPACK error) in nginx's log.
        $f = Join-Path $dir 'hdr.jsonl'
        @(
            '{"name":"a","uri":"/hdr/a","headers":{"X-Tmpl":"a","X-Shared":"s"}}'
            '{"name":"b","method":"POST","uri":"/hdr/b","headers":{"X-Tmpl":"b","X-Shared":"s","User-Agent":"probe/2"},"body":"hello"}'
            '{"name":"c","uri":"/hdr/c?q=1","headers":{"X-Tmpl":"c"}}'
        ) | Set-Content $f
        $r = Start-LoadTest -Uri "http://127.0.0.1:$ph" -RequestFile $f -Http2 -Concurrency 6 -StreamsPerConnection 3 -Iterations 300 -BodyContains 'hdr'
        $r.Failed | Should -Be 0 -Because "errors: $($r.ErrorsByKind | ConvertTo-Json -Compress)"
        $r.ChecksPassed | Should -Be 300
        Wait-Until { @(Get-Content "$dir/headers.log" -ErrorAction SilentlyContinue).Count -ge 300 } -TimeoutSeconds 10 | Out-Null
        $lines = @(Get-Content "$dir/headers.log")
        $lines.Count | Should -Be 300
        $expected = @{
            a = "GET|/hdr/a|-|127.0.0.1:$ph|ChaosPS-Load/0.1|a|s|-"
            b = "POST|/hdr/b|-|127.0.0.1:$ph|probe/2|b|s|5"
            c = "GET|/hdr/c|q=1|127.0.0.1:$ph|ChaosPS-Load/0.1|c|-|-"
        }
        foreach ($l in $lines) {
            $x = $l -split '\|'
            $name = $x[3].Substring(5)
            $expected.ContainsKey($name) | Should -BeTrue -Because $l
            ($x[2..9] -join '|') | Should -Be $expected[$name]
        }
        foreach ($n in 'a', 'b', 'c') { @($lines | Where-Object { ($_ -split '\|')[3] -eq "/hdr/$n" }).Count | Should -Be 100 }
        # Several connections (GOAWAY after 40 requests), each carrying many requests.
        $byConn = @($lines | Group-Object { ($_ -split '\|')[0] })
        $byConn.Count | Should -BeGreaterOrEqual 8
        ($lines | ForEach-Object { [int](($_ -split '\|')[1]) } | Measure-Object -Maximum).Maximum | Should -Be 40
    }

    It 'opens a new connection after GOAWAY without failing a request' {
        Clear-Log
        $r = Start-LoadTest "http://127.0.0.1:$pg/" -Http2 -Concurrency 4 -StreamsPerConnection 4 -Iterations 300 -BodyContains 'short-lived'
        $r.Requests | Should -Be 300
        $r.Failed | Should -Be 0 -Because "errors: $($r.ErrorsByKind | ConvertTo-Json -Compress)"
        $r.ChecksPassed | Should -Be 300
        $log = Wait-Log $pg '/' 300
        # keepalive_requests 25: nginx ends each connection with GOAWAY after 25 requests.
        @($log | Group-Object { ($_ -split ' ')[1] }).Count | Should -BeGreaterOrEqual 12
    }

    It 'runs the open model over HTTP/2 with latency from the intended send time' {
        $r = Start-LoadTest "http://127.0.0.1:$pc/" -Http2 -Rate 200 -Duration 2s -Connections 2 -StreamsPerConnection 4
        $r.Model | Should -Be 'Open'
        $r.Engine | Should -Be 'HTTP2'
        $r.Requests | Should -BeGreaterOrEqual 380
        $r.Failed | Should -Be 0
        $r.Latency.Count | Should -Be $r.Requests
        $r.Connect.Count | Should -Be 2
    }

    It 'speaks HTTP/2 over TLS (ALPN h2) with -SkipCertificateCheck' {
        Clear-Log
        $r = Start-LoadTest "https://127.0.0.1:$pt/" -Http2 -Concurrency 6 -StreamsPerConnection 3 -Iterations 120 -SkipCertificateCheck -BodyContains 'hello h2 tls'
        $r.Engine | Should -Be 'HTTP2/TLS'
        $r.Requests | Should -Be 120
        $r.Failed | Should -Be 0
        $r.ChecksPassed | Should -Be 120
        $r.TlsHandshake.Count | Should -Be 2
        $log = Wait-Log $pt '/' 120
        @($log | Where-Object { $_ -like "$pt * HTTP/2.0 200 *" }).Count | Should -Be 120
        @($log | Group-Object { ($_ -split ' ')[1] }).Count | Should -Be 2
    }

    It 'checks the certificate by default: every request a tls error, none reaches the server' {
        $before = (Get-Log $pt $null).Count
        $r = Start-LoadTest "https://127.0.0.1:$pt/" -Http2 -Concurrency 2 -Iterations 6
        $r.Requests | Should -Be 6
        $r.Failed | Should -Be 6
        $r.ErrorsByKind['tls'] | Should -Be 6
        Start-Sleep -Milliseconds 500
        (Get-Log $pt $null).Count | Should -Be $before
    }

    It 'reports a server that is down as refused' {
        $down = Get-FreeTcpPort
        $r = Start-LoadTest "http://127.0.0.1:$down/" -Http2 -Concurrency 2 -StreamsPerConnection 2 -Iterations 8
        $r.Requests | Should -Be 8
        $r.Failed | Should -Be 8
        $r.ErrorsByKind['refused'] | Should -Be 8
    }

    It 'reports a stream the server resets (nginx return 444: RST_STREAM) as reset' {
        $r = Start-LoadTest "http://127.0.0.1:$pc/drop" -Http2 -Concurrency 2 -Iterations 10
        $r.Requests | Should -Be 10
        $r.Failed | Should -Be 10
        $r.ErrorsByKind['reset'] | Should -Be 10
    }

    It 'reports a server that does not speak HTTP/2 (an HTTP/1.1-only port) as a protocol error' {
        $r = Start-LoadTest "http://127.0.0.1:$p1/sink" -Http2 -Concurrency 1 -Iterations 3
        $r.Failed | Should -Be 3
        $r.ErrorsByKind['protocol'] | Should -Be 3
    }

    It 'times out a request the server never answers, and a TLS handshake that never ends' {
        $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start()
        $silent = $l.LocalEndpoint.Port
        $held = [Collections.Generic.List[object]]::new()
        $job = Start-ThreadJob -ArgumentList $l, $held { param($l, $held) while ($true) { try { $held.Add($l.AcceptTcpClient()) } catch { return } } }
        try {
            $r = Start-LoadTest "http://127.0.0.1:$silent/" -Http2 -Concurrency 2 -StreamsPerConnection 2 -Iterations 4 -Timeout 1s
            $r.Requests | Should -Be 4
            $r.ErrorsByKind['timeout'] | Should -Be 4
            $r = Start-LoadTest "https://127.0.0.1:$silent/" -Http2 -Concurrency 1 -Iterations 2 -Timeout 1s -SkipCertificateCheck
            $r.Requests | Should -Be 2
            $r.ErrorsByKind['timeout'] | Should -Be 2
        }
        finally {
            $l.Stop(); $held | ForEach-Object { $_.Dispose() }
            $job | Remove-Job -Force
        }
    }

    It 'refuses a bad -StreamsPerConnection with its own error id before any traffic' {
        { Start-LoadTest "http://127.0.0.1:$pc/" -Http2 -Concurrency 1 -Iterations 1 -StreamsPerConnection 0 } |
            Should -Throw -ErrorId 'ChaosPS.InvalidStreamsPerConnection,ChaosPS.Commands.StartLoadTestCommand'
        { Start-LoadTest "http://127.0.0.1:$pc/" -Http2 -Concurrency 1 -Iterations 1 -StreamsPerConnection 5000 } |
            Should -Throw -ErrorId 'ChaosPS.InvalidStreamsPerConnection,ChaosPS.Commands.StartLoadTestCommand'
        { Start-LoadTest "http://127.0.0.1:$pc/" -Concurrency 1 -Iterations 1 -StreamsPerConnection 4 } |
            Should -Throw -ErrorId 'ChaosPS.StreamsPerConnectionNeedsHttp2,ChaosPS.Commands.StartLoadTestCommand'
    }
}
