<#
    Demo part: load. 10 s of open-model load through the router with k6-style thresholds, every one evaluated; the
    result as a table, and as a self-contained HTML report and JUnit file for a pipeline to publish.
#>
param($Target, [string] $OutDir)
$r = Start-LoadTest -Uri "$($Target.RouterUri)v1/infer" -Method POST -Body '{"prompt":"hello","max_tokens":4}' `
    -Rate 200 -Duration 10s -Threshold 'http_req_duration: p(95)<500', 'http_req_failed: rate<0.01'
$r | Format-List | Out-Host
$r | Export-LoadTestReport -Path (Join-Path $OutDir 'load.html') -Format Html
$r | Export-LoadTestReport -Path (Join-Path $OutDir 'load-junit.xml') -Format JUnit
Write-Host "report: $(Join-Path $OutDir 'load.html')"
