using Dapper;
using Npgsql;
using Platform.Triggers.Domain;

namespace Platform.Triggers.Persistence;

public sealed class TriggerStore(NpgsqlDataSource dataSource)
{
    /// <summary>Notified when a webhook trigger's secret changes or a trigger is gone: the caches of triggers (here
    /// and the webhook ingress's <c>TriggerDirectory.ChangedChannel</c>, the same name) are emptied.</summary>
    public const string ChangedChannel = "webhook_triggers_changed";

    private const string NotifyChanged = $"SELECT pg_notify('{ChangedChannel}', '');";

    private const string Columns = """
        id AS Id, workflow_id AS WorkflowId, team_id AS TeamId, type AS Type, verification AS Verification,
        source AS Source, dedupe_header AS DedupeHeader, input_mapping::text AS InputMapping, filter AS Filter,
        source_workflow_id AS SourceWorkflowId, on_status AS OnStatus, secret AS Secret,
        previous_secret AS PreviousSecret, previous_secret_expires_at AS PreviousSecretExpiresAt,
        created_at AS CreatedAt, deleted_at AS DeletedAt
        """;

    public async Task InsertAsync(TriggerRecord trigger)
    {
        const string sql = """
            INSERT INTO triggers.triggers (id, workflow_id, team_id, type, verification, source, dedupe_header,
                input_mapping, filter, source_workflow_id, on_status, secret, created_at)
            VALUES (@Id, @WorkflowId, @TeamId, @Type, @Verification, @Source, @DedupeHeader,
                @InputMapping::jsonb, @Filter, @SourceWorkflowId, @OnStatus, @Secret, @CreatedAt)
            """;
        await using var connection = await dataSource.OpenConnectionAsync();
        await connection.ExecuteAsync(sql, trigger);
    }

    public async Task<TriggerRecord?> GetAsync(Guid id)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<TriggerRecord>(
            $"SELECT {Columns} FROM triggers.triggers WHERE id = @id AND deleted_at IS NULL", new { id });
    }

    public async Task<IReadOnlyList<TriggerRecord>> ListAsync(Guid? workflowId, int offset, int limit)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return (await connection.QueryAsync<TriggerRecord>($"""
            SELECT {Columns} FROM triggers.triggers
            WHERE deleted_at IS NULL AND (@workflowId::uuid IS NULL OR workflow_id = @workflowId)
            ORDER BY created_at DESC, id DESC OFFSET @offset LIMIT @limit
            """, new { workflowId, offset, limit })).AsList();
    }

    /// <summary>The event triggers watching <paramref name="workflowId"/> that a finish with
    /// <paramref name="status"/> fires.</summary>
    public async Task<IReadOnlyList<TriggerRecord>> EventTriggersAsync(Guid workflowId, string status)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return (await connection.QueryAsync<TriggerRecord>($"""
            SELECT {Columns} FROM triggers.triggers
            WHERE type = 'event' AND deleted_at IS NULL AND source_workflow_id = @workflowId
              AND on_status IN (@status, 'ANY')
            """, new { workflowId, status })).AsList();
    }

    public async Task<TriggerRecord?> RotateSecretAsync(Guid id, string secret, DateTimeOffset previousExpiresAt)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<TriggerRecord>($"""
            UPDATE triggers.triggers
            SET previous_secret = secret, previous_secret_expires_at = @previousExpiresAt, secret = @secret
            WHERE id = @id AND deleted_at IS NULL AND type = 'webhook'
            RETURNING {Columns};
            {NotifyChanged}
            """, new { id, secret, previousExpiresAt });
    }

    public async Task<TriggerRecord?> DeleteAsync(Guid id, DateTimeOffset now)
    {
        await using var connection = await dataSource.OpenConnectionAsync();
        return await connection.QuerySingleOrDefaultAsync<TriggerRecord>($"""
            UPDATE triggers.triggers SET deleted_at = @now WHERE id = @id AND deleted_at IS NULL RETURNING {Columns};
            {NotifyChanged}
            """, new { id, now });
    }
}
