using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Platform.BuildingBlocks.Persistence;

/// <summary>
/// A worker that drains a table in batches whenever its NOTIFY channel fires (outbox relays, the dispatch relay):
/// no polling interval on the normal path; a long timeout only as a safety net for a NOTIFY lost with the LISTEN
/// connection; jittered exponential backoff while the batch fails.
/// </summary>
public abstract class SignalledBatchWorker(PgNotificationHub notifications, string channel, ILogger logger) : BackgroundService
{
    private static readonly TimeSpan SafetyNet = TimeSpan.FromSeconds(30);

    protected abstract int BatchSize { get; }

    /// <returns>How many rows the batch handled; a full batch is followed by another at once.</returns>
    protected abstract Task<int> ProcessBatchAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var signal = notifications.Channel(channel);
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!stoppingToken.IsCancellationRequested)
        {
            // Taken before looking at the table, so a NOTIFY that arrives meanwhile is not missed.
            var wake = signal.Next;
            try
            {
                while (await ProcessBatchAsync(stoppingToken) == BatchSize)
                {
                }

                backoff = TimeSpan.FromMilliseconds(100);
                await wake.WaitAsync(SafetyNet, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                var delay = backoff * (0.5 + Random.Shared.NextDouble());
                logger.LogWarning(ex, "{Worker} failed; retrying in {Delay}", GetType().Name, delay);
                await Task.Delay(delay, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 5000));
            }
        }
    }
}
