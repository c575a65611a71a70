# Shared helpers for ChaosPS's Pester tests. Import in BeforeAll: Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force

function Get-ChaosModulePath {
    <# The BUILT module under test: $env:CHAOSPS_MODULE (set by build.ps1 test), else the newest out/ChaosPS/<version>. #>
    if ($env:CHAOSPS_MODULE) { return $env:CHAOSPS_MODULE }
    $root = Split-Path $PSScriptRoot
    $psd1 = Get-ChildItem "$root/out/ChaosPS/*/ChaosPS.psd1" | Sort-Object LastWriteTime -Descending | Select-Object -First 1
    if (-not $psd1) { throw "No built module under $root/out/ChaosPS: run ./build.ps1 build first." }
    return $psd1.FullName
}

function Get-PwshPath {
    <# The pwsh running the tests, to start child PowerShell processes with (works for the dotnet-tool pwsh too). #>
    $self = [Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
    if ((Split-Path $self -Leaf) -match '^pwsh(\.exe)?$') { return @($self) }
    return @($self, (Join-Path $PSHOME 'pwsh.dll'))
}

function Invoke-ChildPwsh {
    <# Runs a script in a fresh `pwsh -NoProfile -NonInteractive` and returns its output lines. -NoWait returns the Process. #>
    param([Parameter(Mandatory)] [string] $Script, [switch] $NoWait, [hashtable] $Environment = @{})
    $exe = @(Get-PwshPath)
    $psi = [Diagnostics.ProcessStartInfo]::new($exe[0])
    foreach ($a in ($exe | Select-Object -Skip 1)) { $psi.ArgumentList.Add($a) }
    foreach ($a in '-NoProfile', '-NonInteractive', '-Command', $Script) { $psi.ArgumentList.Add($a) }
    $psi.UseShellExecute = $false
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    foreach ($k in $Environment.Keys) { $psi.Environment[$k] = $Environment[$k] }
    $p = [Diagnostics.Process]::Start($psi)
    if ($NoWait) { return $p }
    $out = $p.StandardOutput.ReadToEndAsync(); $err = $p.StandardError.ReadToEndAsync()
    $p.WaitForExit()
    [pscustomobject]@{ ExitCode = $p.ExitCode; Output = $out.Result; Error = $err.Result }
}

function Test-DockerEngine {
    <# $true when a Docker engine answers. #>
    try { (Get-ChaosDockerEngine).Reachable } catch { $false }
}

function Skip-WithoutDocker {
    <# Call first inside an It: skips with the reason when no engine is reachable; fails instead when
       $env:CHAOSPS_REQUIRE_DOCKER is set (CI), so Docker tests never pass silently. #>
    $info = Get-ChaosDockerEngine
    if ($info.Reachable) { return }
    $why = "no Docker engine at $($info.Endpoint): $($info.Error)"
    if ($env:CHAOSPS_REQUIRE_DOCKER) { throw "Docker is required here (CHAOSPS_REQUIRE_DOCKER is set) but there is $why" }
    Set-ItResult -Skipped -Because $why
}

function Wait-Until {
    <# Polls $Condition until its LAST output is true or $TimeoutSeconds pass; returns whether it became true.
       Only the last value counts, so a stray object written by the condition cannot make it pass. Generous by design. #>
    param([Parameter(Mandatory)] [scriptblock] $Condition, [double] $TimeoutSeconds = 30, [int] $IntervalMs = 100)
    $sw = [Diagnostics.Stopwatch]::StartNew()
    while ($sw.Elapsed.TotalSeconds -lt $TimeoutSeconds) {
        if ([bool](& $Condition | Select-Object -Last 1)) { return $true }
        Start-Sleep -Milliseconds $IntervalMs
    }
    return [bool](& $Condition | Select-Object -Last 1)
}

function Get-WatchdogPid {
    <# The pid written in a state folder's watchdog lock file for $Slot (0: watchdog.lock, N: watchdog-N.lock); 0 when none.
       cat, not Get-Content: the watchdog holds its lock file with flock, which .NET readers respect (they would read nothing). #>
    param([Parameter(Mandatory)] [string] $StateDir, [int] $Slot = 0)
    $f = Join-Path $StateDir $(if ($Slot -eq 0) { 'watchdog.lock' } else { "watchdog-$Slot.lock" })
    $t = if (Test-Path $f) { (cat $f 2>$null) -join '' } else { '' }
    if ($t -match '^\d+$') { [int]$t } else { 0 }
}

function Stop-TestWatchdog {
    <# Stops every watchdog of a state folder (one per watchdog*.lock) and waits until they are gone; returns their pids.
       A pid is only stopped while its command line still names that folder's watchdog (a stale lock file's pid may have
       been reused). Call it after Restore-ChaosFault -All: while faults are active, a watchdog restarts a missing peer. #>
    param([Parameter(Mandatory)] [string] $StateDir)
    $full = [IO.Path]::GetFullPath($StateDir).TrimEnd('/')
    $stopped = [Collections.Generic.List[int]]::new()
    foreach ($round in 1..3) {
        $live = @(Get-ChildItem $StateDir -Filter 'watchdog*.lock' -ErrorAction SilentlyContinue | ForEach-Object {
                $t = (cat $_.FullName 2>$null) -join ''
                if ($t -match '^\d+$') {
                    $cmd = (Get-Content "/proc/$t/cmdline" -Raw -ErrorAction SilentlyContinue) -replace "`0", ' '
                    if ($cmd -and $cmd -match ' watchdog --state ' -and $cmd.Contains($full)) { [int]$t }
                }
            })
        if (-not $live) { break }
        foreach ($id in $live) { Stop-Process -Id $id -Force -ErrorAction SilentlyContinue; $stopped.Add($id) }
        $null = Wait-Until { -not ($live | Where-Object { Test-Path "/proc/$_" }) } 30
    }
    $stopped.ToArray()
}

