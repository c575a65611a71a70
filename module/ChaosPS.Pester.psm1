# ChaosPS's Pester 5 Should operators: -HaveRecovered, -PassThresholds, -BeGraceful, -HoldSteadyState.
# Shipped as a nested module of ChaosPS. They are registered with Pester's Add-ShouldOperator:
#   - at import, when Pester 5 is already loaded (the usual case: a test file imports ChaosPS in BeforeAll);
#   - otherwise the first time PowerShell looks up a Pester command (Invoke-Pester, Describe, Should, ...), through a
#     PostCommandLookupAction that chains to any action set before it and removes itself once the operators are in;
#   - and whenever Register-ChaosShouldOperator is called (idempotent: operators already there are left alone).
Set-StrictMode -Version 3.0

$script:OperatorNames = @('HaveRecovered', 'PassThresholds', 'BeGraceful', 'HoldSteadyState')

function ConvertTo-ChaosTimeSpan {
    # -Within: a TimeSpan, a number of seconds, or '500ms', '5s', '2m', '1h'.
    param($Value)
    if ($null -eq $Value) { return $null }
    if ($Value -is [timespan]) { return $Value }
    if ($Value -is [ValueType]) { return [timespan]::FromSeconds([double]$Value) }
    $s = "$Value".Trim()
    if ($s -match '^(?<n>\d+(?:\.\d+)?)\s*(?<u>ms|s|m|h)?$') {
        $n = [double]::Parse($Matches.n, [cultureinfo]::InvariantCulture)
        switch ($Matches.u) { 'ms' { return [timespan]::FromMilliseconds($n) } 'm' { return [timespan]::FromMinutes($n) } 'h' { return [timespan]::FromHours($n) } default { return [timespan]::FromSeconds($n) } }
    }
    $ts = [timespan]::Zero
    if ([timespan]::TryParse($s, [cultureinfo]::InvariantCulture, [ref]$ts)) { return $ts }
    throw [ArgumentException]::new("-Within '$Value' is not a duration: use a TimeSpan, a number of seconds, or '500ms', '5s', '2m'.")
}

function Format-ChaosSeconds([double] $Seconds) { '{0} s' -f $Seconds.ToString('0.0##', [cultureinfo]::InvariantCulture) }

function Format-ChaosBecause([string] $Because) { if ($Because -and $Because.Trim()) { " because $($Because.Trim() -replace '^because\s+'),"} else { '' } }

function Test-ChaosJournalLike($Value) {
    # A journal: a path or JSON string, a FileInfo, or an object with a ToJson() method or a JournalPath property.
    if ($null -eq $Value) { return $false }
    if ($Value -is [string] -or $Value -is [IO.FileInfo]) { return $true }
    $p = [psobject]::AsPSObject($Value)
    return [bool]($p.PSObject.Methods['ToJson'] -or $p.PSObject.Properties['JournalPath'])
}

function Get-ChaosCase($Journal, [string[]] $Kind) {
    # The journal's cases of these kinds; an unreadable journal is a failure with the reason, never a pass.
    ChaosPS\Get-ChaosExperimentTestCase -InputObject $Journal -Kind $Kind -ErrorAction Stop
}

function New-ChaosShouldResult([bool] $Succeeded, [string] $FailureMessage, [string] $Operator) {
    if (-not $Succeeded) {
        # Under Azure DevOps / GitHub Actions the evidence also becomes an error annotation (no-op elsewhere).
        try { ChaosPS\Write-ChaosAnnotation -Message $FailureMessage -Title "Should -$Operator" -ErrorAction SilentlyContinue } catch { }
    }
    [pscustomobject]@{ Succeeded = $Succeeded; FailureMessage = $FailureMessage }
}

