using System.Management.Automation;
using ChaosPS.Testbed;

namespace ChaosPS.Commands;

/// <summary>Starts the embedded testbed: a router, a supervisor and N inference workers on 127.0.0.1.</summary>
[Cmdlet(VerbsLifecycle.Start, "ChaosTarget")]
[OutputType(typeof(ChaosTestbed))]
public sealed class StartChaosTestbedCommand : ChaosCmdlet
{
    [Parameter(Position = 0)]
    public int Workers { get; set; } = 3;

    [Parameter]
    [ValidateSet("Process", "Docker", IgnoreCase = true)]
    public string Runtime { get; set; } = "Process";

    [Parameter]
    [DurationTransform(RequireUnit = true)]
    public TimeSpan TokenDelay { get; set; } = TimeSpan.FromMilliseconds(20);

    [Parameter]
    public int MaxConcurrency { get; set; } = 64;

    [Parameter]
    [ValidateNotBlank, ValidatePathText]
    public string? DataPath { get; set; }

    [Parameter]
    [DurationTransform]
    public TimeSpan StartupDelay { get; set; }

    [Parameter]
    [DurationTransform]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(30);

    [Parameter]
    public SwitchParameter IgnoreTerm { get; set; }

    [Parameter]
    [ValidateNotBlank, ValidateDockerEndpoint]
    public string? DockerEndpoint { get; set; }

    /// <summary>
    /// Deliberate defects, to prove an experiment catches the bug it exists for (see the help for what each breaks).
    /// The names are TestbedDefects.All; ValidateSet needs constants, so they are repeated here.
    /// </summary>
    [Parameter]
    [ValidateSet("NoRetry", "NoRestart", "NoShedding", "IgnoreDiskFull", "NoAttemptTimeout", "UnhealthyAfterRestart", "EmptyBody", "ErrorEveryNth", IgnoreCase = true)]
    public string[]? Defect { get; set; }

    /// <summary>With -Defect ErrorEveryNth: every how many inference requests each worker answers 500 (default 20).</summary>
    [Parameter]
    public int ErrorEvery { get; set; }

    protected override void EndProcessing()
    {
        var options = new TestbedOptions
        {
            Workers = Workers,
            Runtime = char.ToUpperInvariant(Runtime[0]) + Runtime[1..].ToLowerInvariant(),
            TokenDelay = TokenDelay,
            MaxConcurrency = MaxConcurrency,
            DataPath = DataPath is null ? null : SessionState.Path.GetUnresolvedProviderPathFromPSPath(DataPath),
            StartupDelay = StartupDelay,
            AttemptTimeout = AttemptTimeout,
            IgnoreTerm = IgnoreTerm,
            DockerEndpoint = DockerEndpoint,
            Defects = Defect ?? [],
            ErrorEvery = MyInvocation.BoundParameters.ContainsKey(nameof(ErrorEvery)) ? ErrorEvery : null,
        };
        try { TestbedLauncher.Validate(options); }
        catch (ChaosException e) { ThrowChaosError(e); }
        WriteObject(RunEngine((r, ct) => TestbedLauncher.StartAsync(options, r, ct)));
    }
}
