using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.WebhookIngress.Persistence;

namespace Platform.WebhookIngress.Application;

/// <summary>
/// Makes "each accepted delivery yields exactly one execution" hold when a message is lost after it left the
/// outbox (the Standalone host's in-memory bus dies with the process): at start, every accepted delivery that
/// Triggers has not answered and whose message is no longer in the outbox is sent again; afterwards, those left
/// unanswered for <c>Ingress:RedeliverAfterSeconds</c> (default 60). Triggers starts executions idempotently
/// (trigger + dedupe key), so a message sent twice still starts one.
/// </summary>
internal sealed class Redeliverer(DeliveryStore store, IConfiguration configuration, TimeProvider clock, ILogger<Redeliverer> logger)
    : BackgroundService
{
    private const int Batch = 500;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var after = TimeSpan.FromSeconds(configuration.GetValue("Ingress:RedeliverAfterSeconds", 60.0));
        // At start, a message sent by the previous life of the process is either in the outbox or lost.
        var sentBefore = clock.GetUtcNow();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                int resent;
                var total = 0;
                do
                {
                    resent = await store.ResendUnansweredAsync(sentBefore, clock.GetUtcNow(), Batch, stoppingToken);
                    total += resent;
                }
                while (resent == Batch);

                if (total > 0)
                {
                    logger.LogInformation("Sent {Count} unanswered webhook deliveries to Triggers again", total);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                logger.LogWarning(ex, "Redelivering unanswered webhook deliveries failed; trying again later");
            }

            await Task.Delay(after / 2, clock, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            sentBefore = clock.GetUtcNow() - after;
        }
    }
}
