namespace Platform.Execution.Contracts;

/// <summary>An execution of a workflow revision began.</summary>
public sealed record ExecutionStartedEvent(Guid ExecutionId, Guid WorkflowId, int Revision, DateTimeOffset StartedAt);

/// <summary>An execution reached a terminal status (SUCCEEDED, FAILED or CANCELLED), with every step's outputs.</summary>
public sealed record ExecutionFinishedEvent(
    Guid ExecutionId,
    Guid WorkflowId,
    int Revision,
    string Status,
    string? Error,
    IReadOnlyDictionary<string, IReadOnlyDictionary<string, string>> StepOutputs,
    DateTimeOffset FinishedAt);
