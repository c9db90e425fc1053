using System.Text.Json.Nodes;
using Platform.Execution.Core;
using Platform.Execution.Domain;

namespace Platform.Execution.Engine;

/// <summary>
/// A host of the deterministic core (DESIGN §3): the embedded engine on PostgreSQL today; a Temporal workflow per
/// execution behind the same seam with <c>Execution:Engine=temporal</c> (issue #3). The API and the job-event
/// consumer speak only to this.
/// </summary>
public interface IExecutionEngine
{
    /// <summary>Starts an execution of a revision, durably, before answering; the same idempotency key answers the
    /// same execution.</summary>
    Task<Guid> StartAsync(StartCommand command, CancellationToken cancellationToken);

    /// <summary>Applies facts from outside (job events, API requests) exactly once per message id.</summary>
    /// <returns>whether the core admitted any of them.</returns>
    Task<bool> ApplyAsync(Guid executionId, IReadOnlyList<(ExecutionEvent Event, JsonObject? Details)> incoming,
        Guid messageId, string consumer, CancellationToken cancellationToken);

    /// <summary>The execution's folded state, pinned plan and history, or null when it does not exist.</summary>
    Task<(ExecutionState State, PinnedWorkflow Plan, IReadOnlyList<HistoryEntry> History)?> ReadAsync(
        Guid executionId, CancellationToken cancellationToken);
}
