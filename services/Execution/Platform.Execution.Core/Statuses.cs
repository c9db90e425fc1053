namespace Platform.Execution.Core;

public enum ExecutionStatus
{
    Pending,
    Running,
    Succeeded,
    Failed,
    Cancelled,

    /// <summary>The execution failed or was cancelled and the compensations of its succeeded steps are running.</summary>
    Compensating,
}

public enum StepStatus
{
    Pending,
    Dispatched,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Cancelled,

    /// <summary>An approval step waiting for the signal named after it.</summary>
    Waiting,

    /// <summary>An attempt failed and will be retried: the backoff timer runs. Not done.</summary>
    Retrying,
}

/// <summary>Where a succeeded step's compensation stands.</summary>
public enum CompensationStatus
{
    /// <summary>Not compensated (the usual case).</summary>
    None,

    /// <summary>The execution is compensating and this step's turn has not come yet.</summary>
    Pending,

    /// <summary>The compensation job is out.</summary>
    Running,

    Succeeded,

    /// <summary>The compensation failed; <see cref="StepState.CompensationError"/> says why. The others still ran.</summary>
    Failed,
}
