using System.Text.Json;
using Dapper;
using Npgsql;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Triggers.Contracts;
using Platform.WebhookIngress.Contracts;

namespace Platform.WebhookIngress.Persistence;

/// <summary>A delivery as listed (times in UTC).</summary>
public sealed record DeliveryRecord(
    Guid Id,
    Guid TriggerId,
    string Status,
    string? Reason,
    string? DedupeKey,
    int Duplicates,
    int BodyBytes,
    Guid? ReplayOf,
    DateTime ReceivedAt,
    string? Outcome,
    Guid? ExecutionId,
    string? Detail,
    DateTime? ProcessedAt);

/// <summary>An accepted delivery as it goes to Triggers.</summary>
public sealed record AcceptedDelivery(Guid Id, Guid TriggerId, string DedupeKey, byte[] Body,
    IReadOnlyDictionary<string, string> Headers, DateTimeOffset ReceivedAt, Guid? ReplayOf)
{
    public WebhookReceived ToMessage() => new(Id, TriggerId, DedupeKey, System.Text.Encoding.UTF8.GetString(Body), Headers,
        ReceivedAt, ReplayOf);
}

public sealed class DeliveryStore(NpgsqlDataSource dataSource,
    [Microsoft.Extensions.DependencyInjection.FromKeyedServices(IngressModule.Schema)] Outbox outbox, PgNotificationHub notifications)
    : IAsyncDisposable
{
    // This process's relay of the ingress outbox is woken in-process: a NOTIFY per delivery would serialize the
    // commits (PostgreSQL orders notifying commits under one lock) and cap the ingress at one fsync at a time.
    // Every ingress replica relays its own deliveries; a row left by a crashed one is taken when the relay starts.
    private readonly AcceptGroupCommit groupCommit = new(dataSource, Outbox.MessageTypeOf<WebhookReceived>(),
        () => outbox.WakeLocalRelay(notifications));

    private const string Columns = """
        id AS Id, trigger_id AS TriggerId, status AS Status, reason AS Reason, dedupe_key AS DedupeKey,
        duplicates AS Duplicates, body_bytes AS BodyBytes, replay_of AS ReplayOf, received_at AS ReceivedAt,
        outcome AS Outcome, execution_id AS ExecutionId, detail AS Detail, processed_at AS ProcessedAt
        """;

    public ValueTask DisposeAsync() => groupCommit.DisposeAsync();

    /// <summary>
    /// Records an accepted delivery and its <c>WebhookReceived</c>, committed together with the other deliveries
    /// that arrive meanwhile (<see cref="AcceptGroupCommit"/>); completes only after the commit. A copy of a
    /// delivery already recorded (same trigger and dedupe key) only counts as a duplicate of it: nothing is sent
    /// again.
    /// </summary>
    /// <returns>the delivery's id (the first copy's, for a duplicate), and whether it is a duplicate.</returns>
    public Task<(Guid Id, bool Duplicate)> AcceptAsync(AcceptedDelivery delivery, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var (_, payload) = Outbox.Serialize(delivery.ToMessage());
        return groupCommit.AcceptAsync(new AcceptGroupCommit.Pending(delivery, JsonSerializer.Serialize(delivery.Headers), payload));
    }

    /// <summary>Records a delivery that failed verification (without its body): it starts nothing.</summary>
    public async Task RejectAsync(Guid id, Guid triggerId, string reason, IReadOnlyDictionary<string, string> headers, int bodyBytes,
        DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO ingress.deliveries (id, trigger_id, status, reason, headers, body_bytes, received_at)
            VALUES (@id, @triggerId, 'rejected', @reason, @headers::jsonb, @bodyBytes, @receivedAt)
            """, new { id, triggerId, reason, headers = JsonSerializer.Serialize(headers), bodyBytes, receivedAt },
            cancellationToken: cancellationToken));
    }

    public async Task<IReadOnlyList<DeliveryRecord>> ListAsync(Guid triggerId, string? status, int offset, int limit)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return (await connection.QueryAsync<DeliveryRecord>($"""
            SELECT {Columns} FROM ingress.deliveries
            WHERE trigger_id = @triggerId AND (@status::text IS NULL OR status = @status)
            ORDER BY received_at DESC, id DESC OFFSET @offset LIMIT @limit
            """, new { triggerId, status, offset, limit })).AsList();
    }

    public async Task<DeliveryRecord?> GetAsync(Guid triggerId, Guid id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<DeliveryRecord>(
            $"SELECT {Columns} FROM ingress.deliveries WHERE trigger_id = @triggerId AND id = @id", new { triggerId, id });
    }

    /// <summary>The stored request of an accepted delivery (for a replay).</summary>
    public async Task<(byte[] Body, Dictionary<string, string> Headers)?> RequestAsync(Guid id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var row = await connection.QuerySingleOrDefaultAsync<(byte[]? Body, string Headers)>(
            "SELECT body, headers::text FROM ingress.deliveries WHERE id = @id AND status = 'accepted'", new { id });
        return row.Body is null ? null : (row.Body, JsonSerializer.Deserialize<Dictionary<string, string>>(row.Headers)!);
    }

    /// <summary>Triggers' answers; the first one for a delivery counts (a repeated answer of a redelivery says the
    /// same).</summary>
    public async Task MarkProcessedAsync(IReadOnlyList<WebhookDeliveryProcessed> answers, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition("""
            UPDATE ingress.deliveries d
            SET outcome = a.outcome, execution_id = a.execution_id, detail = a.detail, processed_at = a.processed_at
            FROM unnest(@ids, @outcomes, @executions, @details, @times) AS a(id, outcome, execution_id, detail, processed_at)
            WHERE d.id = a.id AND d.processed_at IS NULL
            """, new
        {
            ids = answers.Select(a => a.DeliveryId).ToArray(),
            outcomes = answers.Select(a => a.Outcome).ToArray(),
            executions = answers.Select(a => a.ExecutionId).ToArray(),
            details = answers.Select(a => a.Detail).ToArray(),
            times = answers.Select(a => a.ProcessedAt).ToArray(),
        }, cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Puts a fresh <c>WebhookReceived</c> into the outbox for accepted deliveries that Triggers has not answered
    /// although their last message left the outbox before <paramref name="sentBefore"/>: a message lost with an
    /// in-memory bus when the process died, or dropped after its retries.
    /// </summary>
    /// <returns>how many were sent again.</returns>
    public async Task<int> ResendUnansweredAsync(DateTimeOffset sentBefore, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var rows = (await connection.QueryAsync<PendingRow>(new CommandDefinition("""
            SELECT id AS Id, trigger_id AS TriggerId, dedupe_key AS DedupeKey, body AS Body, headers::text AS Headers,
                   received_at AS ReceivedAt, replay_of AS ReplayOf
            FROM ingress.deliveries d
            WHERE status = 'accepted' AND processed_at IS NULL AND sent_at < @sentBefore
              AND NOT EXISTS (SELECT 1 FROM ingress.outbox o WHERE o.message_id = d.message_id)
            ORDER BY sent_at LIMIT @limit FOR UPDATE SKIP LOCKED
            """, new { sentBefore, limit }, transaction, cancellationToken: cancellationToken))).AsList();
        foreach (var row in rows)
        {
            var messageId = Guid.CreateVersion7();
            var delivery = new AcceptedDelivery(row.Id, row.TriggerId, row.DedupeKey, row.Body,
                JsonSerializer.Deserialize<Dictionary<string, string>>(row.Headers)!,
                new DateTimeOffset(row.ReceivedAt, TimeSpan.Zero), row.ReplayOf);
            await outbox.AddAsync(connection, transaction, messageId, delivery.ToMessage());
            await connection.ExecuteAsync("UPDATE ingress.deliveries SET message_id = @messageId, sent_at = @now WHERE id = @Id",
                new { messageId, now, row.Id }, transaction);
        }

        await transaction.CommitAsync(cancellationToken);
        return rows.Count;
    }

    private sealed record PendingRow(Guid Id, Guid TriggerId, string DedupeKey, byte[] Body, string Headers, DateTime ReceivedAt, Guid? ReplayOf);
}
