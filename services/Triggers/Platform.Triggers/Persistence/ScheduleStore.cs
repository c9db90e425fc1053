using Dapper;
using Npgsql;
using Platform.Triggers.Domain;

namespace Platform.Triggers.Persistence;

/// <summary>Schedules and their fired slots. Every change that can move the next due slot NOTIFYs
/// <see cref="Channel"/>, which wakes the firing worker of every replica.</summary>
public sealed class ScheduleStore(NpgsqlDataSource dataSource)
{
    public const string Channel = "triggers_schedules";

    private const string Columns = """
        id AS Id, workflow_id AS WorkflowId, team_id AS TeamId, cron AS Cron, interval AS Interval,
        timezone AS Timezone, input::text AS Input, overlap AS Overlap, catch_up AS CatchUp, start_at AS StartAt,
        end_at AS EndAt, paused AS Paused, next_fire_at AS NextFireAt, buffered_slot AS BufferedSlot,
        created_at AS CreatedAt
        """;

    private const string Notify = $"SELECT pg_notify('{Channel}', '');";

    public async Task InsertAsync(ScheduleRecord schedule)
    {
        const string sql = $"""
            INSERT INTO triggers.schedules (id, workflow_id, team_id, cron, interval, timezone, input, overlap, catch_up,
                start_at, end_at, paused, next_fire_at, created_at)
            VALUES (@Id, @WorkflowId, @TeamId, @Cron, @Interval, @Timezone, @Input::jsonb, @Overlap, @CatchUp,
                @StartAt, @EndAt, @Paused, @NextFireAt, @CreatedAt);
            {Notify}
            """;
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync(sql, schedule);
    }

    public async Task<ScheduleRecord?> GetAsync(Guid id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<ScheduleRecord>(
            $"SELECT {Columns} FROM triggers.schedules WHERE id = @id AND deleted_at IS NULL", new { id });
    }

