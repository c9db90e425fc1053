namespace Platform.Execution.Core;

/// <summary>The state of one step, as folded from the events.</summary>
/// <param name="Attempt">The current attempt: 0 until first dispatched, then the attempt of the last dispatch.</param>
/// <param name="RunnerId">The runner that started the current attempt, if any.</param>
/// <param name="ExitCode">The exit code of the finished attempt, if known.</param>
/// <param name="Outputs">The outputs of a succeeded step (empty otherwise). Never null.</param>
/// <param name="Error">Why the step failed: the error of <see cref="StepFailed"/>, or "exit code N" when that was empty.</param>
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
}
