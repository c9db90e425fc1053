using MassTransit;
using Platform.Triggers.Contracts;
using Platform.WebhookIngress.Persistence;

namespace Platform.WebhookIngress.Application;

/// <summary>Triggers' answer for a delivery: its outcome and execution become visible in the delivery list, and
/// the delivery is no longer sent again. Idempotent (the first answer is kept).</summary>
public sealed class DeliveryProcessedConsumer(DeliveryStore store) : IConsumer<WebhookDeliveryProcessed>
{
    public Task Consume(ConsumeContext<WebhookDeliveryProcessed> context) =>
        store.MarkProcessedAsync(context.Message, context.CancellationToken);
}

public sealed class DeliveryProcessedConsumerDefinition : ConsumerDefinition<DeliveryProcessedConsumer>
{
    public DeliveryProcessedConsumerDefinition()
    {
        EndpointName = "ingress-delivery-processed";
    }
}
