using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.BuildingBlocks.Persistence;
using Platform.Execution.Domain;
using Platform.Execution.Persistence;

namespace Platform.Execution.Engine;

/// <summary>
/// Hands the jobs that decisions wrote to <c>execution.dispatch_outbox</c> to Runner-Registry. Woken by NOTIFY (or
/// the local pulse) right after the decision commits; Runner-Registry's enqueue is idempotent by job id, so a crash
/// between the call and the delete only repeats a harmless call.
/// </summary>
internal sealed class DispatchRelay(
    NpgsqlDataSource dataSource, ExecutionStore store, IJobQueue jobQueue, PgNotificationHub notifications,
    ILogger<DispatchRelay> logger) : BackgroundService
{
    private const int BatchSize = 100;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var signal = notifications.Channel(ExecutionStore.DispatchChannel);
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!stoppingToken.IsCancellationRequested)
        {
            var wake = signal.Next;
            try
            {
                while (await RelayBatchAsync(stoppingToken) == BatchSize)
                {
                }

                backoff = TimeSpan.FromMilliseconds(100);
                // The timeout is a safety net for a NOTIFY lost with the LISTEN connection, not the normal path.
                await wake.WaitAsync(TimeSpan.FromSeconds(30), stoppingToken)
                    .ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Dispatching jobs failed; retrying in {Delay}", backoff);
                await Task.Delay(backoff, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 5000));
            }
        }
    }

    private async Task<int> RelayBatchAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var batch = await store.TakeDispatchesAsync(connection, transaction, BatchSize);
        if (batch.Count == 0)
        {
            return 0;
        }

        await jobQueue.EnqueueAsync(batch.Select(b => b.Job).ToList(), cancellationToken);
        await store.DeleteDispatchesAsync(connection, transaction, batch.Select(b => b.Id).ToArray());
        await transaction.CommitAsync(cancellationToken);
        return batch.Count;
    }
}
