<#
.SYNOPSIS
    Runs chaos experiments (or takes journals already written) and writes a JUnit file and an HTML report per journal.
.DESCRIPTION
    For each experiment file under -ExperimentPath (a folder or files) it runs Invoke-ChaosExperiment, then exports
    the journal as <OutputDirectory>/junit/<name>.xml (for PublishTestResults@2) and <OutputDirectory>/html/<name>.html,
    and copies the journal to <OutputDirectory>/journals/. With -JournalPath it skips the run and reports journals that
    exist. Exits 1 when any experiment's verdict is not Passed (Deviated, Failed, Inconclusive, Interrupted, Aborted).
.EXAMPLE
    ./Invoke-ExperimentSuite.ps1 -ExperimentPath experiments -OutputDirectory out/chaos
#>
[CmdletBinding(DefaultParameterSetName = 'Run')]
param(
    [Parameter(Mandatory, ParameterSetName = 'Run')] [string[]] $ExperimentPath,
    [Parameter(Mandatory, ParameterSetName = 'Report')] [string[]] $JournalPath,
    [string] $OutputDirectory = (Join-Path $PWD 'out/chaos'),
    [string] $ModulePath = 'ChaosPS'
)
$ErrorActionPreference = 'Stop'
if (-not (Get-Module ChaosPS)) { Import-Module $ModulePath }
foreach ($d in 'junit', 'html', 'journals') { New-Item -ItemType Directory -Force (Join-Path $OutputDirectory $d) | Out-Null }

$journals = if ($PSCmdlet.ParameterSetName -eq 'Report') { $JournalPath } else {
    $files = foreach ($p in $ExperimentPath) { if (Test-Path $p -PathType Container) { Get-ChildItem $p -Filter *.json -File } else { Get-Item $p } }
    foreach ($f in $files) {
        Write-Host "== experiment $($f.Name)"
        # A deviated or failed experiment is a result, not an error of this script: report it and go on.
        Invoke-ChaosExperiment -Path $f.FullName -ErrorAction Continue
    }
}

$notPassed = 0
foreach ($j in $journals) {
    $name = if ($j -is [string]) { [IO.Path]::GetFileNameWithoutExtension($j) } else { [IO.Path]::GetFileNameWithoutExtension($j.JournalPath) }
    # JUnit for the Tests tab (this one also writes the CI annotations), HTML to read, and the journal itself.
    $j | Export-ChaosExperimentReport -Path (Join-Path $OutputDirectory "junit/$name.xml") -Format JUnit
    $j | Export-ChaosExperimentReport -Path (Join-Path $OutputDirectory "html/$name.html") -Format Html -NoAnnotation
    $j | Export-ChaosExperimentReport -Path (Join-Path $OutputDirectory "journals/$name.json") -Format Json -NoAnnotation
    $verdict = (Get-ChaosExperimentTestCase $j -Kind Verdict).Message
    Write-Host "$name`: $verdict"
    if ((Get-ChaosExperimentTestCase $j -Kind Verdict).Result -ne 'Passed') { $notPassed++ }
}
if ($notPassed -gt 0) {
    Write-Host "$notPassed experiment(s) did not pass."
    if ($PSCmdlet.ParameterSetName -eq 'Run') { exit 1 }
}
