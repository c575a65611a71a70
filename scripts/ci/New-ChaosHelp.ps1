<#
.SYNOPSIS
    Writes MAML help (ChaosPS.dll-Help.xml) from module/help/<Cmdlet>.md and the cmdlets' own metadata.
.DESCRIPTION
    The markdown holds what a person writes (synopsis, description, parameter descriptions, examples, notes);
    syntax, parameter types, positions and pipeline input come from the built cmdlets, so they never drift.
    Markdown shape, one file per cmdlet:
        # Verb-Noun
        ## SYNOPSIS / ## DESCRIPTION / ## NOTES   free text
        ## PARAMETERS  then  ### -Name  and its description
        ## EXAMPLES    then  ### Example 1: title, a ```powershell fence, and remarks
        ## OUTPUTS     type names, one per line
    It also writes about_ChaosPS_OutputTypes.help.txt beside OutFile: every type a cmdlet outputs (its [OutputType])
    and the ChaosPS types those expose, each with its properties, their types and the summaries from the engine's XML
    documentation, generated from the built types so it stays true.
#>
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $HelpSource,
    [Parameter(Mandatory)] [string] $OutFile
)
$ErrorActionPreference = 'Stop'
$module = Import-Module $ModulePath -PassThru -Force

function Read-HelpMarkdown([string] $path) {
    $doc = @{ Sections = @{}; Parameters = @{}; Examples = [Collections.Generic.List[object]]::new() }
    $section = $null; $sub = $null; $buf = [Text.StringBuilder]::new()
    $flush = {
        $text = $buf.ToString().Trim(); [void]$buf.Clear()
        if (-not $section) { return }
        if ($section -eq 'PARAMETERS' -and $sub) { $doc.Parameters[$sub.TrimStart('-')] = $text }
        elseif ($section -eq 'EXAMPLES' -and $sub) {
            $code = ''; $remarks = $text
            if ($text -match '(?s)```(?:powershell|ps1|pwsh)?\s*\n(.*?)```(.*)') { $code = $Matches[1].Trim(); $remarks = $Matches[2].Trim() }
            $doc.Examples.Add([pscustomobject]@{ Title = $sub; Code = $code; Remarks = $remarks })
        }
        elseif (-not $sub) { $doc.Sections[$section] = $text }
    }
    foreach ($line in Get-Content $path) {
        if ($line -match '^## (.+)$') { & $flush; $section = $Matches[1].Trim().ToUpperInvariant(); $sub = $null; continue }
        if ($line -match '^### (.+)$') { & $flush; $sub = $Matches[1].Trim(); continue }
        if ($line -match '^# ') { continue }
        [void]$buf.AppendLine($line)
    }
    & $flush
    return $doc
}

# -WhatIf and -Confirm belong in SYNTAX and PARAMETERS (users must see them); the always-present common ones do not.
$common = [Management.Automation.Cmdlet]::CommonParameters + @('UseTransaction')
$defaultParamText = @{
    WhatIf  = 'Shows what would happen if the cmdlet runs. The cmdlet is not run.'
    Confirm = 'Prompts you for confirmation before running the cmdlet.'
}

# A type as a person reads it: Nullable<TimeSpan> is TimeSpan, arrays keep [], generics lose their `1.
function Get-FriendlyTypeName([type] $t, [switch] $Full) {
    $u = [Nullable]::GetUnderlyingType($t); if ($u) { $t = $u }
    if ($t.IsArray) { return (Get-FriendlyTypeName $t.GetElementType() -Full:$Full) + '[]' }
    if ($t.IsGenericType) {
        $ga = ($t.GetGenericArguments() | ForEach-Object { Get-FriendlyTypeName $_ -Full:$Full }) -join ', '
        $n = if ($Full) { $t.Namespace + '.' + $t.Name } else { $t.Name }
        return ($n -replace '`\d+$', '') + "[$ga]"
    }
    if ($Full) { $t.FullName } else { $t.Name }
}

