namespace ChaosPS.Experiments;

/// <summary>One problem found in an experiment before it runs: the file, the JSON path of the bad field, what is expected.</summary>
public sealed record ExperimentIssue(string ErrorId, ChaosErrorCategory Category, string Source, string JsonPath, string Message)
{
    public override string ToString() => $"{Source}: {JsonPath}: {Message}";
}

/// <summary>An experiment that cannot run as written. Carries every issue found; the first gives the error id.</summary>
public sealed class ExperimentException : ChaosException
{
    public ExperimentException(IReadOnlyList<ExperimentIssue> issues)
        : base(issues[0].ErrorId, issues[0].Category, string.Join(Environment.NewLine, issues.Select(i => i.ToString())),
            issues[0].Source, "Fix the field named by its JSON path (Test-ChaosExperiment lists every problem), then run again.")
    {
        Issues = issues;
    }

    public ExperimentException(ExperimentIssue issue) : this([issue]) { }

    public IReadOnlyList<ExperimentIssue> Issues { get; }

    /// <summary>Stable error ids of experiment problems.</summary>
    public static class Ids
    {
        public const string NotFound = "ChaosPS.ExperimentNotFound";
        public const string InvalidJson = "ChaosPS.InvalidExperimentJson";
        public const string Invalid = "ChaosPS.InvalidExperiment";
        public const string MissingField = "ChaosPS.ExperimentMissingField";
        public const string UnknownProvider = "ChaosPS.UnknownProvider";
        public const string UnsupportedProvider = "ChaosPS.UnsupportedProvider";
        public const string UnknownCmdlet = "ChaosPS.UnknownCmdlet";
        public const string MissingTolerance = "ChaosPS.MissingTolerance";
        public const string InvalidTolerance = "ChaosPS.InvalidTolerance";
        public const string UndefinedVariable = "ChaosPS.UndefinedVariable";
        public const string UnknownReference = "ChaosPS.UnknownActivityReference";
        public const string TargetNotFound = "ChaosPS.ExperimentTargetNotFound";
        public const string InvalidStrategy = "ChaosPS.InvalidStrategy";
        public const string UnsupportedControls = "ChaosPS.UnsupportedControls";
        public const string InvalidSecret = "ChaosPS.InvalidExperimentSecret";
        public const string UnsupportedSecret = "ChaosPS.UnsupportedSecretType";
        public const string SecretNotSet = "ChaosPS.ExperimentSecretNotSet";
        public const string UnknownSecretScope = "ChaosPS.UnknownSecretScope";
    }
}

/// <summary>An activity that ran and failed (its provider raised, a process timed out...): recorded in the journal.</summary>
public sealed class ActivityFailedException(string message, Exception? inner = null) : Exception(message, inner);
