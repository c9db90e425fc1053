using Platform.RunnerRegistry.Contracts;

namespace Platform.RunnerRegistry.Application;

/// <summary>
/// The consumer of Runner-Registry's job events when it runs in this process on this database (the Standalone host's
/// Execution with the embedded engine). A job's start or end is handed to it right after its commit instead of being
/// published on the bus, and the runner is answered once it has been applied. Because that consumer's own commit waits
/// for its WAL flush, which covers every commit before it, the job's change commits without waiting for its flush:
/// one flushed commit per job event instead of two, with the change still durable before the runner hears back. The
/// event's outbox row, written with the change, stays the durable record: when the hand-over fails, the relay
/// publishes it.
/// </summary>
public interface ILocalJobEventConsumer
{
    /// <summary>Applies the event at most once per <paramref name="messageId"/>. Returns once a commit made after the
    /// event's has waited for its WAL flush (the one applying it, or the one that applied it before).</summary>
    Task ConsumeAsync(JobStarted started, Guid messageId, CancellationToken cancellationToken);

    /// <inheritdoc cref="ConsumeAsync(JobStarted, Guid, CancellationToken)"/>
    Task ConsumeAsync(JobFinished finished, Guid messageId, CancellationToken cancellationToken);
}
