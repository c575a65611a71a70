using ChaosPS.Testbed;

// chaosps-testbed <supervisor|router|worker> [--option value ...]: the embedded system under test.
if (args.Length == 0 || args[0] is not ("supervisor" or "router" or "worker"))
{
    Console.Error.WriteLine("usage: chaosps-testbed <supervisor|router|worker> [--option value ...]");
    return 64;
}
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
var options = new Options(args[1..]);
ThreadPool.SetMinThreads(Math.Max(64, Environment.ProcessorCount * 8), 64);
return args[0] switch
{
    "supervisor" => await Supervisor.RunAsync(options, cts.Token),
    "router" => await Router.RunAsync(options, cts.Token),
    _ => await Worker.RunAsync(options, cts.Token),
};

namespace ChaosPS.Testbed
{
    internal static class ExitCodes
    {
        /// <summary>Exit code of a router or worker whose port was taken (EADDRINUSE); the supervisor moves it.</summary>
        public const int AddressInUse = 98;
    }
}
