using System.Diagnostics;
using ChaosPS;
using ChaosPS.Gpu;

// chaosps-gpucheck [device] : allocate 50% and 95% of free VRAM through the engine's CUDA backend, verify with NVML
// (and nvidia-smi when present), release, print the figures. Exit 0 = all checks passed, 1 = a check failed,
// 3 = no GPU/driver (the engine's NotInstalled/ResourceUnavailable error is printed).
int device = args.Length > 0 ? int.Parse(args[0]) : 0;
var backend = new NvidiaBackend();
int failures = 0;
try
{
    var dev = VramFill.Device(backend, device);
    Console.WriteLine($"GPU {dev.Index}: {dev.Name} {dev.Uuid} driver {dev.DriverVersion}");
    Console.WriteLine($"NVML baseline: total {Gb(dev.MemoryTotal)} used {Gb(dev.MemoryUsed)} free {Gb(dev.MemoryFree)}");
    Smi("baseline");
    foreach (var pct in new[] { 50.0, 95.0 })
    {
        var before = VramFill.Device(backend, device);
        long want = VramFill.Plan(before, pct, null);
        using var alloc = backend.OpenAllocator(device);
        var afterCtx = VramFill.Device(backend, device);
        var sw = Stopwatch.StartNew();
        var blocks = VramFill.Allocate(alloc, want, VramFill.DefaultChunk, CancellationToken.None);
        var took = sw.Elapsed;
        var during = VramFill.Device(backend, device);
        long seen = during.MemoryUsed - afterCtx.MemoryUsed;
        bool okAlloc = blocks.Total >= want * 0.999 && Math.Abs(seen - blocks.Total) <= during.MemoryTotal / 100;
        Console.WriteLine($"{pct}% of free: wanted {Gb(want)}, allocated {Gb(blocks.Total)} in {blocks.Items.Count} chunks in {took.TotalSeconds:0.000}s " +
                          $"({blocks.Total / 1048576.0 / Math.Max(1e-6, took.TotalSeconds):0} MB/s); NVML used +{Gb(seen)} (context {Gb(afterCtx.MemoryUsed - before.MemoryUsed)}) {(okAlloc ? "OK" : "MISMATCH")}");
        if (pct >= 95 && took > TimeSpan.FromSeconds(5)) { Console.WriteLine("  FAIL: 95% took longer than 5 s"); failures++; }
        if (!okAlloc) failures++;
        Smi($"during {pct}%");
        sw.Restart();
        VramFill.FreeAll(alloc, blocks);
        alloc.Dispose();
        var released = VramFill.Device(backend, device);
        bool okFree = Math.Abs(released.MemoryUsed - before.MemoryUsed) <= released.MemoryTotal / 100;
        Console.WriteLine($"  released in {sw.Elapsed.TotalSeconds:0.000}s: NVML used {Gb(released.MemoryUsed)} vs baseline {Gb(before.MemoryUsed)} {(okFree ? "OK (within 1%)" : "NOT RELEASED")}");
        if (!okFree) failures++;
    }
}
catch (ChaosException e)
{
    Console.WriteLine($"{e.ErrorId} ({e.Category}): {e.Message}");
    if (e.RecommendedAction is not null) Console.WriteLine($"  {e.RecommendedAction}");
    return 3;
}
Console.WriteLine(failures == 0 ? "ALL CHECKS PASSED" : $"{failures} CHECK(S) FAILED");
return failures == 0 ? 0 : 1;

static string Gb(long b) => $"{b / 1073741824.0:0.00}GB";

static void Smi(string when)
{
    try
    {
        var psi = new ProcessStartInfo("nvidia-smi", "--query-gpu=index,memory.total,memory.used,memory.free --format=csv,noheader") { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var o = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit(10000);
        Console.WriteLine($"  nvidia-smi {when}: {o}");
    }
    catch (System.ComponentModel.Win32Exception) { Console.WriteLine($"  nvidia-smi not present ({when})"); }
}
