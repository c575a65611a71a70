#!/usr/bin/env pwsh
<#
.SYNOPSIS
    The one entry point for ChaosPS: build | test | demo | bench | package | clean.
.EXAMPLE
    dotnet tool restore; dotnet pwsh ./build.ps1 test
.EXAMPLE
    dotnet pwsh ./build.ps1 test -Tag Unit              # only the fast tests
.EXAMPLE
    dotnet pwsh ./build.ps1 bench -Bench load           # one benchmark from scripts/bench
#>
[CmdletBinding()]
param(
    [Parameter(Position = 0)]
    [ValidateSet('build', 'test', 'demo', 'bench', 'package', 'clean')]
    [string] $Task = 'build',
    [ValidateSet('Debug', 'Release')]
    [string] $Configuration = 'Release',
    # Pester tags to run / to leave out (test task).
    [string[]] $Tag,
    [string[]] $ExcludeTag,
    # xunit test filter (test task), passed to `dotnet test --filter`, e.g. 'FullyQualifiedName~Relay'.
    [string] $Filter,
    # Skip the build step (test/demo/bench against what is already in out/).
    [switch] $NoBuild,
    # Benchmarks to run (bench task): names of scripts/bench/*.ps1 without extension; all when empty. They need the
    # reference tools (Debian: nginx wrk hey socat iperf3 haproxy stress-ng; see README.md).
    [string[]] $Bench
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0
$Root = $PSScriptRoot
$Version = (Import-PowerShellDataFile "$Root/ChaosPS.psd1").ModuleVersion
$ModuleDir = Join-Path $Root "out/ChaosPS/$Version"
$ResultsDir = Join-Path $Root 'out/test-results'
$env:DOTNET_CLI_TELEMETRY_OPTOUT = '1'
$env:DOTNET_NOLOGO = '1'
$env:DOTNET_SKIP_FIRST_TIME_EXPERIENCE = '1'

function Invoke-Native {
    param([string] $File, [string[]] $Arguments)
    & $File @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$File $($Arguments -join ' ') failed with exit code $LASTEXITCODE" }
}

function Invoke-Build {
    $sw = [Diagnostics.Stopwatch]::StartNew()
    Write-Host "Building ChaosPS $Version ($Configuration)" -ForegroundColor Cyan
    Invoke-Native dotnet @('build', "$Root/ChaosPS.slnx", '-c', $Configuration, "-p:Version=$Version", '-nologo', '-v', 'q', '-clp:NoSummary;ErrorsOnly')

    if (Test-Path $ModuleDir) { Remove-Item $ModuleDir -Recurse -Force }
    $deps = New-Item -ItemType Directory -Force "$ModuleDir/Dependencies"
    $bin = "bin/$Configuration/net10.0"

    # The engine and every third-party assembly it uses go to Dependencies/ (loaded in the module's own
    # AssemblyLoadContext); the root holds only the cmdlets assembly, so the default context cannot probe them.
    Copy-Item "$Root/src/ChaosPS.Engine/$bin/*" $deps -Recurse -Exclude '*.pdb', '*.deps.json'
    if (Test-Path "$deps/runtimes") {
        # Keep only the native assets this platform can load (none of ChaosPS's own dependencies ship any today).
        Get-ChildItem "$deps/runtimes" -Directory | Where-Object Name -notmatch '^(linux|unix|win|osx)' | Remove-Item -Recurse -Force
    }
    $engineNames = Get-ChildItem $deps -Filter *.dll | ForEach-Object Name
    Get-ChildItem "$Root/src/ChaosPS/$bin" -Filter *.dll | Where-Object Name -notin $engineNames |
        Copy-Item -Destination $ModuleDir
    # Helper programs run as their own processes: the embedded testbed and the agent (watchdog, stressors).
    foreach ($p in 'ChaosPS.Testbed', 'ChaosPS.Agent') {
        $src = "$Root/src/$p/$bin"
        if (Test-Path $src) {
            $dst = New-Item -ItemType Directory -Force "$ModuleDir/bin/$p"
            Copy-Item "$src/*" $dst -Recurse -Exclude '*.pdb'
        }
    }
    # Pester Should operators: a nested script module (registers them when Pester 5 is or gets loaded).
    Copy-Item "$Root/module/ChaosPS.Pester.psm1" $ModuleDir
    # Experiments shipped with the module (Get-ChaosExperiment lists them).
    if (Test-Path "$Root/module/experiments") { Copy-Item "$Root/module/experiments" "$ModuleDir/experiments" -Recurse }

    # Manifest: the source of truth for exports, with the format/type files of module/ filled in.
    $formats = @(Get-ChildItem "$Root/module/formats" -Filter *.Format.ps1xml -ErrorAction SilentlyContinue)
    $types = @(Get-ChildItem "$Root/module/types" -Filter *.Types.ps1xml -ErrorAction SilentlyContinue)
    foreach ($f in $formats + $types) { Copy-Item $f.FullName $ModuleDir }
    $manifest = Get-Content "$Root/ChaosPS.psd1" -Raw
    $list = { param($files) if ($files.Count -eq 0) { '@()' } else { '@(' + (($files | ForEach-Object { "'$($_.Name)'" }) -join ', ') + ')' } }
    $manifest = $manifest -replace 'FormatsToProcess\s*=\s*@\(\)', ('FormatsToProcess     = ' + (& $list $formats))
    $manifest = $manifest -replace 'TypesToProcess\s*=\s*@\(\)', ('TypesToProcess       = ' + (& $list $types))
    Set-Content "$ModuleDir/ChaosPS.psd1" $manifest -Encoding utf8NoBOM

    # Help: about_ topics as they are; cmdlet MAML generated from module/help/*.md and the cmdlets' own metadata.
    $enUS = New-Item -ItemType Directory -Force "$ModuleDir/en-US"
    Copy-Item "$Root/module/en-US/*" $enUS -ErrorAction SilentlyContinue
    Invoke-Native (Get-PwshPath) @('-NoProfile', '-NonInteractive', '-File', "$Root/scripts/ci/New-ChaosHelp.ps1",
        '-ModulePath', "$ModuleDir/ChaosPS.psd1", '-HelpSource', "$Root/module/help", '-OutFile', "$enUS/ChaosPS.dll-Help.xml")
    Write-Host "Built $ModuleDir in $([int]$sw.Elapsed.TotalSeconds)s" -ForegroundColor Green
}

function Get-PwshPath {
    # Child PowerShell processes use the same pwsh as this one (the pinned dotnet tool, or an installed pwsh).
    $self = [Diagnostics.Process]::GetCurrentProcess().MainModule.FileName
    if ((Split-Path $self -Leaf) -match '^pwsh(\.exe)?$') { return $self }
    $cmd = Get-Command pwsh -ErrorAction SilentlyContinue
    if ($cmd) { return $cmd.Source }
    # Running as `dotnet pwsh`: the tool's pwsh.dll is beside the loaded System.Management.Automation.
    $pwshDll = Join-Path $PSHOME 'pwsh.dll'
    $shim = Join-Path ([IO.Path]::GetTempPath()) 'chaosps-pwsh'
    Set-Content $shim "#!/bin/sh`nexec '$self' '$pwshDll' `"`$@`"" -Encoding ascii
    chmod +x $shim
    return $shim
}

function Get-PesterPath {
    $nugetRoot = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget/packages' }
    $ver = ([xml](Get-Content "$Root/build/Tools.csproj")).Project.ItemGroup.PackageDownload |
        Where-Object Include -eq 'Pester' | ForEach-Object { $_.Version.Trim('[', ']') }
    $psd1 = Join-Path $nugetRoot "pester/$ver/tools/Pester.psd1"
    if (-not (Test-Path $psd1)) {
        Invoke-Native dotnet @('restore', "$Root/build/Tools.csproj", '-nologo', '-v', 'q')
    }
    return $psd1
}

function Invoke-Test {
    New-Item -ItemType Directory -Force $ResultsDir | Out-Null
    Get-ChildItem $ResultsDir -File | Remove-Item -Force
    $sw = [Diagnostics.Stopwatch]::StartNew()

    # 1. xunit, for the engine.
    Write-Host 'Engine tests (xunit)' -ForegroundColor Cyan
    $xunitArgs = @('test', "$Root/tests/ChaosPS.Engine.Tests", '-c', $Configuration, '--no-build', '-nologo',
        '--logger', 'trx;LogFileName=engine.trx', '--logger', 'console;verbosity=minimal', '--results-directory', $ResultsDir)
    if ($Filter) { $xunitArgs += @('--filter', $Filter) }
    & dotnet @xunitArgs
    $xunitExit = $LASTEXITCODE
    $trx = Get-ChildItem $ResultsDir -Filter engine.trx -Recurse | Select-Object -First 1
    $x = @{ Passed = 0; Failed = 0; Skipped = 0 }
    if ($trx) {
        $c = ([xml](Get-Content $trx.FullName)).TestRun.ResultSummary.Counters
        $x.Passed = [int]$c.passed; $x.Failed = [int]$c.failed + [int]$c.error + [int]$c.timeout + [int]$c.aborted
        $x.Skipped = [int]$c.notExecuted
        $xml = [xml](Get-Content $trx.FullName)
        # SelectNodes, not dotted names: a run with no test has no Results element, and strict mode refuses the lookup.
        $x.FailedNames = @($xml.SelectNodes("//*[local-name()='UnitTestResult']") | Where-Object { $_.outcome -ne 'Passed' -and $_.outcome -ne 'NotExecuted' } |
            ForEach-Object {
                $m = $_.SelectSingleNode("./*[local-name()='Output']/*[local-name()='ErrorInfo']/*[local-name()='Message']")
                "$($_.testName) :: $((("$(if ($m) { $m.InnerText })") -split "`n")[0])"
            })
    } elseif ($xunitExit -ne 0) { $x.Failed = 1 }
    Write-Host "xunit: $($x.Passed) passed, $($x.Failed) failed, $($x.Skipped) skipped" -ForegroundColor Cyan

    # 2. Pester, for the module as users see it: the built module, in a fresh pwsh.
    Write-Host 'Module tests (Pester)' -ForegroundColor Cyan
    $summary = Join-Path $ResultsDir 'pester-summary.json'
    $runnerArgs = @('-NoProfile', '-NonInteractive', '-File', "$Root/scripts/ci/Invoke-PesterRun.ps1",
        '-PesterPath', (Get-PesterPath), '-ModulePath', "$ModuleDir/ChaosPS.psd1", '-TestPath', "$Root/tests",
        '-ResultFile', "$ResultsDir/pester.xml", '-SummaryFile', $summary)
    if ($Tag) { $runnerArgs += @('-Tag', ($Tag -join ',')) }
    if ($ExcludeTag) { $runnerArgs += @('-ExcludeTag', ($ExcludeTag -join ',')) }
    & (Get-PwshPath) @runnerArgs
    $pesterExit = $LASTEXITCODE
    $p = @{ Passed = 0; Failed = 1; Skipped = 0 }
    if (Test-Path $summary) {
        $read = Get-Content $summary -Raw | ConvertFrom-Json -AsHashtable
        # A summary without whole counts is no evidence of a pass.
        if ($read -and $read.Passed -is [long] -and $read.Failed -is [long] -and $read.Skipped -is [long]) { $p = $read }
    }

    $passed = $x.Passed + $p.Passed; $failed = $x.Failed + $p.Failed; $skipped = $x.Skipped + $p.Skipped
    Write-Host "Results: $ResultsDir (engine.trx, pester.xml) in $([int]$sw.Elapsed.TotalSeconds)s"
    # The failures by name come last, so the tail of a CI log says what failed.
    foreach ($n in @($x.FailedNames) + @($p.FailedNames)) { if ($n) { Write-Host "FAILED $n" -ForegroundColor Red } }
    Write-Host "$passed passed, $failed failed, $skipped skipped"
    # Any failed test, a runner that failed without reporting one, or a run that executed no test at all fails the
    # command (and so CI). Each condition stands on its own: no -and/-or mixing, whose equal precedence once let a
    # failed run exit 0.
    $exitCode = 0
    if ($failed -gt 0) { $exitCode = 1 }
    if ($xunitExit -ne 0) { $exitCode = 1 }
    if ($pesterExit -ne 0) { $exitCode = 1 }
    if ($passed -eq 0) { Write-Host 'No test passed: nothing was tested.' -ForegroundColor Red; $exitCode = 1 }
    exit $exitCode
}

function Invoke-Demo {
    & (Get-PwshPath) -NoProfile -NonInteractive -File "$Root/scripts/demo.ps1" -ModulePath "$ModuleDir/ChaosPS.psd1"
    if ($LASTEXITCODE -ne 0) { exit $LASTEXITCODE }
}

function Invoke-Bench {
    $scripts = Get-ChildItem "$Root/scripts/bench" -Filter *.ps1 | Where-Object { -not $Bench -or $_.BaseName -in $Bench }
    foreach ($s in $scripts) {
        Write-Host "== bench: $($s.BaseName)" -ForegroundColor Cyan
        & (Get-PwshPath) -NoProfile -NonInteractive -File $s.FullName -ModulePath "$ModuleDir/ChaosPS.psd1"
        if ($LASTEXITCODE -ne 0) { Write-Warning "$($s.BaseName) exited $LASTEXITCODE" }
    }
}

function Invoke-Package {
    $pkgDir = New-Item -ItemType Directory -Force "$Root/out/package"
    $zip = Join-Path $pkgDir "ChaosPS-$Version.zip"
    if (Test-Path $zip) { Remove-Item $zip }
    Compress-Archive -Path "$Root/out/ChaosPS" -DestinationPath $zip
    Write-Host "Package: $zip"

    # The .nupkg PowerShell users install with PSResourceGet (Install-PSResource/Save-PSResource from a file share or
    # an Azure Artifacts feed): published to out/package as a file repository registered for this call only.
    $nupkg = Join-Path $pkgDir "ChaosPS.$Version.nupkg"
    if (Test-Path $nupkg) { Remove-Item $nupkg }
    $repo = "ChaosPS-build-$([guid]::NewGuid().ToString('n').Substring(0, 8))"
    Import-Module Microsoft.PowerShell.PSResourceGet -ErrorAction Stop
    Register-PSResourceRepository -Name $repo -Uri $pkgDir -Trusted
    try { Publish-PSResource -Path $ModuleDir -Repository $repo -ErrorAction Stop }
    finally { Unregister-PSResourceRepository -Name $repo }
    if (-not (Test-Path $nupkg)) { throw "Publish-PSResource did not write $nupkg" }
    Write-Host "Package: $nupkg"
}

switch ($Task) {
    'clean' {
        foreach ($d in @("$Root/out") + (Get-ChildItem "$Root/src", "$Root/tests" -Directory -Recurse -Include bin, obj).FullName) {
            if (Test-Path $d) { Remove-Item $d -Recurse -Force }
        }
    }
    'build' { Invoke-Build }
    'test' { if (-not $NoBuild) { Invoke-Build }; Invoke-Test }
    'demo' { if (-not $NoBuild) { Invoke-Build }; Invoke-Demo }
    'bench' { if (-not $NoBuild) { Invoke-Build }; Invoke-Bench }
    'package' { if (-not $NoBuild) { Invoke-Build }; Invoke-Package }
}
