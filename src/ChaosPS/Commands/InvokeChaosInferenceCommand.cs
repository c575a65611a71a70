using System.Management.Automation;
using ChaosPS.Testbed;

namespace ChaosPS.Commands;

/// <summary>Sends real inference requests (JSON or server-sent events) to a target's router or a worker.</summary>
[Cmdlet(VerbsLifecycle.Invoke, "ChaosInference")]
[OutputType(typeof(InferenceResult))]
public sealed class InvokeChaosInferenceCommand : ChaosCmdlet
{
    /// <summary>The router or worker base URI; binds RouterUri from Start-ChaosTestbed output, or Uri from a worker.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("RouterUri")]
    public Uri Uri { get; set; } = null!;

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Prompt { get; set; } = "Why do distributed systems fail?";

    [Parameter]
    [ValidateRange(1, 4096)]
    public int MaxTokens { get; set; } = 16;

    [Parameter]
    public SwitchParameter Stream { get; set; }

    [Parameter]
    [ValidateRange(1, 1_000_000)]
    public int Count { get; set; } = 1;

    [Parameter]
    [ValidateRange(1, 10_000)]
    public int Concurrency { get; set; } = 1;

    [Parameter]
    [DurationTransform]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Allow a target that is not on this machine (127.0.0.0/8, ::1, localhost).</summary>
    [Parameter]
    public SwitchParameter AllowNonLoopback { get; set; }

    protected override void ProcessRecord()
    {
        try
        {
            InputRules.HttpUri(Uri, nameof(Uri), loopbackOnly: !AllowNonLoopback);
            InputRules.Duration(Timeout, nameof(Timeout));
        }
        catch (ChaosException e) { ThrowChaosError(e); }
        RunEngine(async (r, ct) =>
        {
            int next = -1, done = 0;
            async Task Lane()
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < Count && !ct.IsCancellationRequested)
                {
                    var result = await InferenceClient.SendAsync(Uri, i, Prompt, MaxTokens, Stream, Timeout, ct).ConfigureAwait(false);
                    r.Output(result);
                    int d = Interlocked.Increment(ref done);
                    if (Count > 1) r.Progress(new ProgressInfo("Invoke-ChaosInference", $"{d}/{Count} requests", d * 100 / Count));
                }
            }
            await Task.WhenAll(Enumerable.Range(0, Math.Min(Concurrency, Count)).Select(_ => Lane())).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        });
    }
}
