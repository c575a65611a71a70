#Requires -Modules Pester
# Start-LoadTest over https:// (the raw-socket engines with TLS: epoll + OpenSSL and async + SslStream) against nginx on 127.0.0.1 with a self-signed certificate
# this file makes: TLS 1.2 and 1.3, certificate checks, the handshake reported on its own, session resumption.

BeforeAll {
    Import-Module $env:CHAOSPS_MODULE -Force
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    $PSDefaultParameterValues['Start-LoadTest:ProgressAction'] = 'SilentlyContinue'
    $script:dir = Join-Path ([IO.Path]::GetTempPath()) "chaosps-https-$PID"
    New-Item -ItemType Directory -Force $dir | Out-Null
    New-TestCertificate -Directory $dir
    $script:p12 = Get-FreeTcpPort; $script:p13 = Get-FreeTcpPort
    @"
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  log_format tls '`$server_port `$ssl_protocol `$ssl_session_reused `$uri';
  access_log $dir/access.log tls;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  ssl_certificate $dir/cert.pem; ssl_certificate_key $dir/key.pem;
  ssl_session_cache shared:chaosps:1m;
  server { listen 127.0.0.1:$p12 ssl; listen 127.0.0.2:$p12 ssl; ssl_protocols TLSv1.2; location / { return 200 "hello tls12\n"; } location /close { keepalive_timeout 0; return 200 "bye\n"; } }
  server { listen 127.0.0.1:$p13 ssl; listen 127.0.0.2:$p13 ssl; ssl_protocols TLSv1.3; location / { return 200 "hello tls13\n"; } location /close { keepalive_timeout 0; return 200 "bye\n"; } }
}
"@ | Set-Content "$dir/nginx.conf"
    nginx -c "$dir/nginx.conf"
    if ($LASTEXITCODE) { throw "nginx did not start: $(Get-Content "$dir/error.log" -Raw)" }
    function Get-Log([int] $port, [string] $uri) { @(Get-Content "$dir/access.log" -ErrorAction SilentlyContinue | Where-Object { $_ -like "$port *" -and (-not $uri -or $_ -like "* $uri") }) }
    # nginx writes its access log line after the response; wait until a run's lines are all there.
    function Wait-Log([int] $port, [string] $uri, [int] $count) { Wait-Until { (Get-Log $port $uri).Count -ge $count } -TimeoutSeconds 10 | Out-Null; Get-Log $port $uri }
    # Where the epoll engine can speak TLS: Linux x64 with OpenSSL 3's libssl.so.3 in the loader's cache.
    $script:epollTls = $IsLinux -and [Runtime.InteropServices.RuntimeInformation]::ProcessArchitecture -eq 'X64' -and
        [bool] (ldconfig -p 2>$null | Select-String -SimpleMatch 'libssl.so.3 ') -and $env:CHAOSPS_LIBSSL -ne 'off'
}

AfterAll {
    if (Test-Path "$dir/nginx.pid") { nginx -c "$dir/nginx.conf" -s stop 2>$null }
    Start-Sleep -Milliseconds 300
    Remove-Item -Recurse -Force $dir -ErrorAction SilentlyContinue
}

# Every raw-socket engine that speaks TLS passes the same tests: the epoll loop with OpenSSL (where libssl.so.3 loads,
# which Auto picks) and the async one with SslStream (-Engine Raw).
$engines = @(@{ Engine = 'Raw'; Name = 'RawSocket/TLS' }, @{ Engine = 'Epoll'; Name = 'Epoll/TLS' })

