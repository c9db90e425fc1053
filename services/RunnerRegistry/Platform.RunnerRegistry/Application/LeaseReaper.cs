using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Platform.RunnerRegistry.Persistence;

namespace Platform.RunnerRegistry.Application;

/// <summary>
/// Puts jobs whose lease lapsed back in the queue (their next lease gets attempt + 1, which fences off the old
/// runner's reports); a lapsed job whose cancel was requested ends cancelled instead. Sleeps until the earliest lease
/// could lapse — one indexed query per wake — or at most one lease timeout. Safe with several replicas (FOR UPDATE
/// SKIP LOCKED).
/// </summary>
internal sealed class LeaseReaper(
    JobStore store, JobQueue queue, IOptions<RunnerRegistryOptions> options, TimeProvider time, ILogger<LeaseReaper> logger)
    : BackgroundService
{
    private const int BatchSize = 500;
    private static readonly TimeSpan MinSleep = TimeSpan.FromMilliseconds(50);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var fallback = options.Value.LeaseTimeout;
        var backoff = TimeSpan.FromMilliseconds(200);
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan sleep;
            try
            {
                while (true)
                {
                    var (requeued, cancelled) = await queue.ReleaseLapsedAsync(BatchSize, stoppingToken);
                    if (requeued > 0)
                    {
                        logger.LogInformation("Requeued {Count} job(s) whose lease lapsed", requeued);
                    }

                    if (cancelled > 0)
                    {
                        logger.LogInformation("Cancelled {Count} job(s) whose lease lapsed after their cancel was requested", cancelled);
                    }

                    if (requeued + cancelled < BatchSize)
                    {
                        break;
                    }
                }

                var next = await store.TimeToNextLeaseExpiryAsync(stoppingToken);
                sleep = next is { } n ? TimeSpan.FromTicks(Math.Clamp(n.Ticks, MinSleep.Ticks, fallback.Ticks)) : fallback;
                backoff = TimeSpan.FromMilliseconds(200);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Requeueing lapsed leases failed; retrying in {Delay}", backoff);
                sleep = backoff;
                backoff = TimeSpan.FromMilliseconds(Math.Min(backoff.TotalMilliseconds * 2, 5000));
            }

            await Task.Delay(sleep, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }
}
