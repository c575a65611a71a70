<#
.SYNOPSIS
    Runs the Pester suite against the built module in this (fresh) pwsh and writes NUnit XML plus a summary.
#>
param(
    [Parameter(Mandatory)] [string] $PesterPath,
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $TestPath,
    [Parameter(Mandatory)] [string] $ResultFile,
    [Parameter(Mandatory)] [string] $SummaryFile,
    [string] $Tag,
    [string] $ExcludeTag
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
# Tests import the built module from here; they never load bin/ output.
$env:CHAOSPS_MODULE = (Resolve-Path $ModulePath).Path
# Faults and testbeds the tests create are recorded in a ledger of the test run's own, never the user's.
if (-not $env:CHAOSPS_STATE_DIR) {
    $env:CHAOSPS_STATE_DIR = Join-Path ([IO.Path]::GetTempPath()) "chaosps-test-state-$PID"
}

$config = New-PesterConfiguration
$config.Run.Path = $TestPath
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
$config.Output.CIFormat = 'Auto'
# The NUnit file is written after the run (below), so that a failure to write it cannot lose the counts.
$config.TestResult.Enabled = $false
$config.TestResult.OutputFormat = 'NUnitXml'
$config.TestResult.OutputPath = $ResultFile
$config.TestResult.TestSuiteName = "ChaosPS-$([Environment]::OSVersion.Platform)-$($PSVersionTable.PSEdition)"
if ($Tag) { $config.Filter.Tag = $Tag -split ',' }
if ($ExcludeTag) { $config.Filter.ExcludeTag = $ExcludeTag -split ',' }

# Whatever goes wrong in here, the summary says 'failed' unless a complete run says otherwise: a runner that
# crashed, or a result without counts, must never read as green.
$summary = @{ Passed = 0; Failed = 1; Skipped = 0 }
try {
    $result = Invoke-Pester -Configuration $config
    if ($result -isnot [Pester.Run]) { throw "Invoke-Pester returned no run result (got $(if ($null -eq $result) { 'nothing' } else { $result.GetType().FullName }))" }
    $failed = [int]$result.FailedCount + [int]$result.FailedBlocksCount + [int]$result.FailedContainersCount
    $summary = @{ Passed = [int]$result.PassedCount; Failed = $failed; Skipped = [int]$result.SkippedCount }
    # Name every failure (test, block or file) with its first error line, so the last lines of a CI log say what
    # failed, not only how many.
    $names = [Collections.Generic.List[string]]::new()
    foreach ($t in @($result.Failed)) {
        $why = if ($t.ErrorRecord) { ("$($t.ErrorRecord[0])" -split "`n")[0] } else { '' }
        $names.Add("$($t.ExpandedPath) :: $why")
    }
    foreach ($b in @($result.FailedBlocks)) { $names.Add("block $($b.ExpandedPath) :: $((("$($b.ErrorRecord[0])") -split "`n")[0])") }
    foreach ($c in @($result.FailedContainers)) { $names.Add("file $($c.Item) :: $((("$($c.ErrorRecord[0])") -split "`n")[0])") }
    $summary.FailedNames = @($names | ForEach-Object { if ($_.Length -gt 400) { $_.Substring(0, 400) } else { $_ } })
    try {
        $result | Export-NUnitReport -Path $ResultFile
    } catch {
        # Pester's XML writer refuses control characters (e.g. colour codes in a failure message). The counts stand;
        # the missing file is itself a failure, since CI publishes it.
        Write-Host "Could not write $ResultFile : $_" -ForegroundColor Red
        $summary.Failed += 1
    }
} catch {
    Write-Host "The Pester run itself failed: $_" -ForegroundColor Red
}
$summary | ConvertTo-Json | Set-Content $SummaryFile
Write-Host "Pester: $($summary.Passed) passed, $($summary.Failed) failed, $($summary.Skipped) skipped"
foreach ($n in @($summary.FailedNames)) { if ($n) { Write-Host "  FAILED $n" -ForegroundColor Red } }
exit ([int]($summary.Failed -gt 0))
