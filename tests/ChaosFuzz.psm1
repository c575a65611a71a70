# A fuzz harness for every exported ChaosPS cmdlet: it tries every parameter with extreme, empty, $null and
# wrong-typed values, runs each call in a runspace of its own with a time limit, and classifies the outcome:
#   Refused  an ErrorRecord with a ChaosPS id or a PowerShell parameter-binding id (good)
#   Allowed  no error, and the value is a legitimate one (listed in $script:Allowed with a reason)
#   Raw      an error whose id is a .NET type name, a raw .NET exception inside, or a ChaosPS error without a category
#   Hang     the call did not end within the time limit
#   Silent   no error for a value that makes no sense
# A cmdlet this file has no known-good call for (added later) gets one made of its mandatory parameters; when that
# call is refused (a file it needs does not exist...), the cmdlet is marked BaseGeneric: raw exceptions and hangs still
# fail the test, and a refusal proves less. Add a known-good call to Get-FuzzBases to fuzz it fully.
# Safety: cmdlets that support ShouldProcess always run with -WhatIf (bad input must be refused before
# ShouldProcess anyway); targets are only what the fuzz itself started; traffic only to 127.0.0.1.

Set-StrictMode -Version Latest

$script:CommonParameters = [System.Management.Automation.PSCmdlet]::CommonParameters +
    [System.Management.Automation.PSCmdlet]::OptionalCommonParameters

# PowerShell's own ids for input it refused while binding: fine, they name the parameter and the value.
$script:BindingIds = @(
    'ParameterArgumentValidationError*', 'ParameterArgumentTransformationError*', 'ParameterBindingFailed*',
    'CannotConvertArgument*', 'MissingArgument*', 'InputObjectNotBound*', 'AmbiguousParameterSet*',
    'NamedParameterNotFound*', 'PositionalParameterNotFound*', 'MissingMandatoryParameter*',
    'ParameterArgumentValidationErrorNullNotAllowed*', 'ParameterArgumentValidationErrorEmptyStringNotAllowed*',
    'ParameterArgumentValidationErrorEmptyArrayNotAllowed*', 'ParameterArgumentValidationErrorEmptyCollectionNotAllowed*'
)

# .NET exceptions that mean a bug when they surface, even wrapped inside a binding error.
$script:RawInner = @(
    'System.NullReferenceException', 'System.OverflowException', 'System.ArgumentOutOfRangeException',
    'System.ArgumentNullException', 'System.IndexOutOfRangeException', 'System.InvalidOperationException',
    'System.Collections.Generic.KeyNotFoundException', 'System.DivideByZeroException', 'System.UriFormatException',
    'System.AggregateException', 'System.Threading.Tasks.TaskCanceledException', 'System.ObjectDisposedException'
)

# Ids that say this machine lacks what a cmdlet drives (no GPU here, no Docker engine): its base call cannot pass, so
# only raw exceptions and hangs count for it; refusals prove less (they may come from the missing device).
# NoCounters: the .NET runtime of the sampled worker did not answer within the sampling window (a busy machine).
$script:EnvironmentIds = @('GpuDriverNotInstalled', 'GpuDriverNotLoaded', 'GpuNotFound', 'NvmlError', 'DockerUnavailable', 'DockerNotFound', 'NoCounters')

