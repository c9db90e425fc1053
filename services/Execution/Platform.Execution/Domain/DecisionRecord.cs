namespace Platform.Execution.Domain;

/// <summary>
/// What an engine that keeps its state elsewhere (the Temporal engine) hands to the read model after a decision: the
/// history entries recorded since its last hand-over, and the execution's status after them. The read model serves
/// the API (get, list, history, watch) the same way whichever engine runs the execution.
/// </summary>
/// <param name="Entries">Consecutive entries, in order; their sequences say where they go.</param>
/// <param name="Status">The execution's status after the last entry (RUNNING, COMPENSATING, SUCCEEDED, ...).</param>
/// <param name="Error">The execution's error after the last entry, if it failed.</param>
public sealed record DecisionRecord(
    Guid ExecutionId,
    IReadOnlyList<HistoryEntry> Entries,
    string Status,
    string? Error)
{
    /// <summary>Set on the hand-over that holds the first entry: the read model creates the execution's row from it
    /// when the start's own insert is missing (the start answered an error after the workflow had begun).</summary>
    public PinnedWorkflow? Plan { get; init; }

    /// <summary>The execution's input as JSON; set with <see cref="Plan"/>.</summary>
    public string? InputJson { get; init; }

    /// <summary>The execution's idempotency key, if it was started with one; set with <see cref="Plan"/>.</summary>
    public string? IdempotencyKey { get; init; }
}

/// <summary>The read model of executions (PostgreSQL): where a non-embedded engine records its decision.</summary>
public interface IExecutionProjection
{
    /// <summary>Records a hand-over; idempotent (an entry already recorded is kept, the status never goes back).</summary>
    Task RecordAsync(DecisionRecord decision, CancellationToken cancellationToken);
}
