using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.BuildingBlocks.Persistence;
using Platform.Execution.Persistence;

namespace Platform.Execution.Engine;

/// <summary>
/// Fires the embedded engine's durable timers (retry backoff, timeouts). It sleeps until the earliest timer is due,
/// and is woken early by NOTIFY when a decision sets a timer. Several replicas may race for a timer: the engine
/// fires it under the execution's row lock and only while the timer's row exists, so it fires once.
/// </summary>
internal sealed class TimerWorker(
    NpgsqlDataSource dataSource, ExecutionStore store, ExecutionEngine engine, PgNotificationHub notifications,
    TimeProvider clock, ILogger<TimerWorker> logger) : BackgroundService
{
    private static readonly TimeSpan LongestSleep = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var signal = notifications.Channel(ExecutionStore.TimerChannel);
        while (!stoppingToken.IsCancellationRequested)
        {
            var wake = signal.Next;
            var sleep = LongestSleep;
            try
            {
                await FireDueAsync(stoppingToken);
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken);
                if (await store.NextTimerDueAsync(connection) is { } due)
                {
                    var untilDue = due - clock.GetUtcNow();
                    sleep = untilDue < TimeSpan.Zero ? TimeSpan.Zero : untilDue < LongestSleep ? untilDue : LongestSleep;
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Firing timers failed; trying again in a second");
                sleep = TimeSpan.FromSeconds(1);
            }

            if (sleep > TimeSpan.Zero)
            {
                await wake.WaitAsync(sleep, clock, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task FireDueAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            IReadOnlyList<(Guid ExecutionId, string TimerId)> due;
            await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
            {
                due = await store.DueTimersAsync(connection, limit: 200);
            }

            foreach (var (executionId, timerId) in due)
            {
                await engine.FireTimerAsync(executionId, timerId, cancellationToken);
            }

            if (due.Count < 200)
            {
                return;
            }
        }
    }
}
