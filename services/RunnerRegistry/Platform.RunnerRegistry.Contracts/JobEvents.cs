namespace Platform.RunnerRegistry.Contracts;

/// <summary>A runner began running attempt <paramref name="Attempt"/> (lease number) of a job.</summary>
public sealed record JobStarted(
    Guid JobId, Guid ExecutionId, string StepName, int StepAttempt, int Attempt, Guid RunnerId, DateTimeOffset StartedAt);

public enum JobOutcome
{
    Succeeded,
    Failed,
    Cancelled,
}

/// <summary>A job ended. Published once per job (the attempt that ended it), with a deterministic message id.</summary>
public sealed record JobFinished(
    Guid JobId,
    Guid ExecutionId,
    string StepName,
    int StepAttempt,
    int Attempt,
    Guid? RunnerId,
    JobOutcome Outcome,
    int? ExitCode,
    IReadOnlyDictionary<string, string> Outputs,
    string? Error,
    string? OutputTail,
    DateTimeOffset? StartedAt,
    DateTimeOffset FinishedAt);
