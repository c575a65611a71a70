using System.Reflection;

namespace ChaosPS.Agent;

/// <summary>A role the agent can play: `chaosps-agent &lt;role&gt; [args]`.</summary>
public interface IAgentRole
{
    /// <summary>The first command-line argument that selects this role, e.g. "watchdog".</summary>
    string Name { get; }
    Task<int> RunAsync(string[] args, CancellationToken ct);
}

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var roles = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(IAgentRole).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => (IAgentRole)Activator.CreateInstance(t)!)
            .ToDictionary(r => r.Name, StringComparer.OrdinalIgnoreCase);
        if (args.Length == 0 || !roles.TryGetValue(args[0], out var role))
        {
            Console.Error.WriteLine($"usage: chaosps-agent <{string.Join('|', roles.Keys.Order())}> [args]");
            return 64;
        }
        using var cts = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };
        using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; cts.Cancel(); });
        try
        {
            return await role.RunAsync(args[1..], cts.Token);
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            return 0;
        }
    }
}
