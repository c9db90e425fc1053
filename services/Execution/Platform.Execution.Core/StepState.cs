namespace Platform.Execution.Core;

/// <summary>The state of one step, as folded from the events.</summary>
/// <param name="Attempt">
/// The current attempt: 0 until first dispatched, then the attempt of the last dispatch (for an approval step: of the
/// last <see cref="ApprovalRequested"/>). Never goes down, also across <see cref="RetryRequested"/>.
/// </param>
/// <param name="RunnerId">The runner that started the current attempt, if any.</param>
/// <param name="ExitCode">The exit code of the finished attempt, if known.</param>
/// <param name="Outputs">The outputs of a succeeded step (empty otherwise). Never null. For an approval: the signal's payload.</param>
/// <param name="Error">
/// Why the (last) attempt failed: the error of <see cref="StepFailed"/>, or "exit code N" when that was empty, or
/// "timed out after 30s", "no approval within 1h". Kept while the step is Retrying.
/// </param>
public sealed record StepState(
    string Name,
    IReadOnlyList<string> DependsOn,
    StepStatus Status,
    int Attempt,
    string? RunnerId,
    int? ExitCode,
    IReadOnlyDictionary<string, string> Outputs,
    string? Error)
{
    /// <summary>Dispatched or Running: a job is (or may be) out there.</summary>
    public bool IsActive => Status is StepStatus.Dispatched or StepStatus.Running;

    /// <summary>Succeeded, Failed, Skipped or Cancelled.</summary>
    public bool IsTerminal => Status is StepStatus.Succeeded or StepStatus.Failed or StepStatus.Skipped or StepStatus.Cancelled;

    /// <summary>
    /// Failed for good, and the plan said <c>continue_on_failure</c>: its dependents ran anyway and the execution may
    /// still succeed. False for every other status.
    /// </summary>
    public bool ContinuedOnFailure { get; init; }

    /// <summary>A cancel of the current (active) attempt was sent to its runner (<see cref="JobCancelRequested"/>).</summary>
    public bool Cancelling { get; init; }

    /// <summary>Where this step's compensation stands (None unless the execution compensated it).</summary>
    public CompensationStatus Compensation { get; init; }

    /// <summary>Why the compensation failed, when <see cref="Compensation"/> is Failed.</summary>
    public string? CompensationError { get; init; }

    /// <summary>
    /// Why the step was skipped, when its <c>if:</c> condition was false (<see cref="StepSkipped"/>): "condition is
    /// false: inputs.deploy == 'yes'". Null otherwise, also for a step Skipped because the execution ended before it
    /// could start.
    /// </summary>
    public string? SkipReason { get; init; }
}
