@{
    version     = '1.0.0'
    title       = 'Packet loss 30%: every request still answered through TCP retransmission, the latency cost measured'
    description = @'
Proves: with 30% of the packets leaving the target's network namespace dropped by the kernel (Invoke-PacketFault:
tc netem where the kernel has it, else nftables), every request is still answered 200 with its body (TCP retransmits
what was lost; generous timeouts), the fault had its effect (p95 latency at least min_added_p95_ms above the p95 the
baseline measured, on this run, against this target) and the namespace's kernel counted TCP retransmissions
(TcpRetransSegs in its /proc/net/snmp, more per request than
during the baseline); afterwards answers are fast and clean again.
The latency cost is in the journal: the during-the-fault probe's output has p50/p95/p99 before and during, what the
fault added, the error rate and the retransmitted segments.
Shape: load before the fault (baseline: error count 0, bodies checked; its figures are kept for the comparison), the
packet fault in the background (the load waits until the fault is in the fault ledger, so fault and load overlap by
construction), load during it (thresholds: errors at most max_error_rate, bodies checked, p95 above the baseline's),
then, once the fault has removed itself, load after it (error count 0, bodies checked). The fault is ledgered: removed at
its end, on error, Ctrl+C or a killed pwsh (watchdog); the rollback restores any packet fault of this namespace left.
Traffic goes only to the target, and the target's address must belong to the faulted namespace itself (checked before
any load; that is what allows the load to leave loopback).
Own system: -Configuration @{ target_url = 'http://198.18.0.2:8080/'; net_namespace = 'name under /run/netns' } or
container = 'name or id' instead of net_namespace. Needs root (nsenter, nft or tc).
'@
    tags        = @('network', 'packet-loss')
    configuration = @{
        target_url        = @{ type = 'env'; key = 'CHAOSPS_PACKET_LOSS_URL' }
        net_namespace     = @{ type = 'env'; key = 'CHAOSPS_PACKET_LOSS_NETNS'; default = '' }
        container         = ''
        body_match        = '\S'
        loss_percent      = 30
        fault_direction   = 'Egress'
        fault_peer        = ''
        load_rate         = 20
        load_timeout      = '60s'
        baseline_seconds  = 10
        during_seconds    = 15
        fault_seconds     = 30
        recovery_seconds  = 10
        min_added_p95_ms  = 100
        max_error_rate    = 0.01
    }
    'steady-state-hypothesis' = @{
        title  = 'The target answers every request with its body'
        probes = @(
            @{ type = 'probe'; name = 'target-answers-with-its-body'
               tolerance = @{ type = 'jsonpath'; path = '$.Bad'; expect = 0 }
               provider = @{ type = 'powershell'; arguments = @{ Url = '${target_url}'; Match = '${body_match}' }
                   script = {
                       param($Url, $Match)
                       # 10 requests, each judged by its status AND its body.
                       $bad = [System.Collections.Generic.List[string]]::new()
                       foreach ($i in 1..10) {
                           try {
                               $r = Invoke-WebRequest -Uri $Url -SkipHttpErrorCheck -TimeoutSec 30
                               $c = [string]$r.Content
                               if ([int]$r.StatusCode -ne 200 -or $c -notmatch $Match) { $bad.Add("$([int]$r.StatusCode) '$($c.Substring(0, [math]::Min(80, $c.Length)))'") }
                           } catch { $bad.Add("no answer: $($_.Exception.Message)") }
                       }
                       [pscustomobject]@{ Requests = 10; Bad = $bad.Count; Samples = @($bad | Select-Object -First 3) }
                   } } }
        )
    }
    method = @(
        @{ type = 'probe'; name = 'baseline'
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'powershell'
               arguments = @{ Url = '${target_url}'; NetNamespace = '${net_namespace}'; Container = '${container}'; Match = '${body_match}'; Rate = '${load_rate}'; Seconds = '${baseline_seconds}'; Timeout = '${load_timeout}'
                   Threshold = @('http_req_failed: count==0', 'checks: rate==1') }
               script = {
                   param($Url, $NetNamespace, $Container, $Match, $Rate, $Seconds, $Timeout, $Threshold, $Scale)
                   # The namespace to fault and the target's address inside it (the only address the load may leave loopback for).
                   if ($NetNamespace) { $ns = "/run/netns/$NetNamespace"; $key = $NetNamespace }
                   elseif ($Container) { $ns = "/proc/$(docker inspect -f '{{.State.Pid}}' $Container)/ns/net"; $key = $Container }
                   else { throw 'configure net_namespace (a name under /run/netns) or container' }
                   $own = @((nsenter "--net=$ns" ip -j addr show | ConvertFrom-Json).addr_info.local)
                   $hostAddrs = @([Net.Dns]::GetHostAddresses(([Uri]$Url).DnsSafeHost) | ForEach-Object { $_.ToString() })
                   if (-not ($hostAddrs | Where-Object { $_ -in $own })) { throw "the target $Url is not an address of the namespace $key ($($own -join ', ')): load goes only into the faulted namespace" }
                   function Get-RetransSegs {
                       $t = @(nsenter "--net=$ns" cat /proc/net/snmp | Where-Object { $_ -like 'Tcp:*' })
                       if ($t.Count -lt 2) { return $null }
                       $names = $t[0] -split '\s+'; $values = $t[1] -split '\s+'
                       [long]$values[[array]::IndexOf($names, 'RetransSegs')]
                   }
                   $before = Get-RetransSegs
                   $r = Start-LoadTest -Uri $Url -Rate ([double]$Rate) -Duration ([TimeSpan]::FromSeconds([double]$Seconds * $Scale)) -Timeout $Timeout `
                       -ExpectStatus 200 -BodyMatch $Match -Threshold @($Threshold) -AllowNonLoopback
                   $after = Get-RetransSegs
                   # Kept for the during-the-fault probe: it compares with what this run measured, not with a fixed number.
                   $file = Join-Path ([IO.Path]::GetTempPath()) ("chaosps-packet-loss-baseline-" + ($key -replace '[^\w.-]', '_') + '.json')
                   @{ P50 = $r.Latency.P50; P95 = $r.Latency.P95; P99 = $r.Latency.P99; ErrorRate = $r.ErrorRate; Requests = $r.Requests
                      RetransSegs = $(if ($null -ne $before -and $null -ne $after) { $after - $before } else { $null }) } | ConvertTo-Json | Set-Content $file
                   $r
               } } }
        @{ type = 'action'; name = 'packet-loss'; background = $true
           provider = @{ type = 'powershell'
               arguments = @{ NetNamespace = '${net_namespace}'; Container = '${container}'; Loss = '${loss_percent}'; Direction = '${fault_direction}'; Peer = '${fault_peer}'; Seconds = '${fault_seconds}' }
               script = {
                   param($NetNamespace, $Container, $Loss, $Direction, $Peer, $Seconds, $Scale)
                   # Ledgered by Invoke-PacketFault itself: removed at its end, on error, Ctrl+C, or by the watchdog.
                   $a = @{ LossPercent = [double]$Loss; Direction = $Direction; Duration = [TimeSpan]::FromSeconds([double]$Seconds * $Scale) }
                   if ($NetNamespace) { $a.NetNamespace = $NetNamespace } else { $a.Container = $Container }
                   if ($Peer) { $a.Peer = $Peer }
                   Invoke-PacketFault @a -Confirm:$false
               } } }
        @{ type = 'probe'; name = 'during-the-fault'
           tolerance = @{ type = 'all'; of = @(
               @{ type = 'thresholds' }
               @{ type = 'jsonpath'; path = '$[0].RetransmissionsSeen'; expect = $true }) }
           provider = @{ type = 'powershell'
               arguments = @{ Url = '${target_url}'; NetNamespace = '${net_namespace}'; Container = '${container}'; Match = '${body_match}'; Rate = '${load_rate}'; Seconds = '${during_seconds}'; Timeout = '${load_timeout}'
                   MinAddedMs = '${min_added_p95_ms}'; MaxErrorRate = '${max_error_rate}' }
               script = {
                   param($Url, $NetNamespace, $Container, $Match, $Rate, $Seconds, $Timeout, $MinAddedMs, $MaxErrorRate, $Scale)
                   if ($NetNamespace) { $ns = "/run/netns/$NetNamespace"; $key = $NetNamespace }
                   else { $ns = "/proc/$(docker inspect -f '{{.State.Pid}}' $Container)/ns/net"; $key = $Container }
                   # The ledger names the fault's target as Invoke-PacketFault does: "netns NAME (...)" or "container NAME (...)".
                   $who = if ($NetNamespace) { "netns $NetNamespace (" } else { "container $((docker inspect -f '{{.Name}}' $Container).TrimStart('/')) (" }
                   $file = Join-Path ([IO.Path]::GetTempPath()) ("chaosps-packet-loss-baseline-" + ($key -replace '[^\w.-]', '_') + '.json')
                   $base = Get-Content $file -Raw -ErrorAction Stop | ConvertFrom-Json
                   # The fault starts in the background: wait until it is in the ledger (its rules are in place by then).
                   $wait = [Diagnostics.Stopwatch]::StartNew()
                   while (-not (Get-ChaosFault | Where-Object { $_.Kind -eq 'PacketFault' -and $_.Target.StartsWith($who) })) {
                       if ($wait.Elapsed.TotalSeconds -gt 60) { throw "the packet fault on $key was not in place after 60 s" }
                       Start-Sleep -Milliseconds 50
                   }
                   function Get-RetransSegs {
                       $t = @(nsenter "--net=$ns" cat /proc/net/snmp | Where-Object { $_ -like 'Tcp:*' })
                       if ($t.Count -lt 2) { return $null }
                       $names = $t[0] -split '\s+'; $values = $t[1] -split '\s+'
                       [long]$values[[array]::IndexOf($names, 'RetransSegs')]
                   }
                   $before = Get-RetransSegs
                   # Above the baseline this run measured: the fault must have added at least MinAddedMs at p95.
                   $p95Floor = [math]::Round([double]$base.P95 + [double]$MinAddedMs, 1)
                   $th = @("http_req_failed: rate<=$MaxErrorRate", "checks: rate>=$(1 - [double]$MaxErrorRate)", "http_req_duration: p(95)>=$p95Floor")
                   $r = Start-LoadTest -Uri $Url -Rate ([double]$Rate) -Duration ([TimeSpan]::FromSeconds([double]$Seconds * $Scale)) -Timeout $Timeout `
                       -ExpectStatus 200 -BodyMatch $Match -Threshold $th -AllowNonLoopback -ErrorAction SilentlyContinue
                   $after = Get-RetransSegs
                   $retrans = if ($null -ne $before -and $null -ne $after) { $after - $before } else { $null }
                   # The latency cost, before vs during (ms), with the kernel's retransmissions in the faulted namespace.
                   [pscustomobject]@{
                       Baseline            = [pscustomobject]@{ P50 = $base.P50; P95 = $base.P95; P99 = $base.P99; ErrorRate = $base.ErrorRate; Requests = $base.Requests; RetransSegs = $base.RetransSegs }
                       During              = [pscustomobject]@{ P50 = $r.Latency.P50; P95 = $r.Latency.P95; P99 = $r.Latency.P99; ErrorRate = $r.ErrorRate; Requests = $r.Requests; RetransSegs = $retrans }
                       AddedMs             = [pscustomobject]@{ P50 = [math]::Round($r.Latency.P50 - $base.P50, 3); P95 = [math]::Round($r.Latency.P95 - $base.P95, 3); P99 = [math]::Round($r.Latency.P99 - $base.P99, 3) }
                       P95Floor            = $p95Floor
                       RetransSegs         = $retrans
                       # More retransmitted segments per request than the baseline's (a busy host can retransmit now and then).
                       RetransmissionsSeen = ($null -ne $retrans -and $null -ne $base.RetransSegs -and $r.Requests -gt 0 -and $retrans -gt 0 -and
                                              $retrans / $r.Requests -gt $base.RetransSegs / [math]::Max(1, [double]$base.Requests))
                   }
                   $r
               } } }
        @{ type = 'action'; name = 'wait-until-the-fault-is-removed'
           provider = @{ type = 'powershell'; arguments = @{ NetNamespace = '${net_namespace}'; Container = '${container}' }
               script = {
                   param($NetNamespace, $Container)
                   $key = if ($NetNamespace) { $NetNamespace } else { $Container }
                   $who = if ($NetNamespace) { "netns $NetNamespace (" } else { "container $((docker inspect -f '{{.Name}}' $Container).TrimStart('/')) (" }
                   $sw = [Diagnostics.Stopwatch]::StartNew()
                   do {
                       if (-not (Get-ChaosFault | Where-Object { $_.Kind -eq 'PacketFault' -and $_.Target.StartsWith($who) })) { return "fault removed after $([int]$sw.Elapsed.TotalMilliseconds) ms" }
                       Start-Sleep -Milliseconds 100
                   } while ($sw.Elapsed.TotalSeconds -lt 300)
                   throw "the packet fault on $key was still in place after 300 s"
               } } }
        @{ type = 'probe'; name = 'recovery'; pauses = @{ before = 1 }
           tolerance = @{ type = 'thresholds' }
           provider = @{ type = 'powershell'
               arguments = @{ Url = '${target_url}'; Match = '${body_match}'; Rate = '${load_rate}'; Seconds = '${recovery_seconds}'; Timeout = '${load_timeout}'
                   Threshold = @('http_req_failed: count==0', 'checks: rate==1') }
               script = {
                   param($Url, $Match, $Rate, $Seconds, $Timeout, $Threshold, $Scale)
                   # The baseline checked that the target's address belongs to the faulted namespace.
                   Start-LoadTest -Uri $Url -Rate ([double]$Rate) -Duration ([TimeSpan]::FromSeconds([double]$Seconds * $Scale)) -Timeout $Timeout `
                       -ExpectStatus 200 -BodyMatch $Match -Threshold @($Threshold) -AllowNonLoopback
               } } }
    )
    rollbacks = @(
        @{ type = 'action'; name = 'restore-packet-faults-of-the-namespace'
           provider = @{ type = 'powershell'; arguments = @{ NetNamespace = '${net_namespace}'; Container = '${container}' }
               script = {
                   param($NetNamespace, $Container)
                   $key = if ($NetNamespace) { $NetNamespace } else { $Container }
                   $name = if ($NetNamespace) { $null } else { "$(docker inspect -f '{{.Name}}' $Container 2>$null)".TrimStart('/') }
                   $who = if ($NetNamespace) { "netns $NetNamespace (" } else { "container $(if ($name) { $name } else { $Container }) (" }
                   Get-ChaosFault | Where-Object { $_.Kind -eq 'PacketFault' -and $_.Target.StartsWith($who) } | Restore-ChaosFault
                   Remove-Item (Join-Path ([IO.Path]::GetTempPath()) ("chaosps-packet-loss-baseline-" + ($key -replace '[^\w.-]', '_') + '.json')) -ErrorAction SilentlyContinue
               } } }
    )
}
