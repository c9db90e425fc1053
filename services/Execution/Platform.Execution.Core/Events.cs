using System.Text.Json;

namespace Platform.Execution.Core;

/// <summary>A fact about an execution. The host stamps time and sequence outside the core.</summary>
/// <remarks>
/// Two kinds: events that record a command as done (the host appends <see cref="Decider.Record"/> of each command it
/// carries out) and external facts (job results, timers firing, API requests), which the host appends only when
/// <see cref="Decider.Admits"/> says so.
/// </remarks>
public abstract record ExecutionEvent;

/// <summary>The execution starts with this plan: status Running, every step Pending with attempt 0.</summary>
public sealed record ExecutionStarted(ExecutionPlan Plan) : ExecutionEvent
{
    /// <summary>
    /// The execution's input (what <c>inputs.*</c> reads in <c>if:</c> conditions), any JSON value; null (or an
    /// undefined element): none, every <c>inputs.*</c> is null. Kept in <see cref="ExecutionState.Inputs"/>, copied.
    /// A host stores it with the event: a fold must see the input the live decisions saw.
    /// </summary>
    public JsonElement? Input { get; init; }
}

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
/// <remarks>
/// Also records <see cref="FailStep"/>: a ready step whose <c>if:</c> condition does not parse (or cannot be
/// evaluated) fails without running, never retried. That form names the step's current attempt (no job was ever out
/// for it) with no exit code, and is admitted only while the decider would issue that <see cref="FailStep"/>.
/// </remarks>
public sealed record StepFailed(string Step, int Attempt, int? ExitCode, string Error) : ExecutionEvent;

/// <summary>The execution is over (records <see cref="FinishExecution"/>). Steps still Pending become Skipped.</summary>
public sealed record ExecutionFinished(ExecutionStatus Status, string? Error) : ExecutionEvent;

// ---- Recorded by the host for a command ----

/// <summary>
/// The host stored a durable timer (records <see cref="StartTimer"/>). <paramref name="Delay"/> is the delay the host
/// actually used: with jitter, the jittered one. Only for a timer the core asked for and that is not active yet.
/// </summary>
public sealed record TimerScheduled(string TimerId, TimeSpan Delay) : ExecutionEvent;

/// <summary>The host asked the runner to stop the job of this attempt (records <see cref="CancelJob"/>).</summary>
public sealed record JobCancelRequested(string Step, int Attempt) : ExecutionEvent;

/// <summary>The approval step now waits for its signal (records <see cref="AwaitApproval"/>): status Waiting.</summary>
public sealed record ApprovalRequested(string Step) : ExecutionEvent;

/// <summary>The host enqueued the step's compensation job (records <see cref="DispatchCompensation"/>).</summary>
public sealed record CompensationDispatched(string Step) : ExecutionEvent;

/// <summary>
/// The step was skipped because its <c>if:</c> condition is false (records <see cref="SkipStep"/>): status Skipped,
/// <see cref="StepState.SkipReason"/> = <paramref name="Reason"/>. Admitted only as the decider's own decision: the
/// step is Pending and ready in a running execution's normal phase, has not been tried in this run, and its condition
/// evaluates to false now (the reason text is not compared). Never an external fact.
/// </summary>
public sealed record StepSkipped(string Step, string Reason) : ExecutionEvent;

// ---- External facts ----

/// <summary>A durable timer fired. Admitted only while the timer is active (in <see cref="ExecutionState.Timers"/>): stale timers are harmless.</summary>
public sealed record TimerFired(string TimerId) : ExecutionEvent;

/// <summary>A user cancels the execution. Admitted once, while the execution is Running (not Compensating, not finished).</summary>
public sealed record CancelRequested(string? Reason) : ExecutionEvent;

/// <summary>A signal; admitted only when the approval step of that name is Waiting. The payload becomes the step's outputs.</summary>
public sealed record SignalReceived(string Name, IReadOnlyDictionary<string, string> Payload) : ExecutionEvent;

/// <summary>
/// A user retries a Failed execution: status Running; every step that did not succeed, and every succeeded step whose
/// compensation succeeded (it was undone), is Pending again with its attempt counter kept. Other succeeded steps keep
/// their outputs. Admitted only when Failed.
/// </summary>
public sealed record RetryRequested : ExecutionEvent;

/// <summary>
/// The runner stopped the attempt's job. Admitted while the attempt is Dispatched or Running. After a cancel the step
/// becomes Cancelled; a job the runner stopped on its own counts as a failed attempt.
/// </summary>
public sealed record StepCancelled(string Step, int Attempt) : ExecutionEvent;

/// <summary>The step's compensation job succeeded. Admitted only while that compensation is Running.</summary>
public sealed record CompensationSucceeded(string Step) : ExecutionEvent;

/// <summary>The step's compensation job failed. Admitted only while that compensation is Running. Recorded on the step; the other compensations still run.</summary>
public sealed record CompensationFailed(string Step, string Error) : ExecutionEvent;
