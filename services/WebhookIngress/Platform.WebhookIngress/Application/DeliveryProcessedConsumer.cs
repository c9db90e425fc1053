using MassTransit;
using Platform.Triggers.Contracts;
using Platform.WebhookIngress.Persistence;

namespace Platform.WebhookIngress.Application;

/// <summary>Triggers' answers for deliveries: their outcome and execution become visible in the delivery list,
/// and they are no longer sent again. Taken in batches (one statement and one commit for up to 200 answers), since a
/// burst of webhooks brings a burst of answers. Idempotent (the first answer is kept).</summary>
public sealed class DeliveryProcessedConsumer(DeliveryStore store) : IConsumer<Batch<WebhookDeliveryProcessed>>
{
    public Task Consume(ConsumeContext<Batch<WebhookDeliveryProcessed>> context) =>
        store.MarkProcessedAsync([.. context.Message.Select(m => m.Message)], context.CancellationToken);
}

public sealed class DeliveryProcessedConsumerDefinition : ConsumerDefinition<DeliveryProcessedConsumer>
{
    private const int BatchSize = 200;
    private const int Batches = 2;

    public DeliveryProcessedConsumerDefinition()
    {
        EndpointName = "ingress-delivery-processed";
        ConcurrentMessageLimit = BatchSize * Batches;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<DeliveryProcessedConsumer> consumerConfigurator, IRegistrationContext context) =>
        consumerConfigurator.Options<BatchOptions>(o => o
            .SetMessageLimit(BatchSize)
            .SetTimeLimit(TimeSpan.FromMilliseconds(20))
            .SetConcurrencyLimit(Batches));
}
