using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Triggers.Contracts;

namespace Platform.Triggers.Persistence;

/// <summary>
/// Triggers' answers to the ingress (<c>WebhookDeliveryProcessed</c>), put into this context's outbox by group
/// commit: the answers of a burst of deliveries share one statement and one commit instead of one each, and each
/// consumer returns (and its message is acknowledged) only after the commit that holds its answer. The relay is
/// woken in-process after the commit rather than by a NOTIFY, which would serialize the commits.
/// </summary>
public sealed class DeliveryAnswers : IAsyncDisposable
{
    // The message id is derived from the delivery: an answer repeated for a redelivered message is one row.
    private const string Sql = """
        INSERT INTO triggers.outbox (message_id, message_type, payload)
        SELECT a.message_id, @messageType, a.payload FROM unnest(@messageIds, @payloads) AS a(message_id, payload)
        ON CONFLICT (message_id) DO NOTHING
        """;

    private const int MaxBatch = 500;

    private readonly NpgsqlDataSource dataSource;
    private readonly Outbox outbox;
    private readonly PgNotificationHub notifications;
    private readonly string messageType = Outbox.MessageTypeOf<WebhookDeliveryProcessed>();
    private readonly GroupCommit<(Guid MessageId, string Payload), bool> commits;

    public DeliveryAnswers(NpgsqlDataSource dataSource, [FromKeyedServices(TriggersModule.Schema)] Outbox outbox,
        PgNotificationHub notifications)
    {
        this.dataSource = dataSource;
        this.outbox = outbox;
        this.notifications = notifications;
        commits = new(CommitAsync, MaxBatch);
    }

    /// <summary>Completes once the answer is committed to the outbox.</summary>
    public Task AddAsync(WebhookDeliveryProcessed answer) =>
        commits.AddAsync((DeterministicGuid.Create(answer.DeliveryId.ToString(), "processed"), Outbox.Serialize(answer).Payload));

    private async Task<bool[]> CommitAsync(IReadOnlyList<(Guid MessageId, string Payload)> answers)
    {
        await using (var connection = await dataSource.OpenConnectionAsync())
        await using (var command = new NpgsqlCommand(Sql, connection))
        {
            command.Parameters.Add(new NpgsqlParameter<Guid[]>("messageIds", [.. answers.Select(a => a.MessageId)]));
            command.Parameters.Add(new NpgsqlParameter<string[]>("payloads", NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Jsonb)
            {
                TypedValue = [.. answers.Select(a => a.Payload)],
            });
            command.Parameters.Add(new NpgsqlParameter<string>("messageType", messageType));
            await command.ExecuteNonQueryAsync();
        }

        outbox.WakeLocalRelay(notifications);
        return new bool[answers.Count];
    }

    public ValueTask DisposeAsync() => commits.DisposeAsync();
}
