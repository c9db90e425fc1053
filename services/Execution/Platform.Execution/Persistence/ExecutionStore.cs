using System.Data;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using NpgsqlTypes;
using Platform.BuildingBlocks.Persistence;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Engine;

namespace Platform.Execution.Persistence;

/// <summary>The SQL of the Execution context; a decision's writes go in one round trip.</summary>
public sealed class ExecutionStore
{
    public const string DispatchChannel = "execution_dispatch";
    public const string TimerChannel = "execution_timers";
    public const string EventsChannel = "execution_events";
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public sealed record NewExecution(
        Guid Id, Guid WorkflowId, int Revision, string WorkflowName, string Status, string InputJson, string PlanJson,
        string? IdempotencyKey, DateTimeOffset CreatedAt);

    /// <returns>false when an execution with the same workflow and idempotency key exists already.</returns>
    public async Task<bool> InsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, NewExecution e)
    {
        const string sql = """
            INSERT INTO execution.executions
                (id, workflow_id, revision, workflow_name, status, input, plan, idempotency_key, version, created_at)
            VALUES (@Id, @WorkflowId, @Revision, @WorkflowName, @Status, @InputJson::jsonb, @PlanJson::jsonb,
                    @IdempotencyKey, 0, @CreatedAt)
            ON CONFLICT ON CONSTRAINT executions_idempotency DO NOTHING
            """;
        return await connection.ExecuteAsync(sql, e, transaction) == 1;
    }

    /// <summary>The read model's insert (Temporal engine): a row that exists already, by id or by key, is kept.</summary>
    public async Task InsertIfMissingAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, NewExecution e)
    {
        const string sql = """
            INSERT INTO execution.executions
                (id, workflow_id, revision, workflow_name, status, input, plan, idempotency_key, version, created_at)
            VALUES (@Id, @WorkflowId, @Revision, @WorkflowName, @Status, @InputJson::jsonb, @PlanJson::jsonb,
                    @IdempotencyKey, 0, @CreatedAt)
            ON CONFLICT DO NOTHING
            """;
        await connection.ExecuteAsync(sql, e, transaction);
    }

    /// <summary>
    /// The read model's append (Temporal engine): entries carry their own sequences and times, and one recorded
    /// already is kept as it is, so a hand-over delivered twice or out of order writes each entry once.
    /// </summary>
    /// <returns>the sequences this call inserted.</returns>
    public async Task<IReadOnlyList<long>> AppendEntriesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id,
        IReadOnlyList<HistoryEntry> entries)
    {
        const string sql = """
            WITH inserted AS (
                INSERT INTO execution.events (execution_id, sequence, type, time, step, attempt, data)
                SELECT @id, q, t, w, s, a, d::jsonb
                FROM unnest(@sequences, @types, @times, @steps, @attempts, @datas) AS e(q, t, w, s, a, d)
                ON CONFLICT (execution_id, sequence) DO NOTHING
                RETURNING sequence)
            SELECT sequence FROM inserted ORDER BY sequence
            """;
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("sequences", entries.Select(e => e.Sequence).ToArray());
        command.Parameters.AddWithValue("times", entries.Select(e => e.Time).ToArray());
        AddEventColumns(command.Parameters, entries.Select(e => new StoredEvent(e.Type, e.Step, e.Attempt, e.Data)).ToList());
        var inserted = new List<long>(entries.Count);
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                inserted.Add(reader.GetInt64(0));
            }
        }

        if (inserted.Count > 0)
        {
            await using var notify = new NpgsqlCommand($"SELECT pg_notify('{EventsChannel}', '')", connection, transaction);
            await notify.ExecuteNonQueryAsync();
        }

        return inserted;
    }

    /// <summary>The sequence of an execution's last stored entry (0: none), locking the row so hand-overs of one
    /// execution go one at a time.</summary>
    public async Task<long> LastSequenceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id)
    {
        const string sql = """
            SELECT coalesce((SELECT max(sequence) FROM execution.events WHERE execution_id = x.id), 0)
            FROM execution.executions x WHERE x.id = @id FOR UPDATE
            """;
        return await connection.QuerySingleOrDefaultAsync<long?>(sql, new { id }, transaction) ?? 0;
    }

    /// <summary>The read model's status (Temporal engine): moves only forward, to the hand-over with the higher version.</summary>
    public async Task AdvanceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, long version,
        string status, string? error, DateTimeOffset? finishedAt)
    {
        const string sql = """
            UPDATE execution.executions
            SET version = @version, status = @status, error = @error, finished_at = @finishedAt
            WHERE id = @id AND version < @version
            """;
        await connection.ExecuteAsync(sql, new { id, version, status, error, finishedAt }, transaction);
    }

    public async Task<Guid?> FindByIdempotencyKeyAsync(NpgsqlConnection connection, Guid workflowId, string key)
    {
        const string sql = """
            SELECT id FROM execution.executions WHERE workflow_id = @workflowId AND idempotency_key = @key
            """;
        return await connection.QuerySingleOrDefaultAsync<Guid?>(sql, new { workflowId, key });
    }

    public sealed record LockedExecution(long Version, string Status);

    /// <summary>Locks the execution's row for this transaction: decisions of one execution are serialised, those of
    /// different executions run in parallel, on any replica.</summary>
    public async Task<LockedExecution?> LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id)
    {
        const string sql = """
            SELECT version AS Version, status AS Status FROM execution.executions WHERE id = @id FOR UPDATE
            """;
        return await connection.QuerySingleOrDefaultAsync<LockedExecution>(sql, new { id }, transaction);
    }

    /// <summary>
    /// Records a consumer's message in the inbox and locks the execution's row, in one round trip.
    /// </summary>
    /// <returns>whether the message is new, and the locked row (null when the execution does not exist).</returns>
    public async Task<(bool New, LockedExecution? Locked)> RecordAndLockAsync(NpgsqlConnection connection,
        NpgsqlTransaction transaction, Guid messageId, string consumer, Guid id)
    {
        await using var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("""
                    INSERT INTO execution.inbox (message_id, consumer) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1
                    """) { Parameters = { new() { Value = messageId }, new() { Value = consumer } } },
                new NpgsqlBatchCommand("SELECT version, status FROM execution.executions WHERE id = $1 FOR UPDATE")
                {
                    Parameters = { new() { Value = id } },
                },
            },
        };
        await using var reader = await batch.ExecuteReaderAsync();
        var isNew = await reader.ReadAsync();
        await reader.NextResultAsync();
        var locked = await reader.ReadAsync() ? new LockedExecution(reader.GetInt64(0), reader.GetString(1)) : null;
        return (isNew, locked);
    }

    /// <summary>
    /// The statement that records a consumer's message in the inbox, for a decision's batch that was computed without
    /// the execution's lock: a message recorded already makes it fail (<see cref="IsDuplicateMessage"/>), which rolls
    /// the whole decision back.
    /// </summary>
    public static NpgsqlBatchCommand InboxCommand(Guid messageId, string consumer) =>
        new("INSERT INTO execution.inbox (message_id, consumer) VALUES ($1, $2)")
        {
            Parameters = { new() { Value = messageId }, new() { Value = consumer } },
        };

    /// <summary>The batch with <see cref="InboxCommand"/> failed because the message was recorded already.</summary>
    public static bool IsDuplicateMessage(PostgresException e) =>
        e is { SqlState: PostgresErrorCodes.UniqueViolation, TableName: "inbox" };

    /// <summary>A decision's batch failed because another decision appended the events it was to append (events'
    /// primary key: execution, sequence): it was computed from a version that is not the latest any more.</summary>
    public static bool IsOutdatedDecision(PostgresException e) =>
        e is { SqlState: PostgresErrorCodes.UniqueViolation, TableName: "events" };

    /// <summary>What one decision of the embedded engine writes, besides an outbox message.</summary>
    public sealed record DecisionWrites(
        Guid ExecutionId, long BaseVersion, IReadOnlyList<StoredEvent> Events, DateTimeOffset Time,
        IReadOnlyList<JobRequest> Jobs, IReadOnlyList<JobCancellation> Cancellations,
        IReadOnlyList<(string TimerId, DateTimeOffset DueAt)> Timers, bool Finished, string Status, string? Error);

    /// <summary>
    /// A decision's writes and its COMMIT in one round trip (<see cref="BatchCommit"/>): the events, the dispatches,
    /// the timers (a finished execution's are dropped), the execution's row, and the NOTIFYs that wake the dispatch
    /// relay and the timer worker.
    /// </summary>
    /// <param name="before">statements that go before the decision's own writes, after the execution's row is locked
    /// (the message's inbox record, outbox messages).</param>
    /// <param name="last">statements that go last, just before the COMMIT (another context's jobs, enqueued in a job
    /// queue sharing this database): the execution's row is locked by then, so a lock they take (a runner's, to lease
    /// it a job) comes after the execution's, as on the path that locks the row first — never the other way round.
    /// </param>
    public async Task PersistAndCommitAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, DecisionWrites d,
        IReadOnlyList<NpgsqlBatchCommand> before, IReadOnlyList<NpgsqlBatchCommand> last)
    {
        await using var batch = new NpgsqlBatch(connection, transaction);
        // The execution's row first: every decision then locks it before it writes anything keyed by the execution (a
        // decision computed without the lock, from a cached state, takes it here), so two decisions of one execution
        // cannot each hold what the other waits for (the row; an event's or a message's key).
        var update = new NpgsqlBatchCommand("""
            UPDATE execution.executions
            SET version = @version, status = @status, error = @error, finished_at = @finishedAt
            WHERE id = @id
            """);
        update.Parameters.AddWithValue("id", d.ExecutionId);
        update.Parameters.AddWithValue("version", d.BaseVersion + d.Events.Count);
        update.Parameters.AddWithValue("status", d.Status);
        update.Parameters.Add(new NpgsqlParameter("error", NpgsqlDbType.Text) { Value = (object?)d.Error ?? DBNull.Value });
        update.Parameters.Add(new NpgsqlParameter("finishedAt", NpgsqlDbType.TimestampTz)
        {
            Value = d.Finished ? d.Time : DBNull.Value,
        });
        batch.BatchCommands.Add(update);
        foreach (var command in before)
        {
            batch.BatchCommands.Add(command);
        }

        if (d.Events.Count > 0)
        {
            var append = new NpgsqlBatchCommand("""
                INSERT INTO execution.events (execution_id, sequence, type, time, step, attempt, data)
                SELECT @id, @version + n, t, @time, s, a, d::jsonb
                FROM unnest(@types, @steps, @attempts, @datas) WITH ORDINALITY AS e(t, s, a, d, n)
                """);
            append.Parameters.AddWithValue("id", d.ExecutionId);
            append.Parameters.AddWithValue("version", d.BaseVersion);
            append.Parameters.AddWithValue("time", d.Time);
            AddEventColumns(append.Parameters, d.Events);
            batch.BatchCommands.Add(append);
            // Watchers are woken after the commit (PgNotificationHub.NotifySoon): a NOTIFY here would serialise commits.
        }

        if (d.Jobs.Count > 0 || d.Cancellations.Count > 0)
        {
            var dispatch = new NpgsqlBatchCommand("""
                INSERT INTO execution.dispatch_outbox (job_id, execution_id, kind, job)
                SELECT j, e, k, p::jsonb FROM unnest(@jobIds, @executionIds, @kinds, @payloads) AS x(j, e, k, p)
                ON CONFLICT (job_id, kind) DO NOTHING
                """);
            dispatch.Parameters.AddWithValue("jobIds", d.Jobs.Select(j => j.JobId).Concat(d.Cancellations.Select(c => c.JobId)).ToArray());
            dispatch.Parameters.AddWithValue("executionIds",
                d.Jobs.Select(j => j.ExecutionId).Concat(d.Cancellations.Select(c => c.ExecutionId)).ToArray());
            dispatch.Parameters.AddWithValue("kinds", d.Jobs.Select(_ => "enqueue").Concat(d.Cancellations.Select(_ => "cancel")).ToArray());
            dispatch.Parameters.AddWithValue("payloads", d.Jobs.Select(j => JsonSerializer.Serialize(j, Json))
                .Concat(d.Cancellations.Select(c => JsonSerializer.Serialize(c, Json))).ToArray());
            batch.BatchCommands.Add(dispatch);
            if (d.Cancellations.Count > 0)
            {
                // Jobs are handed over by the deciding process right after the commit; cancellations by the relay.
                batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT pg_notify('{DispatchChannel}', '')"));
            }
        }

        if (d.Timers.Count > 0)
        {
            var timers = new NpgsqlBatchCommand("""
                INSERT INTO execution.timers (execution_id, timer_id, due_at)
                SELECT @executionId, t, w FROM unnest(@timerIds, @dueAts) AS x(t, w)
                ON CONFLICT (execution_id, timer_id) DO UPDATE SET due_at = excluded.due_at
                """);
            timers.Parameters.AddWithValue("executionId", d.ExecutionId);
            timers.Parameters.AddWithValue("timerIds", d.Timers.Select(t => t.TimerId).ToArray());
            timers.Parameters.AddWithValue("dueAts", d.Timers.Select(t => t.DueAt).ToArray());
            batch.BatchCommands.Add(timers);
            batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT pg_notify('{TimerChannel}', '')"));
        }

        if (d.Finished)
        {
            // Timers of a finished execution can only fire into nothing.
            var drop = new NpgsqlBatchCommand("DELETE FROM execution.timers WHERE execution_id = @executionId");
            drop.Parameters.AddWithValue("executionId", d.ExecutionId);
            batch.BatchCommands.Add(drop);
        }

        foreach (var command in last)
        {
            batch.BatchCommands.Add(command);
        }

        batch.AddCommit();
        await batch.ExecuteNonQueryAsync();
    }

    public async Task<(PinnedWorkflow Plan, JsonObject Input)> LoadPlanAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid id)
    {
        const string sql = "SELECT plan::text AS Plan, input::text AS Input FROM execution.executions WHERE id = @id";
        var row = await connection.QuerySingleAsync<(string Plan, string Input)>(sql, new { id }, transaction);
        return (JsonSerializer.Deserialize<PinnedWorkflow>(row.Plan, Json)!, JsonNode.Parse(row.Input)!.AsObject());
    }

    public async Task<IReadOnlyList<HistoryEntry>> LoadHistoryAsync(
        NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid id, long afterSequence = 0)
    {
        const string sql = """
            SELECT sequence, type, time, step, attempt, data::text
            FROM execution.events WHERE execution_id = @id AND sequence > @afterSequence ORDER BY sequence
            """;
        var rows = await connection.QueryAsync<(long Sequence, string Type, DateTime Time, string? Step, int? Attempt, string Data)>(
            sql, new { id, afterSequence }, transaction);
        return rows.Select(r => new HistoryEntry(r.Sequence, r.Type, new DateTimeOffset(r.Time, TimeSpan.Zero), r.Step,
            r.Attempt, JsonNode.Parse(r.Data)!.AsObject())).ToList();
    }

    /// <summary>An execution's folded state, pinned plan and history (for the read API), or null when it has no history.</summary>
    public async Task<(ExecutionState State, PinnedWorkflow Plan, IReadOnlyList<HistoryEntry> History)?> ReadAsync(
        NpgsqlConnection connection, Guid id)
    {
        var history = await LoadHistoryAsync(connection, null, id);
        if (history.Count == 0)
        {
            return null;
        }

        var (plan, _) = await LoadPlanAsync(connection, null, id);
        return (HistoryCodec.Fold(history), plan, history);
    }

    /// <summary>The histories of several executions in one query.</summary>
    public async Task<IReadOnlyDictionary<Guid, List<HistoryEntry>>> LoadHistoriesAsync(
        NpgsqlConnection connection, IReadOnlyList<Guid> ids)
    {
        const string sql = """
            SELECT execution_id, sequence, type, time, step, attempt, data::text
            FROM execution.events WHERE execution_id = ANY(@ids) ORDER BY execution_id, sequence
            """;
        var rows = await connection.QueryAsync<(Guid ExecutionId, long Sequence, string Type, DateTime Time, string? Step, int? Attempt, string Data)>(
            sql, new { ids = ids.ToArray() });
        var histories = new Dictionary<Guid, List<HistoryEntry>>();
        foreach (var r in rows)
        {
            if (!histories.TryGetValue(r.ExecutionId, out var history))
            {
                histories[r.ExecutionId] = history = [];
            }

            history.Add(new HistoryEntry(r.Sequence, r.Type, new DateTimeOffset(r.Time, TimeSpan.Zero), r.Step, r.Attempt,
                JsonNode.Parse(r.Data)!.AsObject()));
        }

        return histories;
    }

    /// <summary>The events' columns as arrays (@types, @steps, @attempts, @datas), for one INSERT ... unnest.</summary>
    private static void AddEventColumns(NpgsqlParameterCollection parameters, IReadOnlyList<StoredEvent> events)
    {
        parameters.AddWithValue("types", events.Select(e => e.Type).ToArray());
        parameters.Add(new NpgsqlParameter("steps", NpgsqlDbType.Array | NpgsqlDbType.Text)
        {
            Value = events.Select(e => (object?)e.Step ?? DBNull.Value).ToArray(),
        });
        parameters.Add(new NpgsqlParameter("attempts", NpgsqlDbType.Array | NpgsqlDbType.Integer)
        {
            Value = events.Select(e => e.Attempt is { } a ? (object)a : DBNull.Value).ToArray(),
        });
        parameters.AddWithValue("datas", events.Select(e => e.Data.ToJsonString()).ToArray());
    }

    public sealed record Dispatch(long Id, JobRequest? Job, JobCancellation? Cancellation);

    public async Task<IReadOnlyList<Dispatch>> TakeDispatchesAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, int limit)
    {
        const string sql = """
            SELECT id, kind, job::text FROM execution.dispatch_outbox ORDER BY id LIMIT @limit FOR UPDATE SKIP LOCKED
            """;
        var rows = await connection.QueryAsync<(long Id, string Kind, string Payload)>(sql, new { limit }, transaction);
        return rows.Select(r => r.Kind == "cancel"
            ? new Dispatch(r.Id, null, JsonSerializer.Deserialize<JobCancellation>(r.Payload, Json))
            : new Dispatch(r.Id, JsonSerializer.Deserialize<JobRequest>(r.Payload, Json), null)).ToList();
    }

    public async Task<IReadOnlyList<(Guid ExecutionId, string TimerId)>> DueTimersAsync(NpgsqlConnection connection, int limit)
    {
        const string sql = """
            SELECT execution_id, timer_id FROM execution.timers WHERE due_at <= now() ORDER BY due_at LIMIT @limit
            """;
        return (await connection.QueryAsync<(Guid, string)>(sql, new { limit })).AsList();
    }

    /// <returns>false when the timer is gone: it fired already (here or on another replica).</returns>
    public async Task<bool> DeleteTimerAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid executionId, string timerId)
    {
        const string sql = "DELETE FROM execution.timers WHERE execution_id = @executionId AND timer_id = @timerId";
        return await connection.ExecuteAsync(sql, new { executionId, timerId }, transaction) == 1;
    }

    /// <summary>When the next timer is due, or null when none is set.</summary>
    public async Task<DateTimeOffset?> NextTimerDueAsync(NpgsqlConnection connection)
    {
        const string sql = "SELECT min(due_at) FROM execution.timers";
        var due = await connection.ExecuteScalarAsync<DateTime?>(sql);
        return due is { } d ? new DateTimeOffset(DateTime.SpecifyKind(d, DateTimeKind.Utc)) : null;
    }

    /// <summary>Forgets the enqueue rows of jobs Runner-Registry has taken (the deciding process handed them over).</summary>
    public async Task DeleteEnqueuedAsync(NpgsqlConnection connection, Guid[] jobIds)
    {
        const string sql = "DELETE FROM execution.dispatch_outbox WHERE job_id = ANY(@jobIds) AND kind = 'enqueue'";
        await connection.ExecuteAsync(sql, new { jobIds });
    }

    public async Task DeleteDispatchesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long[] ids)
    {
        const string sql = "DELETE FROM execution.dispatch_outbox WHERE id = ANY(@ids)";
        await connection.ExecuteAsync(sql, new { ids }, transaction);
    }

    /// <summary>Running executions whose last event is older than <paramref name="quiet"/>.</summary>
    public async Task<IReadOnlyList<Guid>> StaleRunningAsync(NpgsqlConnection connection, TimeSpan quiet, int limit)
    {
        const string sql = """
            SELECT x.id FROM execution.executions x
            JOIN execution.events e ON e.execution_id = x.id AND e.sequence = x.version
            WHERE x.status IN ('RUNNING', 'COMPENSATING') AND e.time < now() - @quiet
            ORDER BY e.time LIMIT @limit
            """;
        return (await connection.QueryAsync<Guid>(sql, new { quiet, limit })).AsList();
    }

    private const string SummaryColumns = """
        id AS Id, workflow_id AS WorkflowId, revision AS Revision, workflow_name AS WorkflowName, status AS Status,
        input::text AS Input, idempotency_key AS IdempotencyKey, error AS Error, created_at AS CreatedAt,
        finished_at AS FinishedAt
        """;

    private sealed record SummaryRow(Guid Id, Guid WorkflowId, int Revision, string WorkflowName, string Status,
        string Input, string? IdempotencyKey, string? Error, DateTime CreatedAt, DateTime? FinishedAt)
    {
        public ExecutionSummary ToSummary() => new(Id, WorkflowId, Revision, WorkflowName,
            HistoryCodec.ParseStatus(Status), JsonNode.Parse(Input)!.AsObject(), IdempotencyKey, Error,
            new DateTimeOffset(CreatedAt, TimeSpan.Zero),
            FinishedAt is { } f ? new DateTimeOffset(f, TimeSpan.Zero) : null);
    }

    public async Task<ExecutionSummary?> GetSummaryAsync(NpgsqlConnection connection, Guid id)
    {
        const string sql = $"SELECT {SummaryColumns} FROM execution.executions WHERE id = @id";
        var row = await connection.QuerySingleOrDefaultAsync<SummaryRow>(sql, new { id });
        return row?.ToSummary();
    }

    public async Task<IReadOnlyList<ExecutionSummary>> ListAsync(NpgsqlConnection connection, ExecutionQuery query)
    {
        const string sql = $"""
            SELECT {SummaryColumns} FROM execution.executions
            WHERE (@workflowId::uuid IS NULL OR workflow_id = @workflowId)
              AND (@status::text IS NULL OR status = @status)
            ORDER BY created_at DESC, id DESC
            OFFSET @offset LIMIT @limit
            """;
        var rows = await connection.QueryAsync<SummaryRow>(sql, new
        {
            workflowId = query.WorkflowId,
            status = query.Status is { } s ? HistoryCodec.StatusName(s) : null,
            offset = query.Offset,
            limit = query.Limit,
        });
        return rows.Select(r => r.ToSummary()).ToList();
    }
}
