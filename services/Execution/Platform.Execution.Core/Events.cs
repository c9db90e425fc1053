namespace Platform.Execution.Core;

/// <summary>A fact about an execution. The host stamps time and sequence outside the core.</summary>
public abstract record ExecutionEvent;

/// <summary>The execution starts with this plan: status Running, every step Pending with attempt 0.</summary>
public sealed record ExecutionStarted(ExecutionPlan Plan) : ExecutionEvent;

/// <summary>The host handed attempt <paramref name="Attempt"/> of the step to the runners (records <see cref="DispatchStep"/>).</summary>
public sealed record StepDispatched(string Step, int Attempt) : ExecutionEvent;

/// <summary>A runner took the attempt and started it.</summary>
public sealed record StepStarted(string Step, int Attempt, string RunnerId) : ExecutionEvent;

/// <summary>The attempt finished successfully.</summary>
public sealed record StepSucceeded(string Step, int Attempt, int ExitCode, IReadOnlyDictionary<string, string> Outputs) : ExecutionEvent;

/// <summary>
/// The attempt failed. <paramref name="Error"/> describes why; when it is empty the failure is described by the exit
/// code ("exit code 2").
/// </summary>
public sealed record StepFailed(string Step, int Attempt, int? ExitCode, string Error) : ExecutionEvent;

/// <summary>The execution is over (records <see cref="FinishExecution"/>). Steps still Pending become Skipped.</summary>
public sealed record ExecutionFinished(ExecutionStatus Status, string? Error) : ExecutionEvent;
