# Contract tests for every exported cmdlet: what the module promises users, checked on the built module.
BeforeDiscovery {
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    $module = Import-Module (Get-ChaosModulePath) -PassThru -Force
    $script:cmdlets = @($module.ExportedCmdlets.Values | ForEach-Object { @{ Name = $_.Name } })
    # Cmdlets that change the state of something outside ChaosPS: ShouldProcess with ConfirmImpact High.
    $destructiveNames = @(
        'Invoke-WorkerCrash', 'Suspend-ChaosTarget', 'Invoke-WorkerOom', 'Save-WorkerDump',
        'Invoke-CpuExhaustion', 'Invoke-MemoryExhaustion', 'Invoke-DiskExhaustion', 'Invoke-VramExhaustion',
        'Invoke-FileDescriptorExhaustion', 'Invoke-ConnectionExhaustion', 'Test-GracefulDegradation',
        'Add-NetworkFault', 'Invoke-NetworkFault'
    )
    $script:destructive = @($cmdlets | Where-Object { $_.Name -in $destructiveNames })
}

BeforeAll {
    Import-Module "$PSScriptRoot/TestHelpers.psm1" -Force
    $script:modulePath = Get-ChaosModulePath
    $script:module = Import-Module $modulePath -PassThru -Force
}

Describe 'The module manifest' -Tag Unit {
    It 'is a valid manifest with the version build.ps1 stamped' {
        $m = Test-ModuleManifest $modulePath
        $m.Version | Should -Be (Import-PowerShellDataFile "$PSScriptRoot/../ChaosPS.psd1").ModuleVersion
        Split-Path (Split-Path $modulePath) -Leaf | Should -Be $m.Version.ToString()
    }

    It 'exports exactly the cmdlets it lists, and each one exists' {
        $listed = (Import-PowerShellDataFile $modulePath).CmdletsToExport | Sort-Object
        ($module.ExportedCmdlets.Keys | Sort-Object) | Should -Be $listed
    }

    It 'ships its format views and help' {
        $base = Split-Path $modulePath
        (Import-PowerShellDataFile $modulePath).FormatsToProcess | Should -Not -BeNullOrEmpty
        Test-Path "$base/en-US/ChaosPS.dll-Help.xml" | Should -BeTrue
        Test-Path "$base/en-US/about_ChaosPS.help.txt" | Should -BeTrue
        (Get-Help about_ChaosPS | Out-String) | Should -Match 'fault ledger'
    }

    It 'keeps third-party assemblies out of the module root (they load in the module''s own context)' {
        $base = Split-Path $modulePath
        (Get-ChildItem $base -Filter *.dll).Name | Should -Be @('ChaosPS.dll')
        Test-Path "$base/Dependencies/ChaosPS.Engine.dll" | Should -BeTrue
        Test-Path "$base/Dependencies/Docker.DotNet.dll" | Should -BeTrue
    }
}

Describe 'Cmdlet <Name>' -Tag Unit -ForEach $cmdlets {
    BeforeAll {
        $script:cmd = Get-Command $Name
        $script:meta = [System.Management.Automation.CommandMetadata]::new($cmd)
        $script:help = Get-Help $Name -Full
    }

    It 'uses an approved verb' {
        (Get-Verb).Verb | Should -Contain $cmd.Verb
    }

    It 'declares its output type' {
        $cmd.OutputType | Should -Not -BeNullOrEmpty
    }

    It 'has help with a synopsis, a description and at least one example' {
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis.Trim().StartsWith($Name) | Should -BeFalse -Because 'an auto-generated synopsis is just the syntax line'
        ($help.Description | Out-String).Trim() | Should -Not -BeNullOrEmpty
        @($help.Examples.Example).Count | Should -BeGreaterThan 0
        $help.Examples.Example[0].Code | Should -Match ([regex]::Escape($Name))
    }
}

Describe 'Destructive cmdlet <Name>' -Tag Unit -ForEach $destructive {
    It 'asks before it changes anything (ShouldProcess, ConfirmImpact High)' {
        $meta = [System.Management.Automation.CommandMetadata]::new((Get-Command $Name))
        $meta.SupportsShouldProcess | Should -BeTrue
        $meta.ConfirmImpact | Should -Be 'High'
    }
}

Describe 'Duration and size parameters' -Tag Unit {
    It 'accept 500ms, 30s, 5m and TimeSpans, and reject nonsense with a clear error' {
        { Start-ChaosTestbed -TokenDelay '30x' } | Should -Throw -ExpectedMessage "*'30x'*"
        { Start-ChaosTestbed -TokenDelay '-1s' } | Should -Throw -ErrorId 'ParameterArgumentTransformationError,ChaosPS.Commands.StartChaosTestbedCommand'
    }
}
