# Test hosts for multi-host tests: network namespaces this module creates itself, joined by a bridge on an address
# block from the benchmarking range 198.18.0.0/15, each running its own sshd (key-based auth with a key made here,
# 'Subsystem powershell' = the pwsh running the tests) and, in one namespace, an nginx as the target. Traffic stays
# inside those namespaces (and the bridge's end in this namespace, which the ssh client uses). Remove-TestHostLab
# kills every process in every namespace and deletes everything, also after a failed test. Needs root, ip, sshd,
# ssh-keygen and nginx, and libfaketime for a skewed host clock (.ci/run installs them).

$FakeTimeLibrary = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1'

function Get-LabPwshCommand {
    # The pwsh running the tests as one shell command line (the dotnet-tool pwsh is `dotnet <pwsh.dll>`).
    $self = [Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
    if ((Split-Path $self -Leaf) -match '^pwsh(\.exe)?$') { return "'$self'" }
    return "'$self' '$(Join-Path $PSHOME 'pwsh.dll')'"
}

function New-TestHostLab {
    <#
    .SYNOPSIS
        Makes generator hosts (one namespace + sshd each) and a target namespace with nginx on one bridge.
    .PARAMETER Hosts
        Names of the generator hosts (short words).
    .PARAMETER ModulePath
        Hashtable host name -> PSModulePath for that host's pwsh (default: $DefaultModulePath for all).
    #>
    param(
        [string[]] $Hosts = @('gen1', 'gen2'),
        [string] $DefaultModulePath,
        [hashtable] $ModulePath = @{},
        [switch] $NoTarget
    )
    $run = [guid]::NewGuid().ToString('n').Substring(0, 6)
    # A /24 of 198.18.0.0/16 chosen at random (other tests use 198.19.0.0/16).
    $net = "198.18.$(Get-Random -Minimum 1 -Maximum 254)"
    $state = Join-Path ([IO.Path]::GetTempPath()) "chaosps-mh-$run"
    New-Item -ItemType Directory $state | Out-Null
    $lab = [pscustomobject]@{
        Run = $run; Net = $net; State = $state; Bridge = "cmhbr$run"; Namespaces = [Collections.Generic.List[string]]::new()
        Hosts = [ordered]@{}; Target = $null; TargetNamespace = $null; KeyFile = (Join-Path $state 'id_ed25519'); User = 'root'
        SshOption = @{ StrictHostKeyChecking = 'no'; UserKnownHostsFile = '/dev/null'; LogLevel = 'ERROR' }
        Processes = [Collections.Generic.List[Diagnostics.Process]]::new()
    }
    try {
        ip link add $lab.Bridge type bridge
        if ($LASTEXITCODE) { throw "ip link add bridge failed" }
        ip addr add "$net.1/24" dev $lab.Bridge
        ip link set $lab.Bridge up

        ssh-keygen -q -t ed25519 -N '' -f $lab.KeyFile -C "chaosps-lab-$run" | Out-Null
        ssh-keygen -q -t ed25519 -N '' -f "$state/host_ed25519" -C "chaosps-lab-host-$run" | Out-Null
        Copy-Item "$($lab.KeyFile).pub" "$state/authorized_keys"
        New-Item -ItemType Directory -Force /run/sshd | Out-Null   # sshd's privilege separation directory
        $pwsh = Get-LabPwshCommand

        $i = 10
        foreach ($h in $Hosts) {
            $ip = "$net.$i"
            $ns = Add-LabNamespace $lab "mh$i" $ip
            $mp = if ($ModulePath.ContainsKey($h)) { $ModulePath[$h] } else { $DefaultModulePath }
            # The powershell subsystem: the same pwsh as the tests, with this host's module path.
            $sub = Join-Path $state "pwsh-$h.sh"
            # Each host keeps its own fault ledger (CHAOSPS_STATE_DIR), as a separate machine would.
            $ledger = Join-Path $state "ledger-$h"
            # A clock skew for this host's next sessions: write e.g. '-20s' to <host>.Skew (libfaketime, wall clock only).
            $skew = Join-Path $state "skew-$h"
            $fake = "if [ -s '$skew' ]; then export LD_PRELOAD=$FakeTimeLibrary FAKETIME=`"`$(cat '$skew')`" FAKETIME_DONT_FAKE_MONOTONIC=1; fi"
            Set-Content $sub "#!/bin/sh`nexport PSModulePath='$mp'`nexport CHAOSPS_STATE_DIR='$ledger'`nexport DOTNET_CLI_TELEMETRY_OPTOUT=1 HOME=/root`n$fake`nexec $pwsh `"`$@`"" -Encoding ascii
            chmod 755 $sub
            $conf = Join-Path $state "sshd-$h.conf"
            Set-Content $conf @"
ListenAddress $ip
Port 22
HostKey $state/host_ed25519
PidFile $state/sshd-$h.pid
AuthorizedKeysFile $state/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
MaxStartups 50
Subsystem powershell $sub -sshs -NoLogo -NoProfile
"@
            $p = Start-Process ip -ArgumentList 'netns', 'exec', $ns, '/usr/sbin/sshd', '-D', '-e', '-f', $conf -PassThru `
                -RedirectStandardError (Join-Path $state "sshd-$h.log") -RedirectStandardOutput (Join-Path $state "sshd-$h.out")
            $lab.Processes.Add($p)
            $lab.Hosts[$h] = [pscustomobject]@{ Name = $h; Namespace = $ns; Address = $ip; Sshd = $p; Subsystem = $sub; ModulePath = $mp; Ledger = $ledger; Skew = $skew }
            $i++
        }
        if (-not $NoTarget) {
            $ip = "$net.100"
            $ns = Add-LabNamespace $lab 'mht' $ip
            $conf = Join-Path $state 'nginx.conf'
            Set-Content $conf @"
daemon off;
worker_processes 1;
pid $state/nginx.pid;
error_log $state/nginx-error.log;
events { worker_connections 4096; }
http {
    log_format gen '`$remote_addr `$request_time';
    access_log $state/access.log gen;
    client_body_temp_path $state/nginx-body; proxy_temp_path $state/nginx-proxy; fastcgi_temp_path $state/nginx-fcgi;
    uwsgi_temp_path $state/nginx-uwsgi; scgi_temp_path $state/nginx-scgi;
    keepalive_requests 1000000;
    server { listen ${ip}:8080; location / { return 200 'ok'; } }
}
"@
            $p = Start-Process ip -ArgumentList 'netns', 'exec', $ns, 'nginx', '-c', $conf -PassThru `
                -RedirectStandardError (Join-Path $state 'nginx.err') -RedirectStandardOutput (Join-Path $state 'nginx.out')
            $lab.Processes.Add($p)
            $lab.TargetNamespace = $ns
            $lab.Target = "http://${ip}:8080/"
        }
        # Ready: every sshd answers with its banner, nginx with 200 (from the target's own namespace).
        $deadline = [DateTime]::UtcNow.AddSeconds(30)
        foreach ($h in $lab.Hosts.Values) {
            while (-not (Test-LabPort $h.Address 22)) {
                if ([DateTime]::UtcNow -gt $deadline) { throw "sshd of $($h.Name) did not listen: $(Get-Content (Join-Path $state "sshd-$($h.Name).log") -Raw)" }
                Start-Sleep -Milliseconds 100
            }
        }
        if ($lab.Target) {
            while (-not (Test-LabPort "$net.100" 8080)) {
                if ([DateTime]::UtcNow -gt $deadline) { throw "nginx did not listen: $(Get-Content (Join-Path $state 'nginx.err') -Raw)" }
                Start-Sleep -Milliseconds 100
            }
        }
        return $lab
    }
    catch {
        Remove-TestHostLab $lab
        throw
    }
}

function Add-LabNamespace($lab, [string] $tag, [string] $ip) {
    $ns = "chaosps-$tag-$($lab.Run)"
    $outer = "c$tag$($lab.Run)"; $inner = "d$tag$($lab.Run)"
    ip netns add $ns
    if ($LASTEXITCODE) { throw "ip netns add $ns failed" }
    $lab.Namespaces.Add($ns)
    ip link add $outer type veth peer name $inner
    ip link set $outer master $lab.Bridge
    ip link set $outer up
    ip link set $inner netns $ns
    ip netns exec $ns ip addr add "$ip/24" dev $inner
    ip netns exec $ns ip link set $inner up
    ip netns exec $ns ip link set lo up
    return $ns
}

function Test-LabPort([string] $Address, [int] $Port) {
    $c = [Net.Sockets.TcpClient]::new()
    try { return $c.ConnectAsync($Address, $Port).Wait(500) -and $c.Connected } catch { return $false } finally { $c.Dispose() }
}

function New-LabSession {
    <# An SSH PowerShell session to one lab host (its own pwsh, started by its sshd's powershell subsystem). #>
    param($Lab, [string] $HostName)
    $h = $Lab.Hosts[$HostName]
    New-PSSession -HostName $h.Address -UserName $Lab.User -KeyFilePath $Lab.KeyFile -Options $Lab.SshOption -ErrorAction Stop
}

function Get-LabProcess {
    <# Processes running in a lab namespace (ip netns pids), with their command lines. #>
    param($Lab, [string] $Namespace)
    foreach ($p in @(ip netns pids $Namespace 2>$null)) {
        $cmd = (Get-Content "/proc/$p/cmdline" -Raw -ErrorAction SilentlyContinue) -replace "`0", ' '
        if ($cmd) { [pscustomobject]@{ Id = [int]$p; CommandLine = $cmd.Trim() } }
    }
}

function Remove-TestHostLab {
    <# Kills every process in the lab's namespaces, deletes the namespaces, the bridge and the state folder. #>
    param($Lab)
    if (-not $Lab) { return }
    foreach ($ns in $Lab.Namespaces) {
        foreach ($p in @(ip netns pids $ns 2>$null)) { Stop-Process -Id ([int]$p) -Force -ErrorAction SilentlyContinue }
    }
    foreach ($p in $Lab.Processes) { try { if (-not $p.HasExited) { $p.Kill($true) } } catch { } }
    Start-Sleep -Milliseconds 200
    foreach ($ns in $Lab.Namespaces) { ip netns del $ns 2>$null }
    ip link del $Lab.Bridge 2>$null
    Remove-Item $Lab.State -Recurse -Force -ErrorAction SilentlyContinue
}

Export-ModuleMember -Variable FakeTimeLibrary -Function New-TestHostLab, Remove-TestHostLab, New-LabSession, Get-LabProcess, Test-LabPort, Get-LabPwshCommand