# Values that are accepted on purpose: 'Cmdlet/Parameter/label' (wildcards allowed) and why.
$script:Allowed = [ordered]@{
    '*/*/switch'                                    = 'not fuzzed'
    'Get-*/Name/str:wildcard'                       = 'a valid wildcard pattern'
    'Get-ChaosExperiment/Tag/str:wildcard'          = 'a valid wildcard pattern over tags'
    'Get-ChaosTarget/Seed/*'                        = 'any integer is a seed'
    'Get-ChaosTarget/Count/int:0'                   = 'zero targets is a valid choice (-Count 0 selects none)'
    'Get-ChaosTarget/Count/int:max'                 = 'more than there are selects all'
    'Get-ChaosTarget/Percent/dbl:0'                 = '0% selects none'
    'Invoke-WorkerCrash/Seed/*'                     = 'any integer is a seed'
    'Invoke-WorkerCrash/Count/int:max'              = 'more than there are selects all'
    'Invoke-WorkerCrash/Percent/dbl:0'              = '0% crashes none'
    '*/ThinkTime/ts:zero'                           = 'no think time'
    'Start-ChaosTestbed/StartupDelay/ts:zero'        = 'no startup delay (the default)'
    'Start-ChaosTestbed/TokenDelay/ts:zero'          = 'tokens as fast as possible'
    'Invoke-VramExhaustion/Device/int:0'            = 'GPU 0'
    'Test-GracefulDegradation/MaxHangs/int:0'       = 'no hang allowed (the default)'
    'Test-GracefulDegradation/MaxErrorRate/dbl:0'   = 'no error allowed'
    '*/Toxicity/dbl:0'                              = 'a fault that never applies is a valid toxiproxy setting'
    '*/Jitter/ts:zero'                              = 'no jitter'
    '*/Delay/ts:zero'                               = 'slow close with no delay'
    '*/Latency/ts:zero'                             = 'zero latency'
    '*/Timeout/ts:zero'                             = ''
    '*/RateKBps/int:0'                              = 'bandwidth 0 = stall (toxiproxy semantics)'
    '*/SizeVariation/int:0'                         = 'no variation'
    'Wait-ChaosRecovery/MinRestartCount/int:0'      = 'zero restarts required'
    'Start-LoadTest/Concurrency/int:max'            = ''
    'Get-GpuInfo/Index/int:0'                       = 'GPU 0'
    'Invoke-CpuExhaustion/Cores/int:0'              = 'all cores (the default)'
    'Get-*/*/str:long'                              = 'a lookup that matches nothing (wildcard semantics: no error)'
    'Get-*/*/str:crlf'                              = 'a lookup that matches nothing (wildcard semantics: no error)'
    'Get-*/*/str:slash'                             = 'a lookup that matches nothing (wildcard semantics: no error)'
    'Get-ChaosTarget/Label/str:wildcard'            = 'a label value may hold any character'
    'Get-ChaosTarget/ProcessId/int:0'               = '0 = a worker without a host process (container), bound from piped workers'
    '*/*Path/str:slash'                             = 'a relative path'
    '*/*Path/str:wildcard'                          = 'a file name may hold brackets'
    '*/*Directory/str:slash'                        = 'a relative path'
    '*/*Directory/str:wildcard'                     = 'a folder name may hold brackets'
    '*/Path/str:slash'                              = 'a relative path'
    '*/Path/str:wildcard'                           = 'a file name may hold brackets'
    'Start-LoadTest/Body/obj:*'                     = 'an object or number is sent as JSON'
    'Write-ChaosAnnotation/Message/pipe:*'          = 'any object is annotated as its text'
    'Write-ChaosAnnotation/*/str:long'              = 'annotation text of any length (escaped for the CI log)'
    'Write-ChaosAnnotation/*/str:wildcard'          = 'annotation text may hold brackets'
    'Write-ChaosAnnotation/*/str:slash'             = 'annotation text or a relative file path'
    'Write-ChaosAnnotation/*/str:crlf'              = 'line breaks are escaped in the annotation'
    'Start-LoadTest/ContentType/str:slash'          = "'a/b' is a media type"
    'Start-LoadTest/JsonPath/ht:*'                  = 'an expected JSON value may be null or negative'
    'Start-LoadTest/Method/str:long'                = 'a custom method token'
    'Wait-ChaosRecovery/InputObject/pipe:null'      = 'nothing piped: the other probes still run'
    '*/BodyMatch/str:crlf'                          = 'a valid regex'
    'Merge-LoadTestResult/Name/str:crlf'            = 'any text is a name'
    'Start-LoadTest/Name/str:crlf'                  = 'any text is a name'
    '*/BodyMatch/str:space'                         = "' ' is a valid regex"
    'Test-GracefulDegradation/MaxHangs/int:max'     = 'tolerate any number of hangs'
    '*/ToxiproxyUri/uri:remote'                     = 'a toxiproxy API server may run on another host (a CI service container); under -WhatIf nothing is sent'
    'Get-ChaosFault/*/str:wildcard'                 = 'a valid wildcard pattern'
    'Get-ChaosProxy/*/str:wildcard'                 = 'a valid wildcard pattern'
    'Get-ChaosTarget/CommandLine/str:wildcard'      = 'a valid wildcard pattern'
    'Get-ChaosTarget/Name/str:wildcard'             = 'a valid wildcard pattern'
    'Merge-LoadTestResult/Name/*'                   = 'any text is a name'
    'Start-LoadTest/Name/*'                         = 'any text is a name (not empty)'
    'Invoke-ChaosInference/Prompt/*'                = 'any text is a prompt'
    '*/BodyContains/str:*'                          = 'any text can be looked for'
    'Test-GracefulDegradation/Body/*'               = 'any text is a body'
    'Start-LoadTest/Body/str:*'                     = 'any text is a body'
    'Get-ChaosTarget/Regex/str:slash'               = 'a valid regex'
    'Get-ChaosTarget/Regex/str:long'                = 'a valid regex'
    '*/BodyMatch/str:slash'                         = 'a valid regex'
    '*/BodyMatch/str:long'                          = 'a valid regex'
    '*/BodyMatch/str:wildcard'                      = 'a valid regex'
}

