using Npgsql;
using Platform.Execution.Domain;

namespace Platform.Execution.Engine;

/// <summary>
/// A job queue in the executions' own database and process (the Standalone host's Runner-Registry). A decision's jobs
/// are then enqueued by statements of the decision's own transaction — atomically with it, with no dispatch outbox row
/// and no hand-over round trip after the commit — and the waiting runners are woken once it has committed. A job queue
/// elsewhere (the Runner-Registry service) gets its jobs from the deciding process after the commit, and from the
/// dispatch relay when that failed.
/// </summary>
public interface ITransactionalJobQueue
{
    /// <summary>Enqueues <paramref name="jobs"/> by statements the caller runs in its transaction.</summary>
    EnlistedJobs Enlist(IReadOnlyList<JobRequest> jobs);
}

/// <param name="Statements">the statements that enqueue the jobs, to run in the decision's transaction.</param>
/// <param name="Committed">to call after that transaction committed: wakes the runners waiting for such jobs.</param>
public sealed record EnlistedJobs(IReadOnlyList<NpgsqlBatchCommand> Statements, Action Committed);