Describe 'Start-LoadTest over https:// (<Engine>)' -Tag 'Load', 'Https' -ForEach $engines {
    BeforeAll {
        $script:skip = $Engine -eq 'Epoll' -and -not $epollTls
    }

    It 'speaks TLS 1.3, checks bodies and reports the handshake on its own' {
        if ($skip) { Set-ItResult -Skipped -Because 'libssl.so.3 is not loadable here'; return }
        $before = (Get-Log $p13 '/').Count
        $r = Start-LoadTest "https://127.0.0.1:$p13/" -Engine $Engine -Concurrency 4 -Iterations 200 -SkipCertificateCheck -BodyContains 'hello tls13'
        $r.Engine | Should -Be $Name
        $r.Requests | Should -Be 200
        $r.Failed | Should -Be 0
        $r.ChecksPassed | Should -Be 200
        $r.StatusCodes['200'] | Should -Be 200
        $r.Connect.Count | Should -Be 4
        $r.TlsHandshake.Count | Should -Be 4
        $r.TlsHandshake.P50 | Should -BeGreaterThan 0
        $log = Wait-Log $p13 '/' ($before + 200)
        @($log | Select-Object -Skip $before | Where-Object { $_ -like "$p13 TLSv1.3 *" }).Count | Should -Be 200
    }

    It 'speaks TLS 1.2 to a server that offers only TLS 1.2' {
        if ($skip) { Set-ItResult -Skipped -Because 'libssl.so.3 is not loadable here'; return }
        $before = (Get-Log $p12 $null).Count
        $r = Start-LoadTest "https://127.0.0.1:$p12/" -Engine $Engine -Concurrency 2 -Iterations 50 -SkipCertificateCheck -BodyContains 'hello tls12'
        $r.Engine | Should -Be $Name
        $r.Requests | Should -Be 50
        $r.Failed | Should -Be 0
        $r.ChecksPassed | Should -Be 50
        $r.TlsHandshake.Count | Should -Be 2
        $log = Wait-Log $p12 $null ($before + 50)
        @($log | Select-Object -Skip $before | Where-Object { $_ -like "$p12 TLSv1.2 *" }).Count | Should -Be 50
    }

    It 'refuses an untrusted certificate without -SkipCertificateCheck: every request a tls error, none reaches the server' {
        if ($skip) { Set-ItResult -Skipped -Because 'libssl.so.3 is not loadable here'; return }
        $before = (Get-Log $p13 $null).Count
        $r = Start-LoadTest "https://127.0.0.1:$p13/" -Engine $Engine -Concurrency 2 -Iterations 6
        $r.Engine | Should -Be $Name
        $r.Requests | Should -Be 6
        $r.Failed | Should -Be 6
        $r.ErrorsByKind['tls'] | Should -Be 6
        Start-Sleep -Milliseconds 500
        (Get-Log $p13 $null).Count | Should -Be $before
    }

    It 'resumes the TLS session when it reconnects to a host name (Connection: close on every response), TLS 1.3 and 1.2' {
        if ($skip) { Set-ItResult -Skipped -Because 'libssl.so.3 is not loadable here'; return }
        $before = (Get-Log $p13 '/close').Count
        $r = Start-LoadTest "https://localhost:$p13/close" -Engine $Engine -Concurrency 1 -Iterations 10 -SkipCertificateCheck
        $r.Requests | Should -Be 10
        $r.Failed | Should -Be 0
        $r.TlsHandshake.Count | Should -Be 10
        $log = Wait-Log $p13 '/close' ($before + 10)
        # The first handshake is a full one; the reconnects offer the session ticket it got.
        @($log | Select-Object -Skip $before | Where-Object { $_ -like "$p13 TLSv1.3 r *" }).Count | Should -BeGreaterOrEqual 5
    }
}

