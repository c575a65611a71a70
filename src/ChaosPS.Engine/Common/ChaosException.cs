namespace ChaosPS;

/// <summary>
/// The engine's error kinds. Names match System.Management.Automation.ErrorCategory one for one, so the
/// cmdlet layer maps them by name without the engine depending on PowerShell.
/// </summary>
public enum ChaosErrorCategory
{
    NotSpecified, InvalidArgument, InvalidData, InvalidOperation, InvalidResult, InvalidType,
    NotImplemented, NotInstalled, ObjectNotFound, OperationStopped, OperationTimeout, PermissionDenied,
    ResourceBusy, ResourceExists, ResourceUnavailable, ConnectionError, DeviceError, LimitsExceeded,
    SecurityError, ProtocolError, CloseError, OpenError, ReadError, WriteError, DeadlockDetected,
}

/// <summary>
/// An error the engine raises on purpose: it carries a stable id, a category, the failing target and an
/// action a person can take. Cmdlets turn it into an ErrorRecord unchanged.
/// </summary>
public class ChaosException : Exception
{
    public ChaosException(string errorId, ChaosErrorCategory category, string message,
        object? target = null, string? recommendedAction = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Category = category;
        Target = target;
        RecommendedAction = recommendedAction;
    }

    /// <summary>Stable identifier, e.g. "InvalidDuration"; tests and scripts match on it.</summary>
    public string ErrorId { get; }
    public ChaosErrorCategory Category { get; }
    public object? Target { get; }
    public string? RecommendedAction { get; }

    public static ChaosException InvalidArgument(string errorId, string message, object? target = null, string? action = null)
        => new(errorId, ChaosErrorCategory.InvalidArgument, message, target, action);
}