function Get-ChaosJournalResult {
    # Common path for the journal forms: $Kind cases, all passed = success; none = inconclusive (a failure either way).
    param($Journal, [string[]] $Kind, [bool] $Negate, [string] $Because, [string] $Operator, [string] $What)
    try { $cases = @(Get-ChaosCase $Journal $Kind) }
    catch { return New-ChaosShouldResult $false "Expected $What,$(Format-ChaosBecause $Because) but the journal could not be read: $($_.Exception.Message)" $Operator }
    if ($cases.Count -eq 0) {
        return New-ChaosShouldResult $false "Expected $What,$(Format-ChaosBecause $Because) but the journal holds no $($Kind -join '/') evidence: inconclusive, which is never a pass." $Operator
    }
    $bad = @($cases | Where-Object { -not $_.Passed })
    $evidence = ($(if ($bad.Count) { $bad } else { $cases }) | ForEach-Object { "  [$($_.Result)] $($_.Suite): $($_.Name) — $($_.Message)" }) -join "`n"
    if ($Negate) {
        if (@($bad | Where-Object Result -ne 'Inconclusive').Count -gt 0) { return New-ChaosShouldResult $true '' $Operator }
        return New-ChaosShouldResult $false "Expected not $What,$(Format-ChaosBecause $Because) but it did:`n$evidence" $Operator
    }
    if ($bad.Count -eq 0) { return New-ChaosShouldResult $true '' $Operator }
    return New-ChaosShouldResult $false "Expected $What,$(Format-ChaosBecause $Because) but $($bad.Count) of $($cases.Count) did not pass:`n$evidence" $Operator
}