Describe 'Start-LoadTest over https:// on the epoll engine with OpenSSL' -Tag 'Load', 'Https' {

    It 'is what Auto picks for https:// where libssl.so.3 loads' {
        $r = Start-LoadTest "https://127.0.0.1:$p13/" -Concurrency 1 -Iterations 5 -SkipCertificateCheck
        $r.Engine | Should -Be ($epollTls ? 'Epoll/TLS' : 'RawSocket/TLS')
        $r.Failed | Should -Be 0
    }

    It 'falls back to TlsWorker without libssl (CHAOSPS_LIBSSL=off): the module loads, Auto runs https:// on SslStream, -Engine Epoll is refused' {
        $script = @"
Import-Module '$env:CHAOSPS_MODULE'
`$r = Start-LoadTest 'https://127.0.0.1:$p13/' -Concurrency 1 -Iterations 3 -SkipCertificateCheck -ProgressAction SilentlyContinue
"`$(`$r.Engine) `$(`$r.Failed)"
try { Start-LoadTest 'https://127.0.0.1:$p13/' -Engine Epoll -Concurrency 1 -Iterations 3 -SkipCertificateCheck -ProgressAction SilentlyContinue -ErrorAction Stop | Out-Null; 'no error' }
catch { `$_.FullyQualifiedErrorId }
"@
        $res = Invoke-ChildPwsh -Script $script -Environment @{ CHAOSPS_LIBSSL = 'off' }
        $out = @($res.Output -split '\r?\n' | Where-Object { $_ })
        $out | Should -HaveCount 2 -Because "the child printed: $($res.Output) $($res.Error)"
        $out[0] | Should -Be 'RawSocket/TLS 0'
        $out[1] | Should -BeLike 'InvalidEngine,*'
    }

    It 'resumes sessions for an IP-literal URL too (TLS 1.3 ticket and TLS 1.2 session)' {
        if (-not $epollTls) { Set-ItResult -Skipped -Because 'libssl.so.3 is not loadable here'; return }
        $before = (Get-Log $p13 '/close').Count
        $r = Start-LoadTest "https://127.0.0.1:$p13/close" -Engine Epoll -Concurrency 1 -Iterations 10 -SkipCertificateCheck
        $r.Failed | Should -Be 0
        $r.TlsHandshake.Count | Should -Be 10
        $log = Wait-Log $p13 '/close' ($before + 10)
        @($log | Select-Object -Skip $before | Where-Object { $_ -like "$p13 TLSv1.3 r *" }).Count | Should -Be 9
        $before12 = (Get-Log $p12 '/close').Count
        $r = Start-LoadTest "https://127.0.0.1:$p12/close" -Engine Epoll -Concurrency 1 -Iterations 10 -SkipCertificateCheck
        $r.Failed | Should -Be 0
        $log = Wait-Log $p12 '/close' ($before12 + 10)
        @($log | Select-Object -Skip $before12 | Where-Object { $_ -like "$p12 TLSv1.2 r *" }).Count | Should -Be 9
    }

    It 'checks the certificate against the system trust store and the host name: a trusted name passes, a wrong name is a tls error' {
        if (-not $epollTls) { Set-ItResult -Skipped -Because 'libssl.so.3 is not loadable here'; return }
        # SSL_CERT_FILE makes this certificate OpenSSL's default trust store, so the name alone decides. OpenSSL reads
        # the process environment (which $env: does not change in this process): the runs go in a child pwsh started with it.
        $script = @"
Import-Module '$env:CHAOSPS_MODULE'
foreach (`$u in 'https://localhost:$p13/', 'https://127.0.0.1:$p13/', 'https://127.0.0.2:$p13/') {
    `$r = Start-LoadTest `$u -Engine Epoll -Concurrency 1 -Iterations 3 -ProgressAction SilentlyContinue
    "`$(`$r.Engine) `$(`$r.Failed) `$(`$r.ErrorsByKind['tls'])"
}
"@
        $res = Invoke-ChildPwsh -Script $script -Environment @{ SSL_CERT_FILE = "$dir/cert.pem" }
        $out = @($res.Output -split '\r?\n' | Where-Object { $_ })
        $out | Should -HaveCount 3 -Because "the child printed: $($res.Output) $($res.Error)"
        $out[0] | Should -Be 'Epoll/TLS 0 '   # trusted, and the name is in the certificate
        $out[1] | Should -Be 'Epoll/TLS 0 '   # trusted, and the address is in the certificate
        $out[2] | Should -Be 'Epoll/TLS 3 3'  # trusted, but 127.0.0.2 is not in it: every request a tls error
    }
}