# Summaries from the engine's XML documentation (ChaosPS.Engine.xml beside the engine), keyed "P:Type.Property".
$docs = @{}
$engineXml = Get-ChildItem (Join-Path (Split-Path $ModulePath) 'Dependencies') -Filter 'ChaosPS.Engine.xml' -ErrorAction SilentlyContinue | Select-Object -First 1
if ($engineXml) {
    foreach ($m in ([xml](Get-Content $engineXml.FullName -Raw)).doc.members.member) {
        $sum = $m.SelectSingleNode('summary')
        if ($sum) { $docs[$m.GetAttribute('name')] = (($sum.InnerText -replace '\s+', ' ').Trim()) }
    }
}
$settings = [Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [Text.UTF8Encoding]::new($false) }
New-Item -ItemType Directory -Force (Split-Path $OutFile) | Out-Null
$w = [Xml.XmlWriter]::Create($OutFile, $settings)
$maml = 'http://schemas.microsoft.com/maml/2004/10'; $cmd = 'http://schemas.microsoft.com/maml/dev/command/2004/10'; $dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
$w.WriteStartElement('helpItems'); $w.WriteAttributeString('schema', 'maml')
function Para($ns, $text) {
    foreach ($p in ($text -split "(\r?\n){2,}" | Where-Object { $_.Trim() })) { $w.WriteElementString('para', $maml, $p.Trim()) }
}
$missing = @()
foreach ($c in $module.ExportedCmdlets.Values | Sort-Object Name) {
    $md = Join-Path $HelpSource "$($c.Name).md"
    if (-not (Test-Path $md)) { $missing += $c.Name; continue }
    $doc = Read-HelpMarkdown $md
    $w.WriteStartElement('command', 'command', $cmd)
    $w.WriteAttributeString('xmlns', 'maml', $null, $maml); $w.WriteAttributeString('xmlns', 'dev', $null, $dev)
    $w.WriteStartElement('details', $cmd)
    $w.WriteElementString('name', $cmd, $c.Name)
    $w.WriteStartElement('description', $maml); Para $maml $doc.Sections['SYNOPSIS']; $w.WriteEndElement()
    $w.WriteElementString('verb', $cmd, $c.Verb); $w.WriteElementString('noun', $cmd, $c.Noun)
    $w.WriteEndElement()
    $w.WriteStartElement('description', $maml); Para $maml $doc.Sections['DESCRIPTION']; $w.WriteEndElement()

    $writeParam = {
        param($p, $pset)
        $w.WriteStartElement('parameter', $cmd)
        $attr = if ($pset) { $p } else { $null }
        $req = if ($pset) { $p.IsMandatory } else { [bool]($c.Parameters[$p.Name].ParameterSets.Values | Where-Object IsMandatory) }
        $w.WriteAttributeString('required', "$req".ToLowerInvariant())
        $pipe = if ($pset) { $p } else { $c.Parameters[$p.Name].ParameterSets.Values | Select-Object -First 1 }
        $pv = if ($pipe.ValueFromPipeline -and $pipe.ValueFromPipelineByPropertyName) { 'True (ByValue, ByPropertyName)' }
              elseif ($pipe.ValueFromPipeline) { 'True (ByValue)' } elseif ($pipe.ValueFromPipelineByPropertyName) { 'True (ByPropertyName)' } else { 'False' }
        $w.WriteAttributeString('pipelineInput', $pv)
        $pos = if ($pipe.Position -ge 0) { "$($pipe.Position)" } else { 'named' }
        $w.WriteAttributeString('position', $pos)
        $w.WriteElementString('name', $maml, $p.Name)
        $text = $doc.Parameters[$p.Name] ?? $defaultParamText[$p.Name] ?? ''
        # The unit of every duration parameter, from its attribute (so the help cannot disagree with the binding).
        $dt = $c.Parameters[$p.Name].Attributes | Where-Object { $_.GetType().Name -eq 'DurationTransformAttribute' } | Select-Object -First 1
        if ($dt) {
            $text = ($text.TrimEnd() + "`n`n" + $(if ($dt.RequireUnit) {
                "A duration WITH its unit: '100ms', '1.5s', '2m', or a TimeSpan. A bare number is refused (it would be seconds; this value is usually milliseconds)."
            } else {
                "A duration: '500ms', '30s', '5m', '1h', '1m30s', or a TimeSpan. A bare number is SECONDS (30 = 30s)."
            })).Trim()
        }
        $w.WriteStartElement('description', $maml); Para $maml $text ; $w.WriteEndElement()
        # A switch takes no value: SYNTAX shows [-AsJob], not [-AsJob <SwitchParameter>].
        $isSwitch = $p.ParameterType -eq [switch]
        if (-not ($isSwitch -and $pset)) {
            $w.WriteStartElement('parameterValue', $cmd); $w.WriteAttributeString('required', "$(-not $isSwitch)".ToLowerInvariant()); $w.WriteString((Get-FriendlyTypeName $p.ParameterType)); $w.WriteEndElement()
        }
        $w.WriteStartElement('type', $dev); $w.WriteElementString('name', $maml, (Get-FriendlyTypeName $p.ParameterType -Full)); $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteStartElement('syntax', $cmd)
    foreach ($set in $c.ParameterSets) {
        $w.WriteStartElement('syntaxItem', $cmd); $w.WriteElementString('name', $maml, $c.Name)
        foreach ($p in $set.Parameters | Where-Object Name -notin $common) { & $writeParam $p $true }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteStartElement('parameters', $cmd)
    foreach ($p in $c.Parameters.Values | Where-Object Name -notin $common) { & $writeParam $p $false }
    $w.WriteEndElement()
    $w.WriteStartElement('returnValues', $cmd)
    foreach ($t in @($c.OutputType.Name) + @(($doc.Sections['OUTPUTS'] ?? '') -split "`n" | Where-Object { $_.Trim() -and $_.Trim() -notin $c.OutputType.Name })) {
        if (-not $t) { continue }
        $w.WriteStartElement('returnValue', $cmd); $w.WriteStartElement('type', $dev); $w.WriteElementString('name', $maml, $t.Trim()); $w.WriteEndElement()
        $ot = $c.OutputType | Where-Object Name -eq $t.Trim() | Select-Object -First 1
        if ($ot.Type) {
            $names = ($ot.Type.GetProperties() | Where-Object { $_.GetIndexParameters().Count -eq 0 } | ForEach-Object Name) -join ', '
            $w.WriteStartElement('description', $maml); Para $maml "Properties: $names. Each property, its type and meaning: Get-Help about_ChaosPS_OutputTypes."; $w.WriteEndElement()
        }
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    if ($doc.Sections['NOTES']) {
        $w.WriteStartElement('alertSet', $maml); $w.WriteStartElement('alert', $maml); Para $maml $doc.Sections['NOTES']; $w.WriteEndElement(); $w.WriteEndElement()
    }
    $w.WriteStartElement('examples', $cmd)
    foreach ($e in $doc.Examples) {
        $w.WriteStartElement('example', $cmd)
        $w.WriteElementString('title', $maml, "-------------------------- $($e.Title) --------------------------")
        $w.WriteElementString('code', $dev, $e.Code)
        $w.WriteStartElement('remarks', $dev); Para $maml $e.Remarks; $w.WriteEndElement()
        $w.WriteEndElement()
    }
    $w.WriteEndElement()
    $w.WriteEndElement()
}
$w.WriteEndElement(); $w.Flush(); $w.Close()

# about_ChaosPS_OutputTypes: every output type and the ChaosPS types reachable from its properties.
$queue = [Collections.Generic.Queue[type]]::new(); $seen = [Collections.Generic.HashSet[type]]::new(); $producers = @{}
foreach ($c in $module.ExportedCmdlets.Values | Sort-Object Name) {
    foreach ($ot in $c.OutputType) {
        if (-not $ot.Type) { continue }
        $producers[$ot.Type.FullName] = @($producers[$ot.Type.FullName]) + $c.Name | Where-Object { $_ }
        if ($seen.Add($ot.Type)) { $queue.Enqueue($ot.Type) }
    }
}
$sections = [Collections.Generic.List[string]]::new()
while ($queue.Count) {
    $t = $queue.Dequeue()
    if ($t.Namespace -notlike 'ChaosPS*') { continue }
    $sb = [Text.StringBuilder]::new()
    [void]$sb.AppendLine("  $($t.FullName)")
    if ($producers[$t.FullName]) { [void]$sb.AppendLine("    Output of: $($producers[$t.FullName] -join ', ')") }
    if ($docs["T:$($t.FullName)"]) { [void]$sb.AppendLine("    $($docs["T:$($t.FullName)"])") }
    foreach ($p in $t.GetProperties() | Where-Object { $_.GetIndexParameters().Count -eq 0 }) {
        $line = '    {0,-26} {1}' -f $p.Name, (Get-FriendlyTypeName $p.PropertyType)
        [void]$sb.AppendLine($line)
        if ($docs["P:$($t.FullName).$($p.Name)"]) { [void]$sb.AppendLine("        $($docs["P:$($t.FullName).$($p.Name)"])") }
        $inner = $p.PropertyType; $u = [Nullable]::GetUnderlyingType($inner); if ($u) { $inner = $u }
        if ($inner.IsArray) { $inner = $inner.GetElementType() }
        if ($inner.IsGenericType) { $inner = $inner.GetGenericArguments()[-1] }
        if ($inner.Namespace -like 'ChaosPS*' -and -not $inner.IsEnum -and $seen.Add($inner)) { $queue.Enqueue($inner) }
    }
    $ets = Get-TypeData $t.FullName
    if ($ets -and $ets.Members.Count) {
        foreach ($m in $ets.Members.Values | Sort-Object Name) {
            $what = if ($m.ReferencedMemberName) { "alias of $($m.ReferencedMemberName)" }
                    elseif ($m.IsHidden) { 'hidden (Get-Member -Force shows it; serialized for Merge-LoadTestResult)' }
                    else { 'computed (as shown in the table)' }
            [void]$sb.AppendLine(('    {0,-26} {1}' -f $m.Name, $what))
        }
    }
    $sections.Add($sb.ToString())
}
$about = @"
TOPIC
    about_ChaosPS_OutputTypes

SHORT DESCRIPTION
    The objects ChaosPS cmdlets write, and every property a script can read on them.

LONG DESCRIPTION
    This list is generated from the built types at build time, so it always matches the module. Table views show a
    subset; every table header is one of these property names (a short header is an alias property, e.g. Crashes
    is CrashCount). Durations are TimeSpan, sizes are bytes, latencies are milliseconds unless a name says otherwise.
    Verdict cmdlets (Start-LoadTest, Test-GracefulDegradation, Wait-ChaosRecovery) write the result AND, when it did
    not pass, a non-terminating error whose TargetObject is the result (ChaosPS.ThresholdsFailed,
    ChaosPS.NotGraceful, ChaosPS.DegradationInconclusive, ChaosPS.NotRecovered).

$($sections -join "`n")
SEE ALSO
    about_ChaosPS
"@
Set-Content (Join-Path (Split-Path $OutFile) 'about_ChaosPS_OutputTypes.help.txt') $about -Encoding utf8NoBOM
# A cmdlet without help markdown would ship without Get-Help text: the build fails (after the rest was written, so every
# missing name is listed at once).
if ($missing) {
    [Console]::Error.WriteLine("No help markdown for: $($missing -join ', ') (module/help/<Cmdlet>.md); every cmdlet needs one")
    exit 1
}
