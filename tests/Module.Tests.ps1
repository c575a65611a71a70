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

    It 'keeps the testbed cmdlets'' earlier names as aliases, and exports no other alias' {
        $listed = (Import-PowerShellDataFile $modulePath).AliasesToExport | Sort-Object
        $listed | Should -Be @('Start-ChaosTarget', 'Stop-ChaosTarget')
        ($module.ExportedAliases.Keys | Sort-Object) | Should -Be $listed
        (Get-Alias Start-ChaosTarget).ResolvedCommandName | Should -Be 'Start-ChaosTestbed'
        (Get-Alias Stop-ChaosTarget).ResolvedCommandName | Should -Be 'Stop-ChaosTestbed'
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

    It 'documents each of its parameters in module/help, and only those' {
        # module/help/<Cmdlet>.md is where parameter help is written (scripts/ci/New-ChaosHelp.ps1 builds the MAML from
        # it); a parameter without a section there would ship with empty help, a section without a parameter is stale.
        $md = Join-Path $PSScriptRoot "../module/help/$Name.md"
        Test-Path $md | Should -BeTrue
        $sections = @{}
        $current = $null
        foreach ($line in Get-Content $md) {
            if ($line -match '^### -(\w+)\s*$') { $current = $Matches[1]; $sections[$current] = ''; continue }
            if ($line -match '^##') { $current = $null; continue }
            if ($current) { $sections[$current] += $line.Trim() }
        }
        # -WhatIf and -Confirm get the standard text from the generator; the always-present common ones have none.
        $skip = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
        $params = @($cmd.Parameters.Keys | Where-Object { $_ -notin $skip })
        @($params | Where-Object { -not $sections.ContainsKey($_) }) | Should -BeNullOrEmpty -Because "every parameter of $Name needs a ### -Name section in $Name.md"
        @($sections.Keys | Where-Object { $_ -notin $skip -and $_ -notin $params }) | Should -BeNullOrEmpty -Because "$Name.md must not document parameters $Name does not have"
        foreach ($p in $params) { $sections[$p] | Should -Not -BeNullOrEmpty -Because "-$p needs a description in $Name.md" }
    }

    It 'ships each parameter''s text in its built help (Get-Help -Parameter)' {
        $skip = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
        foreach ($p in @($cmd.Parameters.Keys | Where-Object { $_ -notin $skip })) {
            $text = (Get-Help $Name -Parameter $p).description.Text -join ' '
            $text.Trim() | Should -Not -BeNullOrEmpty -Because "Get-Help $Name -Parameter $p must show the text of module/help/$Name.md"
        }
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

Describe 'Fault types the network cmdlets offer' -Tag Unit {
    It '<_> -Type offers exactly the toxic types the engine registers (plus Down)' -ForEach 'Add-NetworkFault', 'Invoke-NetworkFault' {
        # The engine loads in the module's own load context when a cmdlet first needs it; its registry is reached
        # through the loaded assembly.
        Get-ChaosProxy | Out-Null
        $engine = [AppDomain]::CurrentDomain.GetAssemblies() | Where-Object { $_.GetName().Name -eq 'ChaosPS.Engine' } | Select-Object -First 1
        $engine | Should -Not -BeNullOrEmpty
        $registered = @($engine.GetType('ChaosPS.Network.ToxicRegistry', $true)::All | ForEach-Object FriendlyName) + 'Down'
        $set = (Get-Command $_).Parameters['Type'].Attributes | Where-Object { $_ -is [System.Management.Automation.ValidateSetAttribute] }
        @($set.ValidValues | Sort-Object) | Should -Be @($registered | Sort-Object) -Because 'the -Type list in NetworkCmdletSupport.cs is kept by hand: add a new toxic''s FriendlyName there'
    }
}

Describe 'Parameter help is written once' -Tag Unit {
    It 'has no /// comment on a [Parameter] property in src/ChaosPS/Commands (module/help/Verb-Noun.md is the one place)' {
        # The shipped help is built from module/help/<Cmdlet>.md; a /// comment on a parameter is a second copy that
        # drifts from it.
        $found = foreach ($file in Get-ChildItem "$PSScriptRoot/../src/ChaosPS/Commands" -Filter *.cs) {
            $text = Get-Content $file.FullName -Raw
            $cmdlet = if ($text -match '\[Cmdlet\(\s*Verbs\w+\.(\w+)\s*,\s*"(\w+)"') { "$($Matches[1])-$($Matches[2])" } else { $null }
            # One member at a time: the lines from the end of the previous member (a code line ending in ; { or })
            # to the end of this one, so a doc comment, the attributes and the property are seen together.
            $chunk = [Collections.Generic.List[string]]::new()
            foreach ($line in (Get-Content $file.FullName)) {
                $chunk.Add($line)
                $code = $line.Trim()
                if ($code.StartsWith('//') -or $code -notmatch '[;{}]$') { continue }
                $member = $chunk -join "`n"
                if ($member -match '(?m)^\s*\[Parameter\b' -and $member -match '(?m)^\s*///' -and $member -match '(\w+)\s*\{\s*get') {
                    $where = if ($cmdlet) { "module/help/$cmdlet.md" } else { 'module/help/<Cmdlet>.md of each cmdlet that inherits it' }
                    "-$($Matches[1]) in $($file.Name) has a /// comment: write its help in $where (### -$($Matches[1])) and delete the comment"
                }
                $chunk.Clear()
            }
        }
        @($found) | Should -BeNullOrEmpty
    }
}

Describe 'The help generator' -Tag Unit {
    It 'fails the build, naming the cmdlet, when a cmdlet has no help markdown' {
        # A copy of module/help without one cmdlet's file: the generator must exit non-zero and say which is missing.
        $src = Join-Path $TestDrive 'help'
        Copy-Item (Join-Path $PSScriptRoot '../module/help') $src -Recurse
        Remove-Item (Join-Path $src 'Add-NetworkFault.md')
        $exe = @(Get-PwshPath)
        $out = & $exe[0] @($exe | Select-Object -Skip 1) -NoProfile -NonInteractive -File (Join-Path $PSScriptRoot '../scripts/ci/New-ChaosHelp.ps1') `
            -ModulePath $modulePath -HelpSource $src -OutFile (Join-Path $TestDrive 'out/ChaosPS.dll-Help.xml') 2>&1 | Out-String
        $LASTEXITCODE | Should -Not -Be 0 -Because "the generator printed: $out"
        $out | Should -Match 'No help markdown for: Add-NetworkFault'
    }
}
