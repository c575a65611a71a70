using ChaosPS.Gpu;

namespace ChaosPS.Agent.Roles;

/// <summary>`chaosps-agent vram-hog --device N --bytes B [--chunk C] ...`: allocates VRAM in chunks through the CUDA driver API and holds it.</summary>
public sealed class VramHogRole : IAgentRole
{
    public string Name => "vram-hog";

    public async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        var a = new StressorArgs(args);
        using var life = a.Lifetime(ct);
        IVramAllocator alloc;
        try { alloc = new NvidiaBackend().OpenAllocator(a.Int("device", 0)); }
        catch (ChaosException e) { StressorArgs.Say($"ERROR {e.ErrorId} {e.Message}"); return 3; }
        using (alloc)
        {
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var blocks = VramFill.Allocate(alloc, a.Long("bytes", 0), a.Long("chunk", VramFill.DefaultChunk), life.Token);
            StressorArgs.Say($"READY pid={Environment.ProcessId} allocated={blocks.Total} blocks={blocks.Items.Count} seconds={StressorArgs.F(sw.Elapsed.TotalSeconds)}");
            try { await Task.Delay(Timeout.Infinite, life.Token); } catch (OperationCanceledException) { }
            VramFill.FreeAll(alloc, blocks);
        }
        return 0;
    }
}
