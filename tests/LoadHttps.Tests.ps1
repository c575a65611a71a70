#Requires -Modules Pester
# Start-LoadTest over https:// (raw-socket engine with TLS) against nginx on 127.0.0.1 with a self-signed certificate
# this file makes: TLS 1.2 and 1.3, certificate checks, the handshake reported on its own, session resumption.

BeforeAll {
    Import-Module $env:CHAOSPS_MODULE -Force
    $PSDefaultParameterValues['Start-LoadTest:ProgressAction'] = 'SilentlyContinue'
    $script:dir = Join-Path ([IO.Path]::GetTempPath()) "chaosps-https-$PID"
    New-Item -ItemType Directory -Force $dir | Out-Null
    $key = [Security.Cryptography.RSA]::Create(2048)
    $req = [Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=localhost', $key, 'SHA256', [Security.Cryptography.RSASignaturePadding]::Pkcs1)
    $san = [Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder]::new()
    $san.AddIpAddress([Net.IPAddress]::Loopback); $san.AddDnsName('localhost')
    $req.CertificateExtensions.Add($san.Build())
    $cert = $req.CreateSelfSigned([DateTimeOffset]::UtcNow.AddDays(-1), [DateTimeOffset]::UtcNow.AddDays(2))
    Set-Content "$dir/cert.pem" $cert.ExportCertificatePem()
    Set-Content "$dir/key.pem" $key.ExportPkcs8PrivateKeyPem()
    function Get-FreePort { $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0); $l.Start(); $p = $l.LocalEndpoint.Port; $l.Stop(); $p }
    $script:p12 = Get-FreePort; $script:p13 = Get-FreePort
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
  server { listen 127.0.0.1:$p12 ssl; ssl_protocols TLSv1.2; location / { return 200 "hello tls12\n"; } }
  server { listen 127.0.0.1:$p13 ssl; ssl_protocols TLSv1.3; location / { return 200 "hello tls13\n"; } location /close { keepalive_timeout 0; return 200 "bye\n"; } }
}
"@ | Set-Content "$dir/nginx.conf"
    nginx -c "$dir/nginx.conf"
    if ($LASTEXITCODE) { throw "nginx did not start: $(Get-Content "$dir/error.log" -Raw)" }
    function Get-Log([int] $port, [string] $uri) { @(Get-Content "$dir/access.log" -ErrorAction SilentlyContinue | Where-Object { $_ -like "$port *" -and (-not $uri -or $_ -like "* $uri") }) }
    # nginx writes its access log line after the response; wait until a run's lines are all there.
    function Wait-Log([int] $port, [string] $uri, [int] $count) { Wait-Until { (Get-Log $port $uri).Count -ge $count } -TimeoutSeconds 10 | Out-Null; Get-Log $port $uri }
    Import-Module (Join-Path $PSScriptRoot TestHelpers.psm1) -Force
}

AfterAll {
    if (Test-Path "$dir/nginx.pid") { nginx -c "$dir/nginx.conf" -s stop 2>$null }
    Start-Sleep -Milliseconds 300
    Remove-Item -Recurse -Force $dir -ErrorAction SilentlyContinue
}

Describe 'Start-LoadTest over https://' -Tag 'Load', 'Https' {
    It 'speaks TLS 1.3 on the raw-socket engine, checks bodies and reports the handshake on its own' {
        $r = Start-LoadTest "https://127.0.0.1:$p13/" -Concurrency 4 -Iterations 200 -SkipCertificateCheck -BodyContains 'hello tls13'
        $r.Engine | Should -Be 'RawSocket/TLS'
        $r.Requests | Should -Be 200
        $r.Failed | Should -Be 0
        $r.ChecksPassed | Should -Be 200
        $r.StatusCodes['200'] | Should -Be 200
        $r.Connect.Count | Should -Be 4
        $r.TlsHandshake.Count | Should -Be 4
        $r.TlsHandshake.P50 | Should -BeGreaterThan 0
        $log = Wait-Log $p13 '/' 200
        @($log | Where-Object { $_ -like "$p13 TLSv1.3 *" }).Count | Should -Be 200
    }

    It 'speaks TLS 1.2 to a server that offers only TLS 1.2' {
        $r = Start-LoadTest "https://127.0.0.1:$p12/" -Concurrency 2 -Iterations 50 -SkipCertificateCheck -BodyContains 'hello tls12'
        $r.Requests | Should -Be 50
        $r.Failed | Should -Be 0
        $r.ChecksPassed | Should -Be 50
        $r.TlsHandshake.Count | Should -Be 2
        $log = Wait-Log $p12 $null 50
        @($log | Where-Object { $_ -like "$p12 TLSv1.2 *" }).Count | Should -Be 50
    }

    It 'refuses an untrusted certificate without -SkipCertificateCheck: every request a tls error, none reaches the server' {
        $before = (Get-Log $p13 $null).Count
        $r = Start-LoadTest "https://127.0.0.1:$p13/" -Concurrency 2 -Iterations 6
        $r.Engine | Should -Be 'RawSocket/TLS'
        $r.Requests | Should -Be 6
        $r.Failed | Should -Be 6
        $r.ErrorsByKind['tls'] | Should -Be 6
        Start-Sleep -Milliseconds 500
        (Get-Log $p13 $null).Count | Should -Be $before
    }

    It 'resumes the TLS session when it reconnects (Connection: close on every response)' {
        $r = Start-LoadTest "https://localhost:$p13/close" -Concurrency 1 -Iterations 10 -SkipCertificateCheck
        $r.Requests | Should -Be 10
        $r.Failed | Should -Be 0
        $r.TlsHandshake.Count | Should -Be 10
        $log = Wait-Log $p13 '/close' 10
        # The first handshake is a full one; the reconnects offer the session ticket it got.
        @($log | Where-Object { $_ -like "$p13 TLSv1.3 r *" }).Count | Should -BeGreaterOrEqual 5
    }
}