function ConvertTo-FuzzLabelMatch([string] $Key) {
    foreach ($pattern in $script:Allowed.Keys) { if ($Key -like $pattern) { return $pattern } }
    return $null
}

function Get-FuzzElementType([type] $Type) {
    if ($Type.IsArray) { $Type = $Type.GetElementType() }
    $u = [Nullable]::GetUnderlyingType($Type)
    if ($u) { $Type = $u }
    return $Type
}

# Safe, valid values for a mandatory parameter of a cmdlet the harness knows nothing about.
function Get-FuzzDefaultValue([string] $Name, [type] $Type, $Fixture) {
    $t = Get-FuzzElementType $Type
    if ($Name -match 'Uri$') { return $Fixture.Uri }
    if ($Name -match 'Path$|File$|Directory$') { return (Join-Path $Fixture.Scratch 'fuzz-default') }
    switch ($t.FullName) {
        'System.String' { return 'fuzz' }
        'System.TimeSpan' { return [timespan]::FromMilliseconds(200) }
        'System.Uri' { return [uri]$Fixture.Uri }
        'System.Int32' { return 1 }
        'System.Int64' { return 1 }
        'System.Double' { return 1.0 }
        'System.Management.Automation.ScriptBlock' { return { } }
        'System.Collections.Hashtable' { return @{} }
        'System.Management.Automation.SwitchParameter' { return [switch]$true }
    }
    if ($t.Name -eq 'ChaosTarget') { return $Fixture.Target }
    if ($t.Name -eq 'ChaosTestbed') { return $Fixture.System }
    return 'fuzz'
}

