using Npgsql;
using NpgsqlTypes;
using Platform.BuildingBlocks.Persistence;

namespace Platform.WebhookIngress.Persistence;

/// <summary>
/// Accepted deliveries are recorded by group commit (<see cref="GroupCommit{TItem, TResult}"/>): those that arrive
/// while one commit is in flight are written together by the next, in one statement, and each request is answered
/// only after the commit that holds its delivery. Copies of one delivery in the same batch become one row (the first
/// copy's) whose duplicate count covers the others.
/// </summary>
internal sealed class AcceptGroupCommit : IAsyncDisposable
{
    // Bound a batch's statement (its parameters and the time its rows are locked). A delivery larger than
    // MaxBatchBytes is written alone.
    private const int MaxBatch = 256;
    private const long MaxBatchBytes = 4 << 20;

    // Every copy of a delivery (same trigger and dedupe key) is one row: inserted with duplicates = copies - 1, or
    // counted on the row recorded earlier. Rows are inserted in key order, so replicas writing overlapping batches
    // lock them in the same order and cannot deadlock. Each input row (by its position) gets the id of the
    // delivery it is recorded as; a new delivery's WebhookReceived enters the outbox in the same statement.
    private const string Sql = """
        WITH batch AS (
            SELECT * FROM unnest(@ids, @triggerIds, @dedupeKeys, @headers, @bodies, @replayOf, @receivedAt, @copies, @payloads)
                WITH ORDINALITY AS b(id, trigger_id, dedupe_key, headers, body, replay_of, received_at, copies, payload, n)),
        d AS (
            INSERT INTO ingress.deliveries (id, trigger_id, status, dedupe_key, headers, body, body_bytes, replay_of,
                received_at, duplicates, message_id, sent_at)
            SELECT id, trigger_id, 'accepted', dedupe_key, headers, body, length(body), replay_of,
                received_at, copies - 1, id, received_at
            FROM batch ORDER BY trigger_id, dedupe_key
            ON CONFLICT (trigger_id, dedupe_key) DO UPDATE
                SET duplicates = ingress.deliveries.duplicates + excluded.duplicates + 1
            RETURNING id, trigger_id, dedupe_key),
        o AS (
            INSERT INTO ingress.outbox (message_id, message_type, payload)
            SELECT b.id, @messageType, b.payload FROM batch b JOIN d ON d.id = b.id)
        SELECT b.n, d.id FROM batch b JOIN d ON d.trigger_id = b.trigger_id AND d.dedupe_key = b.dedupe_key
        """;

    private readonly NpgsqlDataSource dataSource;
    private readonly string messageType;
    private readonly Action wakeRelay;
    private readonly GroupCommit<Pending, (Guid Id, bool Duplicate)> commits;

    public AcceptGroupCommit(NpgsqlDataSource dataSource, string messageType, Action wakeRelay)
    {
        this.dataSource = dataSource;
        this.messageType = messageType;
        this.wakeRelay = wakeRelay;
        commits = new(CommitAsync, MaxBatch, p => p.Delivery.Body.Length, MaxBatchBytes);
    }

    /// <summary>A delivery with its row's serialized values.</summary>
    public sealed record Pending(AcceptedDelivery Delivery, string Headers, string Payload);

    /// <summary>Completes once the delivery is committed: its id (the first copy's for a copy) and whether it is a copy.</summary>
    public Task<(Guid Id, bool Duplicate)> AcceptAsync(Pending pending) => commits.AddAsync(pending);

    private async Task<(Guid, bool)[]> CommitAsync(IReadOnlyList<Pending> batch)
    {
        // One row per distinct delivery; slot[i] is the row of batch[i].
        var rows = new Dictionary<(Guid, string), int>(batch.Count);
        var slot = new int[batch.Count];
        var first = new List<Pending>(batch.Count);
        var copies = new List<int>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var d = batch[i].Delivery;
            if (rows.TryGetValue((d.TriggerId, d.DedupeKey), out var row))
            {
                copies[row]++;
            }
            else
            {
                row = first.Count;
                rows.Add((d.TriggerId, d.DedupeKey), row);
                first.Add(batch[i]);
                copies.Add(1);
            }

            slot[i] = row;
        }

        var recorded = await ExecuteAsync(first, copies);
        var results = new (Guid, bool)[batch.Count];
        var sent = false;
        for (var i = 0; i < batch.Count; i++)
        {
            var id = recorded[slot[i]];
            var own = id == batch[i].Delivery.Id;
            sent |= own;
            results[i] = (id, !own);
        }

        if (sent)
        {
            wakeRelay();
        }

        return results;
    }

    /// <returns>for each row, the id of the delivery it is recorded as (its own, or the earlier copy's).</returns>
    private async Task<Guid[]> ExecuteAsync(List<Pending> rows, List<int> copies)
    {
        var n = rows.Count;
        var ids = new Guid[n];
        var triggerIds = new Guid[n];
        var dedupeKeys = new string[n];
        var headers = new string[n];
        var bodies = new byte[n][];
        var replayOf = new Guid?[n];
        var receivedAt = new DateTimeOffset[n];
        var payloads = new string[n];
        for (var i = 0; i < n; i++)
        {
            var d = rows[i].Delivery;
            ids[i] = d.Id;
            triggerIds[i] = d.TriggerId;
            dedupeKeys[i] = d.DedupeKey;
            headers[i] = rows[i].Headers;
            bodies[i] = d.Body;
            replayOf[i] = d.ReplayOf;
            receivedAt[i] = d.ReceivedAt;
            payloads[i] = rows[i].Payload;
        }

        await using var connection = await dataSource.OpenConnectionAsync();
        await using var command = new NpgsqlCommand(Sql, connection);
        command.Parameters.Add(new NpgsqlParameter<Guid[]>("ids", ids));
        command.Parameters.Add(new NpgsqlParameter<Guid[]>("triggerIds", triggerIds));
        command.Parameters.Add(new NpgsqlParameter<string[]>("dedupeKeys", dedupeKeys));
        command.Parameters.Add(new NpgsqlParameter<string[]>("headers", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { TypedValue = headers });
        command.Parameters.Add(new NpgsqlParameter<byte[][]>("bodies", bodies));
        command.Parameters.Add(new NpgsqlParameter<Guid?[]>("replayOf", NpgsqlDbType.Array | NpgsqlDbType.Uuid) { TypedValue = replayOf });
        command.Parameters.Add(new NpgsqlParameter<DateTimeOffset[]>("receivedAt", receivedAt));
        command.Parameters.Add(new NpgsqlParameter<int[]>("copies", [.. copies]));
        command.Parameters.Add(new NpgsqlParameter<string[]>("payloads", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { TypedValue = payloads });
        command.Parameters.Add(new NpgsqlParameter<string>("messageType", messageType));
        // Prepared once per pooled connection (Npgsql keeps it): planned once, not for every batch.
        await command.PrepareAsync();
        var recorded = new Guid[n];
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            recorded[reader.GetInt64(0) - 1] = reader.GetGuid(1);
        }

        return recorded;
    }

    public ValueTask DisposeAsync() => commits.DisposeAsync();
}
