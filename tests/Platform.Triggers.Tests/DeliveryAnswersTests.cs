using Microsoft.Extensions.Logging.Abstractions;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Triggers.Contracts;
using Platform.Triggers.Persistence;

namespace Platform.Triggers.Tests;

/// <summary>Triggers' answers to the ingress, committed together on real PostgreSQL.</summary>
public sealed class DeliveryAnswersTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private readonly DeliveryAnswers answers = new(db.DataSource, new Outbox(TriggersModule.Schema),
        new PgNotificationHub(db.DataSource, NullLogger<PgNotificationHub>.Instance));

    private Task<long> OutboxMessagesFor(Guid deliveryId) => db.OutboxMessagesForAsync("triggers", deliveryId);

    [Fact]
    public async Task Concurrent_answers_are_each_in_the_outbox_once_even_when_an_answer_is_repeated()
    {
        var trigger = Guid.CreateVersion7();
        var deliveries = Enumerable.Range(0, 200).Select(_ => Guid.CreateVersion7()).ToList();
        WebhookDeliveryProcessed Answer(Guid delivery) =>
            new(delivery, trigger, "filtered", null, "the trigger's filter is false for this payload", DateTimeOffset.UtcNow);

        // Every answer twice (a redelivered WebhookReceived is answered again), all at once.
        await Task.WhenAll(deliveries.Concat(deliveries).Select(d => answers.AddAsync(Answer(d))));

        foreach (var delivery in deliveries)
        {
            Assert.Equal(1, await OutboxMessagesFor(delivery));
        }
    }
}