# Known good argument sets per cmdlet (one per parameter set that needs one), aimed at the fuzz's own fixtures.
function Get-FuzzBases([System.Management.Automation.CommandInfo] $Command, $Fixture) {
    $u = $Fixture.HealthUri; $s = $Fixture.Scratch
    $known = @{
        'Start-ChaosTestbed'            = @(@{ Workers = 1; TokenDelay = '1ms' })
        'Stop-ChaosTestbed'             = @(@{ Id = $Fixture.System.Id }, @{ InputObject = $Fixture.System }, @{ All = $true })
        'Invoke-ChaosInference'        = @(@{ Uri = $Fixture.Uri; MaxTokens = 1; Timeout = '5s' })
        'Get-ChaosDockerEngine'        = @(@{})
        'Get-ChaosFault'               = @(@{})
        'Restore-ChaosFault'           = @(@{ Id = 'fuzz-none' }, @{ All = $true })
        'Start-ChaosProxy'             = @(@{ Name = 'fuzzp2'; Upstream = $Fixture.Upstream })
        'Get-ChaosProxy'               = @(@{})
        'Stop-ChaosProxy'              = @(@{ Name = $Fixture.Proxy })
        'Enable-ChaosProxy'            = @(@{ Name = $Fixture.Proxy })
        'Disable-ChaosProxy'           = @(@{ Name = $Fixture.Proxy })
        'Add-NetworkFault'             = @(@{ Proxy = $Fixture.Proxy; Type = 'Latency'; Latency = '10ms' })
        'Remove-NetworkFault'          = @(@{ Proxy = $Fixture.Proxy; Name = 'fuzz-none' }, @{ Proxy = $Fixture.Proxy; All = $true })
        'Invoke-NetworkFault'          = @(@{ Proxy = $Fixture.Proxy; Type = 'Latency'; Latency = '10ms'; Duration = '200ms' })
        'Start-ChaosProxyServer'       = @(@{ Listen = '127.0.0.1:0' })
        'Stop-ChaosProxyServer'        = @(@{ Listen = $Fixture.ProxyServer })
        'Get-ChaosTarget'              = @(@{ ProcessId = $Fixture.Target.ProcessId })
        'Invoke-WorkerCrash'           = @(@{ Target = $Fixture.Target })
        'Suspend-ChaosTarget'          = @(@{ Target = $Fixture.Target; Duration = '200ms' })
        'Resume-ChaosTarget'           = @(@{ Target = $Fixture.Target })
        'Invoke-WorkerOom'             = @(@{ Target = $Fixture.Target })
        'Wait-ChaosRecovery'           = @(@{ Uri = $u; Timeout = '1s' })
        'Get-WorkerDiagnostics'        = @(@{ Target = $Fixture.Target; Duration = '1s'; Interval = '1s' }, @{ ProcessId = $Fixture.Target.ProcessId; Duration = '1s'; Interval = '1s' })
        'Save-WorkerDump'              = @(@{ Target = $Fixture.Target; Path = (Join-Path $s 'dump') }, @{ ProcessId = $Fixture.Target.ProcessId; Path = (Join-Path $s 'dump') })
        'Invoke-CpuExhaustion'         = @(@{ Percent = 10; Duration = '200ms' })
        'Invoke-MemoryExhaustion'      = @(@{ Percent = 10; Duration = '200ms' }, @{ Size = '1MB'; Duration = '200ms' })
        'Invoke-DiskExhaustion'        = @(@{ Path = $s; Percent = 10; Duration = '200ms'; Force = $true }, @{ Path = $s; LeaveFree = '1GB'; Duration = '200ms'; Force = $true })
        'Invoke-VramExhaustion'        = @(@{ Percent = 10; Duration = '200ms' }, @{ Size = '1MB'; Duration = '200ms' })
        'Get-GpuInfo'                  = @(@{})
        'Invoke-FileDescriptorExhaustion' = @(@{ Count = 10; Duration = '200ms' }, @{ ProcessId = $Fixture.Target.ProcessId; Duration = '200ms' })
        'Invoke-ConnectionExhaustion'  = @(@{ Uri = $u; Count = 2; Duration = '200ms' })
        'Test-GracefulDegradation'     = @(@{ Uri = $u; Stress = { }; Baseline = '200ms' })
        'Start-LoadTest'               = @(@{ Uri = $u; Iterations = 1; Concurrency = 1 }, @{ RequestFile = $Fixture.RequestFile; Uri = $u; Iterations = 1; Concurrency = 1 })
        'Export-LoadTestReport'        = @(@{ InputObject = $Fixture.LoadResult; Path = (Join-Path $s 'report.json') })
        'Merge-LoadTestResult'         = @(@{ InputObject = @($Fixture.LoadResult) })
    }
    # CHAOSPS_FUZZ_GENERIC names cmdlets to fuzz as if this file did not know them (to check that path).
    if ($env:CHAOSPS_FUZZ_GENERIC -and $Command.Name -in ($env:CHAOSPS_FUZZ_GENERIC -split ',')) { $known.Remove($Command.Name) }
    $script:GenericBases = -not $known.ContainsKey($Command.Name)
    if ($known.ContainsKey($Command.Name)) { return $known[$Command.Name] }
    # Unknown cmdlet (added after this file was written): one base per parameter set, mandatory parameters filled.
    $bases = foreach ($set in $Command.ParameterSets) {
        $b = @{}
        foreach ($p in $set.Parameters) {
            if ($p.IsMandatory -and $p.Name -notin $script:CommonParameters) {
                $b[$p.Name] = Get-FuzzDefaultValue $p.Name $p.ParameterType $Fixture
            }
        }
        $b
    }
    return @($bases)
}

