# Shared by the stress-*.ps1 scenarios: start the embedded target, run a graceful-degradation test against it,
# print the verdict and its evidence, stop everything, and return an exit code (0 Graceful, 1 otherwise).
function Invoke-StressScenario {
    param(
        [Parameter(Mandatory)] [string] $Name,
        [Parameter(Mandatory)] [string] $ModulePath,
        [Parameter(Mandatory)] [scriptblock] $Stress,     # param($Target, $Seconds)
        [int] $Seconds = 15,
        [int] $Workers = 2,
        [string] $Probe = 'router',                      # router | worker0 | health
        [string] $TmpfsSize,                             # mount a tmpfs of this size as the workers' -DataPath
        [int[]] $AcceptableStatus = @(200, 429, 503, 507),
        [double] $MaxErrorRate = 0.05,
        [int[]] $ExpectStatus                            # statuses that must be seen during the stress (e.g. 507)
    )
    $ErrorActionPreference = 'Stop'
    Import-Module $ModulePath -Force -Global
    if (-not (Get-Command Start-ChaosTarget -ErrorAction SilentlyContinue)) {
        Write-Error "$Name needs Start-ChaosTarget (the embedded target), which this build of ChaosPS lacks."; return 2
    }
    $fs = $null; $t = $null
    try {
        $startArgs = @{ Workers = $Workers; TokenDelay = '1ms' }
        if ($TmpfsSize) {
            $fs = Join-Path ([IO.Path]::GetTempPath()) "chaosps-$Name-$([guid]::NewGuid().ToString('n').Substring(0,6))"
            New-Item -ItemType Directory $fs | Out-Null
            mount -t tmpfs -o "size=$TmpfsSize" tmpfs $fs
            if ($LASTEXITCODE -ne 0) { throw "mounting a tmpfs on $fs failed (root needed)" }
            $startArgs.DataPath = $fs
        }
        $t = Start-ChaosTarget @startArgs
        $uri = switch ($Probe) { 'worker0' { [Uri]::new($t.Workers[0].Uri, 'v1/infer') } 'health' { [Uri]::new($t.RouterUri, 'health') } default { [Uri]::new($t.RouterUri, 'v1/infer') } }
        $probeArgs = @{ Uri = $uri; Rate = 10; Baseline = '2s'; RecoveryTimeout = '30s'; AcceptableStatus = $AcceptableStatus; MaxErrorRate = $MaxErrorRate; Confirm = $false }
        if ($Probe -ne 'health') { $probeArgs.Method = 'POST'; $probeArgs.Body = '{"prompt":"chaos","max_tokens":4}' }
        $target = $t; $secs = $Seconds; $inner = $Stress
        $v = Test-GracefulDegradation @probeArgs -Stress ({ & $inner $target $secs }.GetNewClosure())
        $ok = $v.Verdict -eq 'Graceful'
        foreach ($s in $ExpectStatus) {
            if (-not $v.Stress.Statuses.ContainsKey("$s")) { $ok = $false; $v.Reasons.Add("expected status $s during the stress, saw $($v.Stress.Statuses.Keys -join ',')") }
        }
        [pscustomobject]@{
            Scenario = $Name; Verdict = $v.Verdict; Passed = $ok; Probe = "$uri"
            Baseline = "$($v.Baseline)"; Stress = "$($v.Stress)"; Recovery = "$($v.Recovery)"
            TimeToRecover = $v.TimeToRecover; ErrorRate = $v.ErrorRate; Hangs = $v.Hangs
            Reasons = $v.Reasons -join '; '
            Stressors = ($v.StressResults | ForEach-Object { "$_" }) -join '; '
        } | Format-List | Out-String | Write-Host
        if ($ok) { 0 } else { 1 }
    }
    finally {
        if ($t) { Stop-ChaosTarget $t -ErrorAction SilentlyContinue | Out-Null }
        if ($fs) { umount $fs 2>$null; Remove-Item $fs -Recurse -Force -ErrorAction SilentlyContinue }
    }
}
Export-ModuleMember -Function Invoke-StressScenario
