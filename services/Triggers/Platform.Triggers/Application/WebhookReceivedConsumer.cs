using System.Text.Json;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Platform.Triggers.Contracts;
using Platform.Triggers.Persistence;
using Platform.WebhookIngress.Contracts;

namespace Platform.Triggers.Application;

/// <summary>
/// A recorded webhook delivery starts its trigger's workflow. Idempotent without an inbox: the start's key is the
/// trigger and the delivery's dedupe key, so a redelivered message (or a duplicate webhook the sender retried)
/// finds the execution the first one started. The answer goes back to the ingress through this context's outbox
/// (<see cref="DeliveryAnswers"/>).
/// </summary>
public sealed class WebhookReceivedConsumer(
    TriggerCache triggers, TriggerFiring firing, WebhookStarts starts, DeliveryAnswers answers, TimeProvider clock)
    : IConsumer<WebhookReceived>
{
    public static string IdempotencyKey(Guid triggerId, string dedupeKey) => $"webhook:{triggerId}:{dedupeKey}";

    public async Task Consume(ConsumeContext<WebhookReceived> context)
    {
        var m = context.Message;
        var result = await triggers.GetAsync(m.TriggerId) is not { } found
            ? new FiringResult(FiringResult.Failed, null, "the trigger was deleted")
            : await firing.FireAsync(found.Trigger, found.Mapping, Payload(m.Body), IdempotencyKey(m.TriggerId, m.DedupeKey),
                context.CancellationToken, starts.Slots);

        // Returns (and the message is acknowledged) only once the answer is committed; answers of concurrent
        // deliveries share a commit.
        await answers.AddAsync(new WebhookDeliveryProcessed(m.DeliveryId, m.TriggerId, result.Outcome, result.ExecutionId,
            result.Detail, clock.GetUtcNow()));
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
        // Several in flight: a delivery the filter drops (or whose trigger is gone) is answered at once, and the
        // answers of the deliveries in flight share a commit (DeliveryAnswers). The costly part, starting an
        // execution, is limited on its own (WebhookStarts).
        ConcurrentMessageLimit = 16;
    }
}

/// <summary>
/// Few webhook deliveries start an execution at once, on purpose (<c>Triggers:ConcurrentWebhookStarts</c>, default 2):
/// a start costs the engine several times the CPU the ingress spends acknowledging a webhook, so during a burst the
/// acknowledgements keep the cores and the executions start just after, at the engine's pace (their messages wait
/// durably meanwhile). Measured on 2 cores with 16 senders: 16 starts at once cut the webhooks acknowledged per
/// second in a burst by a third to a half; with 4 the acknowledgement p99 was 23-24 ms, with 2 it was 9-14 ms, and
/// the executions started as fast (370-450/s either way: the engine, not the number of starts in flight, sets the pace).
/// </summary>
public sealed class WebhookStarts(IConfiguration configuration)
{
    public SemaphoreSlim Slots { get; } = new(configuration.GetValue("Triggers:ConcurrentWebhookStarts", 2));
}