# The bad values for one parameter, by its type and name: @{ Label; Value; Pipe }.
function Get-FuzzValues([System.Management.Automation.ParameterMetadata] $Parameter) {
    $t = Get-FuzzElementType $Parameter.ParameterType
    $isArray = $Parameter.ParameterType.IsArray
    $name = $Parameter.Name
    $v = [System.Collections.Generic.List[object]]::new()
    function add($label, $value) { $v.Add([pscustomobject]@{ Label = $label; Value = $value; Pipe = $false }) }
    $uriLike = $name -match 'Uri$|Endpoint$|^Listen$|^Upstream$'
    switch ($t.FullName) {
        'System.Management.Automation.SwitchParameter' { return }
        { $_ -in 'System.Int32', 'System.Int64', 'System.Int16', 'System.Byte' } {
            add 'int:0' 0; add 'int:-1' (-1)
            if ($_ -eq 'System.Int64') { add 'int:max' ([long]::MaxValue); add 'int:min' ([long]::MinValue) }
            else { add 'int:max' ([int]::MaxValue); add 'int:min' ([int]::MinValue) }
            add 'wrongtype' 'abc'
        }
        'System.Double' {
            add 'dbl:0' 0.0; add 'dbl:-1' (-1.0); add 'dbl:nan' ([double]::NaN); add 'dbl:inf' ([double]::PositiveInfinity)
            add 'dbl:-inf' ([double]::NegativeInfinity); add 'dbl:huge' 1e308
        }
        'System.TimeSpan' {
            add 'ts:max' ([timespan]::MaxValue); add 'ts:min' ([timespan]::MinValue); add 'ts:zero' ([timespan]::Zero)
            add 'ts:neg' ([timespan]::FromSeconds(-1)); add 'ts:unitless' '100'; add 'ts:huge' '100000000h'
        }
        'System.DateTimeOffset' { add 'date:max' ([DateTimeOffset]::MaxValue); add 'date:min' ([DateTimeOffset]::MinValue) }
        'System.Uri' {
            add 'uri:relative' 'abc'; add 'uri:empty' ''; add 'uri:ftp' 'ftp://127.0.0.1/'; add 'uri:remote' 'http://192.0.2.1:9/'
            add 'str:null' $null
        }
        'System.String' {
            add 'str:empty' ''; add 'str:space' ' '; add 'str:null' $null; add 'str:long' ('x' * 5000)
            add 'str:wildcard' '[z-a]'; add 'str:slash' 'a/b'; add 'str:crlf' "a`r`nb"
            if ($uriLike) {
                add 'uri:relative' 'abc'; add 'uri:ftp' 'ftp://127.0.0.1/'; add 'uri:remote' 'http://192.0.2.1:9/'
                add 'uri:badv6' '[::1'
            }
        }
        'System.Collections.Hashtable' { add 'ht:null' $null; add 'ht:nullvalue' @{ x = $null }; add 'ht:negative' @{ latency = -5 } }
        'System.Management.Automation.ScriptBlock' { add 'sb:null' $null }
        default {
            # Objects, engine types (targets, sizes, results): nothing, wrong objects.
            add 'obj:null' $null; add 'obj:string' 'abc'; add 'obj:custom' ([pscustomobject]@{ Name = 'x' }); add 'obj:number' (-1)
            if ($t.FullName -in 'System.Object', 'System.Management.Automation.PSObject') { add 'obj:scriptblock' { 'x' } }
        }
    }
    if ($isArray) { add 'arr:empty' (, @()); add 'arr:nullelem' (, @($null)); if ($t -eq [string]) { add 'arr:emptyelem' (, @('')) } }
    if ($Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.ValueFromPipeline }) {
        foreach ($x in @(
                @{ L = 'pipe:custom'; V = [pscustomobject]@{ Name = 'x' } }, @{ L = 'pipe:number'; V = 42 },
                @{ L = 'pipe:null'; V = $null }, @{ L = 'pipe:string'; V = 'abc' })) {
            $v.Add([pscustomobject]@{ Label = $x.L; Value = $x.V; Pipe = $true })
        }
    }
    return $v
}

