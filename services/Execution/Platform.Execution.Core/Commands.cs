namespace Platform.Execution.Core;

/// <summary>Something the host must do. <see cref="Decider.Record"/> gives the event that records it as done.</summary>
public abstract record ExecutionCommand;

/// <summary>Enqueue attempt <paramref name="Attempt"/> of the step as a job.</summary>
public sealed record DispatchStep(string Step, int Attempt) : ExecutionCommand;

/// <summary>End the execution with this status.</summary>
public sealed record FinishExecution(ExecutionStatus Status, string? Error) : ExecutionCommand;

/// <summary>
/// Store a durable timer that fires <see cref="TimerFired"/>(<paramref name="TimerId"/>) after <paramref name="Delay"/>.
/// With <paramref name="Jitter"/> the host randomises the delay and records the one it used in <see cref="TimerScheduled"/>.
/// A host keys its timers by id: scheduling an id again replaces the earlier timer of that id.
/// </summary>
public sealed record StartTimer(string TimerId, TimeSpan Delay, bool Jitter) : ExecutionCommand;

/// <summary>Stop the job of this attempt on its runner (a cancel, or the attempt timed out).</summary>
public sealed record CancelJob(string Step, int Attempt) : ExecutionCommand;

/// <summary>The approval step starts waiting for the signal named after it.</summary>
public sealed record AwaitApproval(string Step) : ExecutionCommand;

/// <summary>Enqueue the step's compensation job; answer with <see cref="CompensationSucceeded"/> or <see cref="CompensationFailed"/>.</summary>
public sealed record DispatchCompensation(string Step) : ExecutionCommand;

/// <summary>
/// The ready step's <c>if:</c> condition is false: the step is Skipped without running (its dependents treat it as
/// satisfied). Nothing to do but record <see cref="StepSkipped"/>. <paramref name="Reason"/> says why, for people.
/// </summary>
public sealed record SkipStep(string Step, string Reason) : ExecutionCommand;

/// <summary>
/// The ready step fails without running: its <c>if:</c> condition does not parse ("invalid condition: ...") or cannot
/// be evaluated. Nothing to do but record <see cref="StepFailed"/>(<paramref name="Step"/>, <paramref name="Attempt"/>,
/// null, <paramref name="Error"/>); <paramref name="Attempt"/> is the step's current attempt (no new attempt starts).
/// </summary>
public sealed record FailStep(string Step, int Attempt, string Error) : ExecutionCommand;