function Test-ChaosHaveRecovered {
    # Should -HaveRecovered [-Within 5s]: on a Wait-ChaosRecovery result (Recovered, TimeToRecover) or a journal.
    param($ActualValue, [switch] $Negate, $Within, [string] $Because, $CallerSessionState)
    $limit = ConvertTo-ChaosTimeSpan $Within
    $what = if ($limit) { "the system to have recovered within $(Format-ChaosSeconds $limit.TotalSeconds)" } else { 'the system to have recovered' }
    if ($null -eq $ActualValue) { return New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but got `$null (no recovery result or journal)." 'HaveRecovered' }
    $v = [psobject]::AsPSObject($ActualValue)
    if ($v.PSObject.Properties['Recovered']) {
        $recovered = [bool]$v.Recovered
        $ttr = $v.PSObject.Properties['TimeToRecover'] ? $v.TimeToRecover : $null
        $detail = "recovered $recovered, time to recover $(if ($ttr) { Format-ChaosSeconds ([timespan]$ttr).TotalSeconds } else { 'none' }), waited $(if ($v.PSObject.Properties['Waited'] -and $v.Waited) { Format-ChaosSeconds ([timespan]$v.Waited).TotalSeconds } else { '?' }), $(if ($v.PSObject.Properties['Attempts']) { "$($v.Attempts) probe rounds" }); last probe: $(if ($v.PSObject.Properties['LastProbe']) { $v.LastProbe })"
        $ok = $recovered -and (-not $limit -or ($ttr -and ([timespan]$ttr) -le $limit))
    }
    elseif (Test-ChaosJournalLike $ActualValue) {
        try { $case = @(Get-ChaosCase $ActualValue 'Recovery') | Select-Object -First 1 }
        catch { return New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but the journal could not be read: $($_.Exception.Message)" 'HaveRecovered' }
        if (-not $case -or $case.Result -eq 'Inconclusive') {
            return New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but recovery was not measured: $(if ($case) { $case.Message } else { 'the journal has no steady-state hypothesis' }) (inconclusive, never a pass)." 'HaveRecovered'
        }
        $detail = $case.Message
        $ok = $case.Passed -and (-not $limit -or ($null -ne $case.Observed -and $case.Observed -le $limit.TotalSeconds))
        if ($case.Passed -and $limit -and $null -eq $case.Observed) { $detail += ' (no time was measured, so -Within cannot be checked)' }
    }
    else {
        return New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but got a $($ActualValue.GetType().Name), not a Wait-ChaosRecovery result or an experiment journal." 'HaveRecovered'
    }
    if ($Negate) {
        if ($ok) { return New-ChaosShouldResult $false "Expected not $what,$(Format-ChaosBecause $Because) but it did: $detail" 'HaveRecovered' }
        return New-ChaosShouldResult $true '' 'HaveRecovered'
    }
    if ($ok) { return New-ChaosShouldResult $true '' 'HaveRecovered' }
    return New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but it did not: $detail" 'HaveRecovered'
}

function Test-ChaosPassThresholds {
    # Should -PassThresholds: on a Start-LoadTest result (Thresholds with Metric, Expression, Actual, Passed) or a journal.
    param($ActualValue, [switch] $Negate, [string] $Because, $CallerSessionState)
    $what = 'every load threshold to pass'
    if ($null -eq $ActualValue) { return New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but got `$null." 'PassThresholds' }
    $v = [psobject]::AsPSObject($ActualValue)
    if ($v.PSObject.Properties['Thresholds'] -and -not (Test-ChaosJournalLike $ActualValue)) {
        $t = @($v.Thresholds)
        if ($t.Count -eq 0) { return New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but the load test had no thresholds: nothing was evaluated (inconclusive, never a pass)." 'PassThresholds' }
        $line = { param($x) "  [$(if ($x.Passed) { 'Passed' } else { 'Failed' })] $($x.Metric): $($x.Expression) — observed $(if ($null -ne $x.Actual) { ([double]$x.Actual).ToString('0.###', [cultureinfo]::InvariantCulture) } else { 'no data' })" }
        $bad = @($t | Where-Object { -not $_.Passed })
        $name = if ($v.PSObject.Properties['Name']) { " '$($v.Name)'" } else { '' }
        if ($Negate) {
            if ($bad.Count) { return New-ChaosShouldResult $true '' 'PassThresholds' }
            return New-ChaosShouldResult $false "Expected not $what,$(Format-ChaosBecause $Because) but load test$name passed all $($t.Count):`n$(($t | ForEach-Object { & $line $_ }) -join "`n")" 'PassThresholds'
        }
        if (-not $bad.Count) { return New-ChaosShouldResult $true '' 'PassThresholds' }
        return New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but $($bad.Count) of $($t.Count) failed in load test${name}:`n$(($bad | ForEach-Object { & $line $_ }) -join "`n")" 'PassThresholds'
    }
    if (Test-ChaosJournalLike $ActualValue) { return Get-ChaosJournalResult $ActualValue 'Threshold' $Negate $Because 'PassThresholds' $what }
    New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but got a $($ActualValue.GetType().Name), not a Start-LoadTest result or an experiment journal." 'PassThresholds'
}

function Test-ChaosBeGraceful {
    # Should -BeGraceful: on a Test-GracefulDegradation result (Verdict, Reasons, ErrorRate, Hangs, TimeToRecover) or a journal.
    param($ActualValue, [switch] $Negate, [string] $Because, $CallerSessionState)
    $what = 'the degradation to be graceful'
    if ($null -eq $ActualValue) { return New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but got `$null." 'BeGraceful' }
    $v = [psobject]::AsPSObject($ActualValue)
    if ($v.PSObject.Properties['Verdict'] -and $v.PSObject.Properties['Reasons']) {
        $verdict = "$($v.Verdict)"
        $inv = [cultureinfo]::InvariantCulture
        $detail = "verdict $verdict; error rate $(([double]$v.ErrorRate).ToString('P2', $inv)), hangs $($v.Hangs), time to recover $(if ($v.TimeToRecover) { Format-ChaosSeconds ([timespan]$v.TimeToRecover).TotalSeconds } else { 'none' })"
        if (@($v.Reasons).Count) { $detail += "; " + (@($v.Reasons) -join '; ') }
        if ($verdict -eq 'Inconclusive') { return New-ChaosShouldResult $false "Expected $(if ($Negate) { 'not ' })$what,$(Format-ChaosBecause $Because) but the test was inconclusive (never a pass): $detail" 'BeGraceful' }
        $ok = $verdict -eq 'Graceful'
        if ($Negate) { return New-ChaosShouldResult (-not $ok) "Expected not $what,$(Format-ChaosBecause $Because) but it was: $detail" 'BeGraceful' }
        return New-ChaosShouldResult $ok "Expected $what,$(Format-ChaosBecause $Because) but it was not: $detail" 'BeGraceful'
    }
    if (Test-ChaosJournalLike $ActualValue) { return Get-ChaosJournalResult $ActualValue 'Degradation' $Negate $Because 'BeGraceful' $what }
    New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but got a $($ActualValue.GetType().Name), not a Test-GracefulDegradation result or an experiment journal." 'BeGraceful'
}

function Test-ChaosHoldSteadyState {
    # Should -HoldSteadyState: every steady-state probe of the journal (before, during, after) within tolerance.
    param($ActualValue, [switch] $Negate, [string] $Because, $CallerSessionState)
    $what = 'the steady state to hold before, during and after the method'
    if (-not (Test-ChaosJournalLike $ActualValue)) {
        $got = if ($null -eq $ActualValue) { '$null' } else { "a $($ActualValue.GetType().Name)" }
        return New-ChaosShouldResult $false "Expected $what,$(Format-ChaosBecause $Because) but got $got, not an experiment journal." 'HoldSteadyState'
    }
    Get-ChaosJournalResult $ActualValue 'Hypothesis' $Negate $Because 'HoldSteadyState' $what
}

function Get-ChaosPester {
    # The loaded Pester that has Add-ShouldOperator (Pester 5; Pester 4 had Add-AssertionOperator). By command, not by
    # version: a Pester imported from its .psm1 directly reports version 0.0.
    Get-Module Pester -All | Where-Object { $_.ExportedCommands.ContainsKey('Add-ShouldOperator') } | Sort-Object Version -Descending | Select-Object -First 1
}

function Register-ChaosShouldOperator {
    <#
    .SYNOPSIS
        Registers ChaosPS's Should operators (-HaveRecovered, -PassThresholds, -BeGraceful, -HoldSteadyState) with Pester 5.
    .DESCRIPTION
        ChaosPS registers them by itself: at import when Pester 5 is loaded, or else the first time a Pester command is
        looked up. Call this when neither happened (for example Pester was imported into another scope). It is idempotent:
        an operator that is already registered is left as it is. Writes the names of the operators registered now.
    .EXAMPLE
        Import-Module Pester -MinimumVersion 5.0; Register-ChaosShouldOperator; Get-ShouldOperator -Name HoldSteadyState
    #>
    [CmdletBinding()]
    [OutputType([string])]
    param()
    $pester = Get-ChaosPester
    if (-not $pester) {
        $e = [Management.Automation.ErrorRecord]::new([InvalidOperationException]::new('Pester 5 is not loaded: Import-Module Pester -MinimumVersion 5.0 first.'),
            'ChaosPS.PesterNotLoaded', [Management.Automation.ErrorCategory]::ObjectNotFound, 'Pester')
        $PSCmdlet.WriteError($e)
        return
    }
    $have = @(& $pester { Get-ShouldOperator } | ForEach-Object Name)
    $tests = @{
        HaveRecovered = ${function:Test-ChaosHaveRecovered}; PassThresholds = ${function:Test-ChaosPassThresholds}
        BeGraceful = ${function:Test-ChaosBeGraceful}; HoldSteadyState = ${function:Test-ChaosHoldSteadyState}
    }
    foreach ($name in $script:OperatorNames) {
        if ($have -contains $name) { continue }
        & $pester { param($n, $t) Add-ShouldOperator -Name $n -Test $t } $name $tests[$name]
        $name
    }
}

# ---------- automatic registration ----------

$script:Hooked = $false
$script:PreviousLookupAction = $null

function Remove-ChaosPesterHook {
    if (-not $script:Hooked) { return }
    $script:Hooked = $false
    if ([object]::ReferenceEquals($ExecutionContext.InvokeCommand.PostCommandLookupAction, $script:LookupAction)) {
        $ExecutionContext.InvokeCommand.PostCommandLookupAction = $script:PreviousLookupAction
    }
}

$script:LookupAction = [EventHandler[Management.Automation.CommandLookupEventArgs]] {
    param($commandName, $eventArgs)
    if ($script:PreviousLookupAction) { try { $script:PreviousLookupAction.Invoke($commandName, $eventArgs) } catch { } }
    if (-not $script:Hooked) { return }
    $cmd = $eventArgs.Command
    if ($cmd -and $cmd.ModuleName -eq 'Pester' -and (Get-ChaosPester)) {
        Remove-ChaosPesterHook
        try { $null = Register-ChaosShouldOperator -ErrorAction SilentlyContinue } catch { }
    }
}

if (Get-ChaosPester) {
    $null = Register-ChaosShouldOperator -ErrorAction SilentlyContinue
}
else {
    $script:PreviousLookupAction = $ExecutionContext.InvokeCommand.PostCommandLookupAction
    $ExecutionContext.InvokeCommand.PostCommandLookupAction = $script:LookupAction
    $script:Hooked = $true
}
$ExecutionContext.SessionState.Module.OnRemove = { Remove-ChaosPesterHook }

Export-ModuleMember -Function Register-ChaosShouldOperator
