using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.BuildingBlocks.Persistence;
using Platform.Execution.Domain;
using Platform.Execution.Persistence;

namespace Platform.Execution.Engine;

/// <summary>
/// Hands what decisions wrote to <c>execution.dispatch_outbox</c> to Runner-Registry: the cancellations (woken by
/// NOTIFY, or the local pulse, right after the decision commits), and the jobs the deciding process did not hand over
/// itself (<see cref="ExecutionEngine"/> does that right after its commit; when that fails it pulses the relay, and
/// jobs a crash cut short are found when the relay starts, or by another replica's safety-net pass). Runner-Registry's
/// enqueue is idempotent by job id, so a crash between the call and the delete only repeats a harmless call.
/// </summary>
internal sealed class DispatchRelay(
    NpgsqlDataSource dataSource, ExecutionStore store, IJobQueue jobQueue, PgNotificationHub notifications,
    ILogger<DispatchRelay> logger) : SignalledBatchWorker(notifications, ExecutionStore.DispatchChannel, logger)
{
    protected override int BatchSize => 100;

    protected override async Task<int> ProcessBatchAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var batch = await store.TakeDispatchesAsync(connection, transaction, BatchSize);
        if (batch.Count == 0)
        {
            return 0;
        }

        var jobs = batch.Where(b => b.Job is not null).Select(b => b.Job!).ToList();
        if (jobs.Count > 0)
        {
            await jobQueue.EnqueueAsync(jobs, cancellationToken);
        }

        // Cancellations after enqueues: a job enqueued and cancelled in the same batch is then cancelled.
        var cancellations = batch.Where(b => b.Cancellation is not null).Select(b => b.Cancellation!).ToList();
        if (cancellations.Count > 0)
        {
            await jobQueue.CancelAsync(cancellations, cancellationToken);
        }

        await store.DeleteDispatchesAsync(connection, transaction, batch.Select(b => b.Id).ToArray());
        await transaction.CommitAsync(cancellationToken);
        return batch.Count;
    }
}
