using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Triggers.Contracts;
using Platform.WebhookIngress.Contracts;

namespace Platform.Triggers.Application;

/// <summary>
/// A recorded webhook delivery starts its trigger's workflow. Idempotent without an inbox: the start's key is the
/// trigger and the delivery's dedupe key, so a redelivered message (or a duplicate webhook the sender retried)
/// finds the execution the first one started. The answer goes back to the ingress through this context's outbox.
/// </summary>
public sealed class WebhookReceivedConsumer(
    TriggerCache triggers, TriggerFiring firing, NpgsqlDataSource dataSource,
    [FromKeyedServices(TriggersModule.Schema)] Outbox outbox, PgNotificationHub notifications, TimeProvider clock)
    : IConsumer<WebhookReceived>
{
    public static string IdempotencyKey(Guid triggerId, string dedupeKey) => $"webhook:{triggerId}:{dedupeKey}";

    public async Task Consume(ConsumeContext<WebhookReceived> context)
    {
        var m = context.Message;
        var result = await triggers.GetAsync(m.TriggerId) is not { } found
            ? new FiringResult(FiringResult.Failed, null, "the trigger was deleted")
            : await firing.FireAsync(found.Trigger, found.Mapping, Payload(m.Body), IdempotencyKey(m.TriggerId, m.DedupeKey),
                context.CancellationToken);

        await using var connection = await dataSource.OpenConnectionAsync(context.CancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(context.CancellationToken);
        // One answer per delivery: woken in-process rather than by a NOTIFY, which would serialize these commits.
        await outbox.AddAsync(connection, transaction, DeterministicGuid.Create(m.DeliveryId.ToString(), "processed"),
            new WebhookDeliveryProcessed(m.DeliveryId, m.TriggerId, result.Outcome, result.ExecutionId, result.Detail, clock.GetUtcNow()),
            notify: false);
        await transaction.CommitAsync(context.CancellationToken);
        outbox.WakeLocalRelay(notifications);
    }

    /// <summary>The body as JSON; a body that is not JSON is the string <c>{"body": "..."}</c>.</summary>
    public static JsonElement Payload(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["body"] = body });
        }
    }
}

public sealed class WebhookReceivedConsumerDefinition : ConsumerDefinition<WebhookReceivedConsumer>
{
    public WebhookReceivedConsumerDefinition()
    {
        EndpointName = "triggers-webhook-received";
        // Each message waits on a gRPC start; several in flight keep up with a burst of webhooks.
        ConcurrentMessageLimit = 16;
    }
}
