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

$common = [Management.Automation.Cmdlet]::CommonParameters + [Management.Automation.Cmdlet]::OptionalCommonParameters
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
        $w.WriteStartElement('description', $maml); Para $maml ($doc.Parameters[$p.Name] ?? '') ; $w.WriteEndElement()
        $w.WriteStartElement('parameterValue', $cmd); $w.WriteAttributeString('required', 'true'); $w.WriteString($p.ParameterType.Name); $w.WriteEndElement()
        $w.WriteStartElement('type', $dev); $w.WriteElementString('name', $maml, $p.ParameterType.FullName); $w.WriteEndElement()
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
    foreach ($t in @($c.OutputType.Name) + @(($doc.Sections['OUTPUTS'] ?? '') -split "`n" | Where-Object { $_.Trim() })) {
        if (-not $t) { continue }
        $w.WriteStartElement('returnValue', $cmd); $w.WriteStartElement('type', $dev); $w.WriteElementString('name', $maml, $t.Trim()); $w.WriteEndElement(); $w.WriteEndElement()
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
if ($missing) { Write-Warning "No help markdown for: $($missing -join ', ') (module/help/<Cmdlet>.md)" }
