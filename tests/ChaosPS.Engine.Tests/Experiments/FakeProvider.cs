using System.Text.Json.Nodes;
using ChaosPS.Experiments;

namespace ChaosPS.Engine.Tests.Experiments;

/// <summary>A provider whose outputs and failures a test scripts: {type: "fake", value: any, fail: "message", delay: seconds}.</summary>
internal sealed class FakeProvider : IActivityProvider
{
    public string Type => "fake";
    public List<string> Calls { get; } = [];
    public void Validate(JsonObject provider, string path, ExperimentValidation v)
    {
        if (provider["bad"] is not null) v.Add("ChaosPS.FakeBad", path + ".bad", "bad on purpose");
    }
    public Task<string> PlanAsync(JsonObject provider, string path, CancellationToken ct) => Task.FromResult("fake");
    public async Task<object?> RunAsync(ActivityCall call, CancellationToken ct)
    {
        lock (Calls) Calls.Add(call.Name);
        if (Json.Num(call.Provider["delay"]) is { } d) await Task.Delay(TimeSpan.FromSeconds(d), ct);
        if (call.Provider["fail"]?.ToString() is { } f) throw new ActivityFailedException(f);
        // "sequence": a list of outputs, one per call of this activity (for continuous hypotheses).
        if (call.Provider["sequence"] is JsonArray seq)
        {
            int n; lock (Calls) n = Calls.Count(c => c == call.Name) - 1;
            return seq[Math.Min(n, seq.Count - 1)]?.DeepClone();
        }
        return call.Provider["value"]?.DeepClone();
    }
}
