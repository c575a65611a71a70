using System.Management.Automation;
using ChaosPS.Gpu;

namespace ChaosPS.Commands;

/// <summary>Lists the GPUs (NVML): memory total/used/free and the processes using each.</summary>
[Cmdlet(VerbsCommon.Get, "GpuInfo")]
[OutputType(typeof(GpuDeviceInfo))]
public sealed class GetGpuInfoCommand : ChaosCmdlet
{
    [Parameter(Position = 0)]
    [Alias("Device")]
    [ValidateNotNullOrEmpty, ValidateRange(0, 1023)]
    public int[]? Index { get; set; }

    protected override void ProcessRecord()
    {
        IReadOnlyList<GpuDeviceInfo> devices;
        try { devices = new NvidiaBackend().GetDevices(); }
        catch (ChaosException e) { ThrowChaosError(e); return; }
        foreach (var i in Index ?? devices.Select(d => d.Index).ToArray())
        {
            if (i < 0 || i >= devices.Count)
                WriteChaosError(new ChaosException("GpuNotFound", ChaosErrorCategory.ObjectNotFound, $"There is no GPU {i}; this machine has {devices.Count}.", i, "Pick an index that Get-GpuInfo lists."));
            else WriteObject(devices[i]);
        }
    }
}
