using System.Data;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dapper;
using Npgsql;
using NpgsqlTypes;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Engine;

namespace Platform.Execution.Persistence;

/// <summary>The SQL of the Execution context, one statement per method.</summary>
public sealed class ExecutionStore
{
    public const string DispatchChannel = "execution_dispatch";
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

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

    /// <summary>Appends events with consecutive sequences after <paramref name="version"/>; the primary key makes a
    /// concurrent append of the same sequence fail rather than interleave.</summary>
    public async Task AppendAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, long version,
        IReadOnlyList<StoredEvent> events, DateTimeOffset time)
    {
        if (events.Count == 0)
        {
            return;
        }

        const string sql = """
            INSERT INTO execution.events (execution_id, sequence, type, time, step, attempt, data)
            SELECT @id, @version + n, t, @time, s, a, d::jsonb
            FROM unnest(@types, @steps, @attempts, @datas) WITH ORDINALITY AS e(t, s, a, d, n)
            """;
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.AddWithValue("id", id);
        command.Parameters.AddWithValue("version", version);
        command.Parameters.AddWithValue("time", time);
        command.Parameters.AddWithValue("types", events.Select(e => e.Type).ToArray());
        command.Parameters.Add(new NpgsqlParameter("steps", NpgsqlDbType.Array | NpgsqlDbType.Text)
        {
            Value = events.Select(e => (object?)e.Step ?? DBNull.Value).ToArray(),
        });
        command.Parameters.Add(new NpgsqlParameter("attempts", NpgsqlDbType.Array | NpgsqlDbType.Integer)
        {
            Value = events.Select(e => e.Attempt is { } a ? (object)a : DBNull.Value).ToArray(),
        });
        command.Parameters.AddWithValue("datas", events.Select(e => e.Data.ToJsonString()).ToArray());
        await command.ExecuteNonQueryAsync();
    }

    public async Task UpdateAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, long version,
        string status, string? error, DateTimeOffset? finishedAt)
    {
        const string sql = """
            UPDATE execution.executions
            SET version = @version, status = @status, error = @error, finished_at = @finishedAt
            WHERE id = @id
            """;
        await connection.ExecuteAsync(sql, new { id, version, status, error, finishedAt }, transaction);
    }

    public async Task AddDispatchesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction,
        IReadOnlyList<JobRequest> jobs)
    {
        if (jobs.Count == 0)
        {
            return;
        }

        const string sql = $"""
            INSERT INTO execution.dispatch_outbox (job_id, execution_id, job)
            SELECT j, e, d::jsonb FROM unnest(@jobIds, @executionIds, @jobs) AS x(j, e, d)
            ON CONFLICT (job_id) DO NOTHING;
            SELECT pg_notify('{DispatchChannel}', '');
            """;
        await connection.ExecuteAsync(sql, new
        {
            jobIds = jobs.Select(j => j.JobId).ToArray(),
            executionIds = jobs.Select(j => j.ExecutionId).ToArray(),
            jobs = jobs.Select(j => JsonSerializer.Serialize(j, Json)).ToArray(),
        }, transaction);
    }

    public async Task<IReadOnlyList<(long Id, JobRequest Job)>> TakeDispatchesAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, int limit)
    {
        const string sql = """
            SELECT id, job::text FROM execution.dispatch_outbox ORDER BY id LIMIT @limit FOR UPDATE SKIP LOCKED
            """;
        var rows = await connection.QueryAsync<(long Id, string Job)>(sql, new { limit }, transaction);
        return rows.Select(r => (r.Id, JsonSerializer.Deserialize<JobRequest>(r.Job, Json)!)).ToList();
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
            WHERE x.status = 'RUNNING' AND e.time < now() - @quiet
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
