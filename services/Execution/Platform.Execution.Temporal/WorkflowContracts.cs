using Platform.Execution.Domain;
using Platform.Execution.Engine;

namespace Platform.Execution.Temporal;

/// <summary>
/// What <see cref="ExecutionWorkflow"/> starts with (its only argument; Temporal serialises it as JSON). The workflow
/// id is <see cref="ExecutionId"/>.
/// </summary>
/// <param name="Plan">The pinned revision, resolved once at start (later edits of the workflow do not reach it).</param>
/// <param name="InputJson">The execution's input, a JSON object as text.</param>
/// <param name="Carry">Null on the first run; what the previous run handed over when it continued as new.</param>
public sealed record ExecutionWorkflowInput(Guid ExecutionId, PinnedWorkflow Plan, string InputJson, ExecutionCarry? Carry = null)
{
    /// <summary>Continue as new once the Temporal history of a run has this many events (or when Temporal suggests it).</summary>
    public int ContinueAsNewAfterEvents { get; init; } = ExecutionWorkflow.DefaultContinueAsNewAfterEvents;

    /// <summary>
    /// How long a Failed execution stays open for a <c>:retry</c>; then the workflow completes and a retry is refused.
    /// Null: <see cref="ExecutionWorkflow.DefaultRetryWindow"/>.
    /// </summary>
    public TimeSpan? RetryWindow { get; init; }

    /// <summary>The start's idempotency key, if any: the read model records it with the execution.</summary>
    public string? IdempotencyKey { get; init; }
}

/// <summary>What one run hands to the next when it continues as new: the core's events so far (the state is their
/// fold), the durable timers still pending with their due times, and the message ids already applied.</summary>
public sealed record ExecutionCarry(
    IReadOnlyList<HistoryEntry> History,
    IReadOnlyList<CarriedTimer> Timers,
    IReadOnlyList<string> SeenMessages,
    DateTimeOffset? RetryDeadline)
{
    /// <summary>The <see cref="ExecutionProgress"/> counters so far.</summary>
    public int Received { get; init; }

    public int Handled { get; init; }

    public int Admitted { get; init; }
}

/// <summary>A durable timer of the previous run: the next run starts it again for the time that is left.</summary>
public sealed record CarriedTimer(string TimerId, DateTimeOffset DueAt);

/// <summary>
/// Payload of the <c>JobStarted</c> and <c>JobFinished</c> signals: the core events that
/// <see cref="Messaging.JobResults"/> made of one Runner-Registry job event, in their stored form
/// (<see cref="HistoryCodec.Encode"/>: the event plus the details the API shows).
/// </summary>
/// <param name="MessageId">The bus message's id: a redelivered message is applied once. Null: not deduplicated.</param>
public sealed record JobEventsSignal(string? MessageId, IReadOnlyList<StoredEvent> Events);

/// <summary>Payload of the <c>Cancel</c> signal (<c>POST /executions/{id}:cancel</c>).</summary>
public sealed record CancelSignal(string? Reason, string? MessageId = null);

/// <summary>Payload of the <c>Signal</c> signal (<c>POST /executions/{id}/signals/{name}</c>): approves the step of that name.</summary>
public sealed record ApprovalSignal(string Name, IReadOnlyDictionary<string, string> Payload, string? MessageId = null);

/// <summary>Payload of the <c>Retry</c> signal (<c>POST /executions/{id}:retry</c>).</summary>
public sealed record RetrySignal(string? MessageId = null);

/// <summary>The workflow's result: the execution's final status (the API's names: SUCCEEDED, FAILED, CANCELLED) and error.</summary>
public sealed record ExecutionOutcome(string Status, string? Error);

/// <summary>
/// Answer of the <c>GetProgress</c> query: how far the workflow is with the facts signalled to it, so a caller can
/// wait until a signal was handled (<see cref="Handled"/> reaches the number it sent) and see the last refusal.
/// </summary>
/// <param name="Status">The execution's status (API name).</param>
/// <param name="Received">Signals received in this execution (all runs).</param>
/// <param name="Handled">Signals handled: admitted, refused, or dropped as a duplicate.</param>
/// <param name="Admitted">Signals of which the core admitted at least one event.</param>
/// <param name="LastRefusal">Why the last refused signal was refused.</param>
/// <param name="HistoryLength">Core events recorded so far.</param>
public sealed record ExecutionProgress(string Status, int Received, int Handled, int Admitted, string? LastRefusal, int HistoryLength);

/// <summary>Answer of the <c>GetSnapshot</c> query: what <see cref="TemporalExecutionEngine.ReadAsync"/> returns, unfolded.</summary>
public sealed record ExecutionSnapshot(PinnedWorkflow Plan, string InputJson, IReadOnlyList<HistoryEntry> History);
