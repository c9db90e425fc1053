using System.Text;
using Dapper;
using Platform.BuildingBlocks.Persistence;
using Platform.Triggers.Contracts;
using Platform.WebhookIngress.Persistence;

namespace Platform.Triggers.Tests;

/// <summary>The ingress's delivery records on real PostgreSQL.</summary>
public sealed class DeliveryStoreTests(DatabaseFixture db) : IClassFixture<DatabaseFixture>
{
    private readonly DeliveryStore store = new(db.DataSource, db.IngressOutbox,
        new PgNotificationHub(db.DataSource, Microsoft.Extensions.Logging.Abstractions.NullLogger<PgNotificationHub>.Instance));
    private readonly Guid trigger = Guid.CreateVersion7();

    private AcceptedDelivery Delivery(string key) => new(Guid.CreateVersion7(), trigger, key, Encoding.UTF8.GetBytes("{\"n\":1}"),
        new Dictionary<string, string> { ["X-Webhook-Id"] = key }, DateTimeOffset.UtcNow, null);

    private Task<long> OutboxMessagesFor(Guid deliveryId) => db.OutboxMessagesForAsync("ingress", deliveryId);

    [Fact]
    public async Task Concurrent_copies_of_one_delivery_are_recorded_once_and_sent_to_Triggers_once()
    {
        var copies = Enumerable.Range(0, 20).Select(_ => Delivery("id:same")).ToList();

        var results = await Task.WhenAll(copies.Select(c => store.AcceptAsync(c, CancellationToken.None)));

        var first = Assert.Single(results, r => !r.Duplicate);
        Assert.All(results, r => Assert.Equal(first.Id, r.Id));
        var listed = Assert.Single(await store.ListAsync(trigger, null, 0, 50));
        Assert.Equal(19, listed.Duplicates);
        Assert.Equal("accepted", listed.Status);
        Assert.Equal(1, await OutboxMessagesFor(first.Id));
    }

    [Fact]
    public async Task Concurrent_deliveries_are_each_recorded_and_sent_once_and_their_copies_counted()
    {
        // Many at once: they share commits (group commit), copies within one commit and across commits included.
        var deliveries = Enumerable.Range(0, 300).Select(i => Delivery($"id:many-{i % 100}")).ToList();

        var results = await Task.WhenAll(deliveries.Select(d => store.AcceptAsync(d, CancellationToken.None)));

        var firsts = results.Where(r => !r.Duplicate).ToList();
        Assert.Equal(100, firsts.Select(r => r.Id).Distinct().Count());
        Assert.Equal(100, firsts.Count);
        for (var i = 0; i < deliveries.Count; i++)
        {
            Assert.Equal(results[i % 100].Id, results[i].Id);
        }

        var listed = await store.ListAsync(trigger, "accepted", 0, 500);
        Assert.Equal(100, listed.Count);
        Assert.All(listed, d => Assert.Equal(2, d.Duplicates));
        foreach (var first in firsts)
        {
            Assert.Equal(1, await OutboxMessagesFor(first.Id));
        }
    }

    [Fact]
    public async Task A_delivery_the_database_refuses_fails_alone_and_the_others_committed_with_it_are_recorded()
    {
        // A NUL character cannot be stored in jsonb: this delivery's WebhookReceived is refused by PostgreSQL.
        var refused = Delivery("id:nul") with { Body = [(byte)'a', 0, (byte)'b'] };
        var others = Enumerable.Range(0, 20).Select(i => Delivery($"id:beside-{i}")).ToList();

        var tasks = others.Take(10).Append(refused).Concat(others.Skip(10))
            .Select(d => store.AcceptAsync(d, CancellationToken.None)).ToList();

        await Assert.ThrowsAnyAsync<Npgsql.PostgresException>(() => tasks[10]);
        var accepted = await Task.WhenAll(tasks.Where((_, i) => i != 10));
        Assert.All(accepted, r => Assert.False(r.Duplicate));
        Assert.Equal(others.Select(o => o.Id).Order(), accepted.Select(r => r.Id).Order());
        Assert.Null(await store.GetAsync(trigger, refused.Id));
    }

    [Fact]
    public async Task A_rejected_delivery_is_listed_with_its_reason_and_sends_nothing()
    {
        var id = Guid.CreateVersion7();

        await store.RejectAsync(id, trigger, "X-Webhook-Signature does not match the body", new Dictionary<string, string>(), 12,
            DateTimeOffset.UtcNow, CancellationToken.None);

        var listed = Assert.Single(await store.ListAsync(trigger, "rejected", 0, 50));
        Assert.Equal("X-Webhook-Signature does not match the body", listed.Reason);
        Assert.Null(listed.DedupeKey);
        Assert.Equal(0, await OutboxMessagesFor(id));
        Assert.Null(await store.RequestAsync(id));
    }

    [Fact]
    public async Task An_unanswered_delivery_whose_message_left_the_outbox_is_sent_again_until_answered()
    {
        var delivery = Delivery("id:lost");
        await store.AcceptAsync(delivery, CancellationToken.None);
        // The relay took the message; the process died before Triggers consumed it.
        await using (var connection = await db.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("DELETE FROM ingress.outbox WHERE message_id = @Id", new { delivery.Id });
        }

        var later = DateTimeOffset.UtcNow.AddSeconds(1);
        await store.ResendUnansweredAsync(later, later, 100, CancellationToken.None);
        Assert.Equal(1, await OutboxMessagesFor(delivery.Id));
        // Still in the outbox: not sent a third time.
        await store.ResendUnansweredAsync(later.AddMinutes(5), later.AddMinutes(5), 100, CancellationToken.None);
        Assert.Equal(1, await OutboxMessagesFor(delivery.Id));

        var executionId = Guid.CreateVersion7();
        await store.MarkProcessedAsync([new WebhookDeliveryProcessed(delivery.Id, trigger, "started", executionId, null, later)], CancellationToken.None);
        // A second answer (of a redelivered message) changes nothing.
        await store.MarkProcessedAsync([new WebhookDeliveryProcessed(delivery.Id, trigger, "failed", null, "late", later)], CancellationToken.None);
        await using (var connection = await db.DataSource.OpenConnectionAsync())
        {
            await connection.ExecuteAsync("DELETE FROM ingress.outbox");
        }

        // (Other tests' unanswered deliveries share the database and may be sent again here; this one is not.)
        await store.ResendUnansweredAsync(later.AddMinutes(10), later.AddMinutes(10), 100, CancellationToken.None);
        Assert.Equal(0, await OutboxMessagesFor(delivery.Id));
        var listed = await store.GetAsync(trigger, delivery.Id);
        Assert.Equal("started", listed!.Outcome);
        Assert.Equal(executionId, listed.ExecutionId);
    }
}