function Test-FuzzRawRecord([System.Management.Automation.ErrorRecord] $Record) {
    $id = ($Record.FullyQualifiedErrorId -split ',')[0]
    if ($id -match 'Exception$' -or $id -eq '' -or $id -match '^System\.') { return "id '$id' is a .NET type name" }
    $isBinding = [bool]($script:BindingIds | Where-Object { $id -like $_ })
    $e = $Record.Exception
    while ($e) {
        if ($e.GetType().Name -eq 'ChaosException') { break }
        if ($e.GetType().FullName -in $script:RawInner) { return "raw $($e.GetType().FullName): $($e.Message)" }
        $e = $e.InnerException
    }
    if (-not $isBinding -and $Record.CategoryInfo.Category -eq 'NotSpecified') { return "id '$id' has no error category" }
    return $null
}

function New-FuzzRunspace([string] $ModulePath) {
    $iss = [initialsessionstate]::CreateDefault2()
    $iss.ImportPSModule($ModulePath)
    $rs = [runspacefactory]::CreateRunspace($iss)
    $rs.Open()
    $rs.SessionStateProxy.SetVariable('ProgressPreference', 'SilentlyContinue')
    $rs.SessionStateProxy.SetVariable('ConfirmPreference', 'None')
    return $rs
}

# Runs one call; returns @{ Outcome; Detail; Output }. A call still running after $TimeoutSeconds is a hang (generous:
# a good call here takes well under a second; the limit only has to tell a hang from a slow machine).
function Invoke-FuzzCall($Runspace, [string] $Command, [hashtable] $Arguments, $PipeInput, [bool] $UsePipe, [int] $TimeoutSeconds) {
    $ps = [powershell]::Create()
    $ps.Runspace = $Runspace
    [void]$ps.AddCommand($Command)
    foreach ($k in $Arguments.Keys) { [void]$ps.AddParameter($k, $Arguments[$k]) }
    $inputBuffer = [System.Management.Automation.PSDataCollection[object]]::new()
    if ($UsePipe) { $inputBuffer.Add($PipeInput) }
    $inputBuffer.Complete()
    $outputBuffer = [System.Management.Automation.PSDataCollection[object]]::new()
    $async = $ps.BeginInvoke($inputBuffer, $outputBuffer)
    $records = [System.Collections.Generic.List[System.Management.Automation.ErrorRecord]]::new()
    if (-not $async.AsyncWaitHandle.WaitOne([timespan]::FromSeconds($TimeoutSeconds))) {
        $stop = $ps.BeginStop($null, $null)
        $stopped = $stop.AsyncWaitHandle.WaitOne([timespan]::FromSeconds(10))
        return @{ Outcome = 'Hang'; Detail = "no end after ${TimeoutSeconds}s$(if (-not $stopped) { '; Stop did not end it either' })"; Output = @(); Broken = -not $stopped }
    }
    try { $null = $ps.EndInvoke($async) }
    catch {
        $ex = $_.Exception
        while ($ex -is [System.Management.Automation.MethodInvocationException] -and $ex.InnerException) { $ex = $ex.InnerException }
        if ($ex -is [System.Management.Automation.IContainsErrorRecord]) { $records.Add($ex.ErrorRecord) }
        else { return @{ Outcome = 'Raw'; Detail = "raw $($ex.GetType().FullName): $($ex.Message)"; Output = @() } }
    }
    foreach ($r in $ps.Streams.Error) { $records.Add($r) }
    $output = @($outputBuffer)
    $ps.Dispose()
    foreach ($r in $records) {
        $raw = Test-FuzzRawRecord $r
        if ($raw) { return @{ Outcome = 'Raw'; Detail = "$raw [$($r.FullyQualifiedErrorId)] $($r.Exception.Message)"; Output = $output } }
    }
    if ($records.Count) { return @{ Outcome = 'Refused'; Detail = $records[0].FullyQualifiedErrorId; Output = $output } }
    return @{ Outcome = 'Accepted'; Detail = ''; Output = $output }
}