    public async Task<IReadOnlyList<ScheduleRecord>> ListAsync(Guid? workflowId, int offset, int limit)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return (await connection.QueryAsync<ScheduleRecord>($"""
            SELECT {Columns} FROM triggers.schedules
            WHERE deleted_at IS NULL AND (@workflowId::uuid IS NULL OR workflow_id = @workflowId)
            ORDER BY created_at DESC, id DESC OFFSET @offset LIMIT @limit
            """, new { workflowId, offset, limit })).AsList();
    }

    public async Task<IReadOnlyList<FireRecord>> RecentFiresAsync(Guid scheduleId, int limit)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return (await connection.QueryAsync<FireRecord>("""
            SELECT slot_time AS SlotTime, outcome AS Outcome, execution_id AS ExecutionId, fired_at AS FiredAt,
                   finished_at AS FinishedAt
            FROM triggers.schedule_fires WHERE schedule_id = @scheduleId ORDER BY slot_time DESC LIMIT @limit
            """, new { scheduleId, limit })).AsList();
    }

    /// <summary>Pauses, or resumes with the next slot from now on (slots passed while paused are not fired).</summary>
    public async Task<ScheduleRecord?> SetPausedAsync(Guid id, bool paused, Func<ScheduleRecord, DateTimeOffset?> nextFireAt)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        var schedule = await connection.QuerySingleOrDefaultAsync<ScheduleRecord>(
            $"SELECT {Columns} FROM triggers.schedules WHERE id = @id AND deleted_at IS NULL FOR UPDATE", new { id }, transaction);
        if (schedule is null)
        {
            return null;
        }

        var next = paused ? schedule.NextFireAt : nextFireAt(schedule)?.UtcDateTime;
        var updated = await connection.QuerySingleAsync<ScheduleRecord>($"""
            UPDATE triggers.schedules SET paused = @paused, next_fire_at = @next WHERE id = @id RETURNING {Columns};
            {Notify}
            """, new { id, paused, next }, transaction);
        await transaction.CommitAsync();
        return updated;
    }

    public async Task<ScheduleRecord?> DeleteAsync(Guid id, DateTimeOffset now)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<ScheduleRecord>($"""
            UPDATE triggers.schedules SET deleted_at = @now WHERE id = @id AND deleted_at IS NULL RETURNING {Columns};
            {Notify}
            """, new { id, now });
    }

    /// <summary>When the next slot of any active schedule is due; null when none will fire.</summary>
    public async Task<DateTimeOffset?> NextDueAsync()
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        var next = await connection.ExecuteScalarAsync<DateTime?>(
            "SELECT min(next_fire_at) FROM triggers.schedules WHERE NOT paused AND deleted_at IS NULL");
        return ScheduleRecord.Utc(next);
    }

    /// <summary>Locks one due schedule; replicas skip the ones another holds.</summary>
    public Task<ScheduleRecord?> LockDueAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, DateTimeOffset now) =>
        connection.QuerySingleOrDefaultAsync<ScheduleRecord?>($"""
            SELECT {Columns} FROM triggers.schedules
            WHERE NOT paused AND deleted_at IS NULL AND next_fire_at <= @now
            ORDER BY next_fire_at LIMIT 1 FOR UPDATE SKIP LOCKED
            """, new { now }, transaction);

    public Task<ScheduleRecord?> LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id) =>
        connection.QuerySingleOrDefaultAsync<ScheduleRecord?>(
            $"SELECT {Columns} FROM triggers.schedules WHERE id = @id AND deleted_at IS NULL FOR UPDATE", new { id }, transaction);

    /// <summary>Records a handled slot; false when it was handled already (by this or another replica).</summary>
    public async Task<bool> InsertFireAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid scheduleId,
        DateTimeOffset slot, string outcome, DateTimeOffset now) =>
        await connection.ExecuteAsync("""
            INSERT INTO triggers.schedule_fires (schedule_id, slot_time, outcome, fired_at)
            VALUES (@scheduleId, @slot, @outcome, @now) ON CONFLICT DO NOTHING
            """, new { scheduleId, slot, outcome, now }, transaction) == 1;

    public Task SetFireStartedAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid scheduleId,
        DateTimeOffset slot, string outcome, Guid? executionId) =>
        connection.ExecuteAsync("""
            UPDATE triggers.schedule_fires SET execution_id = @executionId, outcome = @outcome
            WHERE schedule_id = @scheduleId AND slot_time = @slot
            """, new { scheduleId, slot, outcome, executionId }, transaction);

    /// <summary>The latest execution this schedule started that is not known to have finished.</summary>
    public Task<FireRecord?> UnfinishedFireAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid scheduleId) =>
        connection.QuerySingleOrDefaultAsync<FireRecord?>("""
            SELECT slot_time AS SlotTime, outcome AS Outcome, execution_id AS ExecutionId, fired_at AS FiredAt,
                   finished_at AS FinishedAt
            FROM triggers.schedule_fires
            WHERE schedule_id = @scheduleId AND execution_id IS NOT NULL AND finished_at IS NULL
            ORDER BY slot_time DESC LIMIT 1
            """, new { scheduleId }, transaction);

    /// <returns>the schedule that started the execution, if one did.</returns>
    public async Task<Guid?> MarkFinishedAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, Guid executionId,
        DateTimeOffset now) =>
        await connection.QuerySingleOrDefaultAsync<Guid?>("""
            UPDATE triggers.schedule_fires SET finished_at = coalesce(finished_at, @now)
            WHERE execution_id = @executionId RETURNING schedule_id
            """, new { executionId, now }, transaction);

    public Task AdvanceAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, DateTimeOffset? next,
        DateTimeOffset? bufferedSlot) =>
        connection.ExecuteAsync(
            "UPDATE triggers.schedules SET next_fire_at = @next, buffered_slot = @bufferedSlot WHERE id = @id",
            new { id, next, bufferedSlot }, transaction);
}
