# Dependency isolation: ChaosPS brings its own Docker.DotNet (and every other third-party assembly) in its own
# AssemblyLoadContext, so it works in a session that already loaded another version of the same assembly.
BeforeAll {
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    $script:modulePath = Get-ChaosModulePath
    $nuget = if ($env:NUGET_PACKAGES) { $env:NUGET_PACKAGES } else { Join-Path $HOME '.nuget/packages' }
    $script:oldDocker = Join-Path $nuget 'docker.dotnet/3.125.15/lib/netstandard2.0/Docker.DotNet.dll'
    if (-not (Test-Path $oldDocker)) { & dotnet restore "$PSScriptRoot/../build/Tools.csproj" -nologo -v q | Out-Null }
}

Describe 'Importing beside a conflicting dependency' -Tag Unit {
    It 'works after another Docker.DotNet version was loaded first, and uses its own' {
        Test-Path $oldDocker | Should -BeTrue
        $script = @"
`$ErrorActionPreference = 'Stop'
Add-Type -Path '$oldDocker'
`$before = [Docker.DotNet.DockerClientConfiguration].Assembly.GetName().Version.ToString()
Import-Module '$modulePath'
`$probe = Get-ChaosDockerEngine -DockerEndpoint 'unix:///nonexistent/chaosps-test.sock'
`$loaded = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { `$_.GetName().Name -eq 'Docker.DotNet' } |
    ForEach-Object { '{0}@{1}' -f `$_.GetName().Version, [Runtime.Loader.AssemblyLoadContext]::GetLoadContext(`$_).Name }
"before=`$before"
"probe=`$(`$probe.GetType().FullName)|`$(`$probe.Reachable)|`$(`$probe.Endpoint)"
"loaded=`$((`$loaded | Sort-Object) -join ',')"
"@
        $r = Invoke-ChildPwsh -Script $script
        $r.Error | Should -BeNullOrEmpty
        $r.ExitCode | Should -Be 0
        $r.Output | Should -Match 'before=3\.125\.'
        $r.Output | Should -Match 'probe=ChaosPS\.Docker\.DockerEngineInfo\|False\|unix:///nonexistent/chaosps-test\.sock'
        # Both versions live side by side: the old one in the default context, ChaosPS's in its own.
        $r.Output | Should -Match 'loaded=.*3\.125\.0\.0@Default'
        $r.Output | Should -Match 'loaded=.*4\.\d+\.\d+\.\d+@ChaosPS\.Dependencies'
    }

    It 'imports quickly enough to report (measured, not asserted)' {
        $r = Invoke-ChildPwsh -Script "`$sw=[Diagnostics.Stopwatch]::StartNew(); Import-Module '$modulePath'; `$sw.ElapsedMilliseconds"
        $r.ExitCode | Should -Be 0
        Write-Host "Import-Module ChaosPS: $($r.Output.Trim()) ms in a fresh pwsh"
    }
}
