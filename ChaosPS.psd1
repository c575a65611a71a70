@{
    # The one place the version lives: build.ps1 reads it and stamps every assembly with it.
    ModuleVersion        = '0.1.0'
    GUID                 = '5f7a3c2e-8d1b-4e6a-9c0f-2b4d6e8a1c3f'
    RootModule           = 'ChaosPS.dll'
    Author               = 'ChaosPS'
    CompanyName          = 'ChaosPS'
    Copyright            = '(c) ChaosPS contributors. MIT licence.'
    Description          = 'Chaos, load and stress testing for services: crash workers, break the network, fill disks and memory, drive load with exact percentiles, and measure recovery.'
    PowerShellVersion    = '7.6'
    CompatiblePSEditions = @('Core')
    # build.ps1 fills FormatsToProcess/TypesToProcess from module/formats and module/types.
    FormatsToProcess     = @()
    TypesToProcess       = @()
    CmdletsToExport      = @(
        'Start-ChaosTestbed'
        'Stop-ChaosTestbed'
        'Invoke-ChaosInference'
        'Get-ChaosDockerEngine'
        'Get-ChaosFault'
        'Restore-ChaosFault'
        'Start-ChaosProxy'
        'Get-ChaosProxy'
        'Stop-ChaosProxy'
        'Enable-ChaosProxy'
        'Disable-ChaosProxy'
        'Add-NetworkFault'
        'Remove-NetworkFault'
        'Invoke-NetworkFault'
        'Add-PacketFault'
        'Invoke-PacketFault'
        'Start-ChaosProxyServer'
        'Stop-ChaosProxyServer'
        'Get-ChaosTarget'
        'Invoke-WorkerCrash'
        'Suspend-ChaosTarget'
        'Resume-ChaosTarget'
        'Invoke-WorkerOom'
        'Wait-ChaosRecovery'
        'Get-WorkerDiagnostics'
        'Save-WorkerDump'
        'Invoke-CpuExhaustion'
        'Invoke-MemoryExhaustion'
        'Invoke-DiskExhaustion'
        'Invoke-VramExhaustion'
        'Get-GpuInfo'
        'Invoke-FileDescriptorExhaustion'
        'Invoke-ConnectionExhaustion'
        'Test-GracefulDegradation'
        'Start-LoadTest'
        'Export-LoadTestReport'
        'Merge-LoadTestResult'
        'Export-ChaosExperimentReport'
        'Get-ChaosExperimentTestCase'
        'Write-ChaosAnnotation'
        'Invoke-ChaosExperiment'
        'Test-ChaosExperiment'
        'Get-ChaosExperiment'
    )
    # Pester 5 Should operators (-HaveRecovered, -PassThresholds, -BeGraceful, -HoldSteadyState); see about_ChaosPS.
    NestedModules        = @('ChaosPS.Pester.psm1')
    FunctionsToExport    = @('Register-ChaosShouldOperator')
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('chaos', 'load-testing', 'stress-testing', 'resilience', 'pester', 'docker', 'toxiproxy')
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