function Test-FuzzOptionalByPropertyName([System.Management.Automation.ParameterMetadata] $Parameter) {
    $attrs = @($Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] })
    return [bool](@($attrs | Where-Object ValueFromPipelineByPropertyName).Count -and -not @($attrs | Where-Object Mandatory).Count)
}

function Get-FuzzBaseFor($Command, $Bases, [string] $ParameterName) {
    $p = $Command.Parameters[$ParameterName]
    $pSets = @($p.ParameterSets.Keys)
    foreach ($b in $Bases) {
        $sets = $null
        foreach ($k in $b.Keys) {
            $ks = @($Command.Parameters[$k].ParameterSets.Keys)
            if ($ks -contains '__AllParameterSets') { continue }
            $sets = if ($null -eq $sets) { $ks } else { @($sets | Where-Object { $_ -in $ks }) }
        }
        if ($null -eq $sets -or $pSets -contains '__AllParameterSets' -or @($pSets | Where-Object { $_ -in $sets }).Count) { return $b }
    }
    return $Bases[0]
}

<#
.SYNOPSIS
    Fuzzes every parameter of every exported cmdlet of the module; returns one object per call.
#>
function Invoke-ChaosFuzz {
    param(
        [Parameter(Mandatory)] [string] $ModulePath,
        [Parameter(Mandatory)] $Fixture,
        [string[]] $Include = '*',
        [int] $TimeoutSeconds = 20
    )
    $module = Get-Module ChaosPS
    $rs = New-FuzzRunspace $ModulePath
    try {
        $cmds = @($module.ExportedCmdlets.Values | Where-Object { $n = $_.Name; @($Include | Where-Object { $n -like $_ }).Count } | Sort-Object Name)
        foreach ($cmd in $cmds) {
            $bases = @(Get-FuzzBases $cmd $Fixture)
            $shouldProcess = $cmd.Parameters.ContainsKey('WhatIf')
            # The bases themselves must run cleanly, or every refusal below proves nothing.
            foreach ($b in $bases) {
                $a = @{} + $b
                if ($shouldProcess) { $a.WhatIf = $true }
                $r = Invoke-FuzzCall $rs $cmd.Name $a $null $false $TimeoutSeconds
                Clear-FuzzOutput $r.Output
                $baseOutcome = if ($r.Outcome -eq 'Accepted') { 'Allowed' } elseif ($r.Outcome -eq 'Refused' -and ($script:EnvironmentIds | Where-Object { $r.Detail -like "$_,*" })) { 'Unavailable' } elseif ($r.Outcome -eq 'Refused' -and $script:GenericBases) { 'BaseGeneric' } else { 'BaseFailed' }
                [pscustomobject]@{ Cmdlet = $cmd.Name; Parameter = '(base)'; Label = ($b.Keys -join ','); Outcome = $baseOutcome; Detail = $r.Detail; Ms = 0 }
                if ($r["Broken"]) { $rs = New-FuzzRunspace $ModulePath }
            }
            # Cmdlets that bind only by property name: pipe objects that do not have the properties they need.
            $byValue = @($cmd.Parameters.Values | Where-Object { $_.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.ValueFromPipeline } })
            $byName = @($cmd.Parameters.Values | Where-Object { $_.Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.ValueFromPipelineByPropertyName } })
            if (-not $byValue.Count -and $byName.Count) {
                foreach ($val in @([pscustomobject]@{ Label = 'pipe:custom'; Value = [pscustomobject]@{ Name = 'x' } }, [pscustomobject]@{ Label = 'pipe:number'; Value = 42 })) {
                    foreach ($base in $bases) {
                        $a = @{} + $base
                        foreach ($k in @($a.Keys)) { if ($cmd.Parameters[$k].Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and $_.ValueFromPipelineByPropertyName -and $_.Mandatory }) { $a.Remove($k) } }
                        if ($shouldProcess) { $a.WhatIf = $true }
                        $clock = [Diagnostics.Stopwatch]::StartNew()
                        $r = Invoke-FuzzCall $rs $cmd.Name $a $val.Value $true $TimeoutSeconds
                        Clear-FuzzOutput $r.Output
                        $outcome = $r.Outcome; $detail = $r.Detail
                        if ($outcome -eq 'Accepted') {
                            $match = ConvertTo-FuzzLabelMatch "$($cmd.Name)/(pipeline)/$($val.Label)"
                            if ($match) { $outcome = 'Allowed'; $detail = $script:Allowed[$match] } else { $outcome = 'Silent'; $detail = "accepted; wrote $(@($r.Output).Count) object(s)" }
                        }
                        [pscustomobject]@{ Cmdlet = $cmd.Name; Parameter = '(pipeline)'; Label = $val.Label; Outcome = $outcome; Detail = $detail; Ms = $clock.ElapsedMilliseconds }
                        if ($r['Broken']) { $rs.Dispose(); $rs = New-FuzzRunspace $ModulePath }
                    }
                }
            }
            foreach ($pname in ($cmd.Parameters.Keys | Sort-Object)) {
                if ($pname -in $script:CommonParameters) { continue }
                $p = $cmd.Parameters[$pname]
                $base = Get-FuzzBaseFor $cmd $bases $pname
                foreach ($val in (Get-FuzzValues $p)) {
                    $a = @{} + $base
                    $a.Remove($pname)
                    if ($val.Pipe) {
                        # Pipe input alone: drop every base argument that could also take it.
                        foreach ($k in @($a.Keys)) { if ($cmd.Parameters[$k].Attributes | Where-Object { $_ -is [System.Management.Automation.ParameterAttribute] -and ($_.ValueFromPipeline -or $_.ValueFromPipelineByPropertyName) -and $_.Mandatory }) { $a.Remove($k) } }
                    }
                    else { $a[$pname] = $val.Value }
                    if ($shouldProcess) { $a.WhatIf = $true }
                    $clock = [Diagnostics.Stopwatch]::StartNew()
                    $r = Invoke-FuzzCall $rs $cmd.Name $a $val.Value $val.Pipe $TimeoutSeconds
                    Clear-FuzzOutput $r.Output
                    $outcome = $r.Outcome
                    $detail = $r.Detail
                    if ($outcome -eq 'Accepted' -and $val.Label -in 'str:null', 'obj:null' -and (Test-FuzzOptionalByPropertyName $p)) {
                        $outcome = 'Allowed'; $detail = 'null from a piped property means "not given"'
                    }
                    elseif ($outcome -eq 'Accepted') {
                        $match = ConvertTo-FuzzLabelMatch "$($cmd.Name)/$pname/$($val.Label)"
                        if ($match) { $outcome = 'Allowed'; $detail = $script:Allowed[$match] } else { $outcome = 'Silent'; $detail = "accepted; wrote $(@($r.Output).Count) object(s)" }
                    }
                    [pscustomobject]@{ Cmdlet = $cmd.Name; Parameter = $pname; Label = $val.Label; Outcome = $outcome; Detail = $detail; Ms = $clock.ElapsedMilliseconds }
                    if ($r["Broken"]) { $rs.Dispose(); $rs = New-FuzzRunspace $ModulePath }
                }
            }
        }
    }
    finally { $rs.Dispose() }
}

# Undoes whatever an accepted call started (only Start-ChaosTestbed starts something without -WhatIf).
function Clear-FuzzOutput($Output) {
    foreach ($o in @($Output)) {
        if ($null -ne $o -and $o.GetType().Name -eq 'ChaosTestbed') { Stop-ChaosTestbed -InputObject $o -Confirm:$false -ErrorAction SilentlyContinue | Out-Null }
        if ($o -is [System.Management.Automation.Job]) { Stop-Job $o -ErrorAction SilentlyContinue; Remove-Job $o -Force -ErrorAction SilentlyContinue }
    }
}

Export-ModuleMember -Function Invoke-ChaosFuzz
