namespace Platform.Execution.Core;

/// <summary>Something the host must do. <see cref="Decider.Record"/> gives the event that records it as done.</summary>
public abstract record ExecutionCommand;

/// <summary>Enqueue attempt <paramref name="Attempt"/> of the step as a job.</summary>
public sealed record DispatchStep(string Step, int Attempt) : ExecutionCommand;

/// <summary>End the execution with this status.</summary>
public sealed record FinishExecution(ExecutionStatus Status, string? Error) : ExecutionCommand;
