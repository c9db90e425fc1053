using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.BuildingBlocks.Persistence;
using Platform.Triggers.Persistence;

namespace Platform.Triggers.Application;

/// <summary>
/// Sleeps until the next due slot of any schedule, fires what is due, and sleeps again. A schedule created, paused,
/// resumed or deleted (on any replica) NOTIFYs, which wakes it to recompute the next due time: no polling loop.
/// </summary>
internal sealed class ScheduleWorker(
    ScheduleFirer firer, ScheduleStore store, PgNotificationHub notifications, TimeProvider clock, ILogger<ScheduleWorker> logger)
    : BackgroundService
{
    // A safety net only: a NOTIFY lost with the LISTEN connection, or the wall clock jumping.
    private static readonly TimeSpan LongestSleep = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var signal = notifications.Channel(ScheduleStore.Channel);
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            // Taken before looking at the table, so a change committed meanwhile wakes the next sleep.
            var wake = signal.Next;
            try
            {
                while (await firer.FireNextDueAsync(stoppingToken))
                {
                }

                var sleep = LongestSleep;
                if (await store.NextDueAsync() is { } next)
                {
                    var until = next - clock.GetUtcNow();
                    // A due schedule that another replica holds: look again shortly.
                    sleep = until <= TimeSpan.Zero ? TimeSpan.FromMilliseconds(100) : until < LongestSleep ? until : LongestSleep;
                }

                backoff = TimeSpan.FromMilliseconds(200);
                await wake.WaitAsync(sleep, clock, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Firing schedules failed; retrying in {Delay}", backoff);
                await Task.Delay(backoff, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 10_000));
            }
        }
    }
}