function Get-ProcessState {
    <# The state letter of a Linux process (R, S, T, Z, ...), or $null when it does not exist. #>
    param([int] $ProcessId)
    $stat = Get-Content "/proc/$ProcessId/stat" -Raw -ErrorAction SilentlyContinue
    if (-not $stat) { return $null }
    return $stat.Substring($stat.LastIndexOf(')') + 2, 1)
}

function Get-TargetProcess {
    <# Processes whose command line belongs to the embedded testbed with this id. #>
    param([string] $TestbedId)
    Get-ChildItem /proc -Directory -ErrorAction SilentlyContinue | Where-Object Name -match '^\d+$' | ForEach-Object {
        $cmd = (Get-Content "/proc/$($_.Name)/cmdline" -Raw -ErrorAction SilentlyContinue) -replace "`0", ' '
        if ($cmd -and $cmd -match 'chaosps-testbed\.dll' -and $cmd -match [regex]::Escape($TestbedId)) { [int]$_.Name }
    }
}

# A TCP port free on 127.0.0.1 right now, chosen by the kernel (a random pick can collide with a port in use, or with
# a connection's ephemeral source port, and a listener started on it then fails or dies).
function New-TestCertificate {
    <# A self-signed certificate for localhost and 127.0.0.1, written as cert.pem and key.pem into $Directory. #>
    param([Parameter(Mandatory)] [string] $Directory)
    $key = [Security.Cryptography.RSA]::Create(2048)
    $req = [Security.Cryptography.X509Certificates.CertificateRequest]::new('CN=localhost', $key, 'SHA256', [Security.Cryptography.RSASignaturePadding]::Pkcs1)
    $san = [Security.Cryptography.X509Certificates.SubjectAlternativeNameBuilder]::new()
    $san.AddIpAddress([Net.IPAddress]::Loopback); $san.AddDnsName('localhost')
    $req.CertificateExtensions.Add($san.Build())
    $cert = $req.CreateSelfSigned([DateTimeOffset]::UtcNow.AddDays(-1), [DateTimeOffset]::UtcNow.AddDays(2))
    Set-Content (Join-Path $Directory 'cert.pem') $cert.ExportCertificatePem()
    Set-Content (Join-Path $Directory 'key.pem') $key.ExportPkcs8PrivateKeyPem()
}

function Get-FreeTcpPort {
    $l = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
    $l.Start()
    try { $l.LocalEndpoint.Port } finally { $l.Stop() }
}

# A loopback HTTP target in a thread job: 200 normally; while $Server.Mode.Value is 'shed' 503, 'broken' 500, and
# 'hang' answers 200 after 1.5 s. Returns @{ Mode; Port; Uri; Job }; throws when it does not answer. One request at a time.
# The job never blocks in GetContext (HttpListener.Stop does not always wake a blocked GetContext on Linux, and
# Stop-Job then waits forever): it waits for a request in 200 ms steps and ends when Mode.Stop is set.
function Start-TestHttpServer {
    $mode = [hashtable]::Synchronized(@{ Value = 'ok'; Stop = $false })
    $port = Get-FreeTcpPort
    $job = Start-ThreadJob -ArgumentList $port, $mode -ScriptBlock {
        param($port, $mode)
        $l = [Net.HttpListener]::new(); $l.Prefixes.Add("http://127.0.0.1:$port/"); $l.Start()
        try {
            while (-not $mode.Stop) {
                $ar = $l.BeginGetContext($null, $null)
                while (-not $ar.AsyncWaitHandle.WaitOne(200)) { if ($mode.Stop) { break } }
                if ($mode.Stop) { break }
                try {
                    $ctx = $l.EndGetContext($ar)
                    $m = $mode.Value
                    if ($m -eq 'hang') { Start-Sleep -Milliseconds 1500 }
                    $ctx.Response.StatusCode = switch ($m) { 'shed' { 503 } 'broken' { 500 } default { 200 } }
                    $ctx.Response.Close()
                } catch { } # a client that went away mid-answer must not end the server
            }
        } finally { $l.Close() }
    }
    $uri = "http://127.0.0.1:$port/"
    $up = Wait-Until { try { (Invoke-WebRequest $uri -TimeoutSec 2).StatusCode -eq 200 } catch { $false } } -TimeoutSeconds 20
    if (-not $up) { $mode.Stop = $true; throw "the test's HTTP server on port $port did not answer: $($job.Error) $($job.JobStateInfo.Reason)" }
    @{ Mode = $mode; Port = $port; Uri = $uri; Job = $job }
}

function Stop-TestHttpServer($Server) {
    if (-not $Server) { return }
    $Server.Mode.Stop = $true
    # The job ends within a wait step (or a 'hang' answer); Remove-Job only then, since stopping a job whose thread is
    # inside a .NET call can wait forever.
    if ($Server.Job | Wait-Job -Timeout 15) { $Server.Job | Remove-Job -Force }
    else { Write-Warning "the test HTTP server job on port $($Server.Port) did not end; left to the process exit" }
}

Export-ModuleMember -Function *
