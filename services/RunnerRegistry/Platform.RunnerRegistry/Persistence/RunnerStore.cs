using System.Data;
using Dapper;
using Npgsql;
using Platform.RunnerRegistry.Domain;

namespace Platform.RunnerRegistry.Persistence;

/// <summary>Registration tokens and runners in <c>runners.registration_tokens</c> and <c>runners.runners</c>.</summary>
internal sealed class RunnerStore(NpgsqlDataSource dataSource)
{
    public async Task<DateTimeOffset> InsertRegistrationTokenAsync(
        Guid id, byte[] tokenHash, string[] labels, bool singleUse, TimeSpan expiresIn, CancellationToken cancellationToken)
    {
        const string sql = """
            INSERT INTO runners.registration_tokens (id, token_hash, labels, single_use, expires_at)
            VALUES (@id, @tokenHash, @labels, @singleUse, clock_timestamp() + make_interval(secs => @seconds))
            RETURNING expires_at
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var expiresAt = await connection.ExecuteScalarAsync<DateTime>(new CommandDefinition(sql,
            new { id, tokenHash, labels, singleUse, seconds = expiresIn.TotalSeconds }, cancellationToken: cancellationToken));
        return Utc(expiresAt);
    }

    /// <summary>The token with this hash, locked until the registration commits, and the database's clock.</summary>
    public async Task<RegistrationTokenRow?> LockRegistrationTokenAsync(
        IDbConnection connection, IDbTransaction transaction, byte[] tokenHash)
    {
        const string sql = """
            SELECT id AS Id, labels AS Labels, single_use AS SingleUse, expires_at AS ExpiresAt, used_at AS UsedAt,
                   clock_timestamp() AS Now
            FROM runners.registration_tokens
            WHERE token_hash = @tokenHash
            FOR UPDATE
            """;
        return await connection.QuerySingleOrDefaultAsync<RegistrationTokenRow>(sql, new { tokenHash }, transaction);
    }

    public async Task MarkRegistrationTokenUsedAsync(IDbConnection connection, IDbTransaction transaction, Guid tokenId)
    {
        const string sql = """
            UPDATE runners.registration_tokens SET used_at = coalesce(used_at, clock_timestamp()) WHERE id = @tokenId
            """;
        await connection.ExecuteAsync(sql, new { tokenId }, transaction);
    }

    /// <summary>Serialises registrations of one name (so two of them cannot both be the live one).</summary>
    public async Task LockNameAsync(IDbConnection connection, IDbTransaction transaction, string name)
    {
        const string sql = "SELECT pg_advisory_xact_lock(7261002, hashtext(@name))";
        await connection.ExecuteAsync(sql, new { name }, transaction);
    }

    /// <summary>Marks the live registrations of <paramref name="name"/> replaced; returns them (id and credential hash).</summary>
    public async Task<IReadOnlyList<ReplacedRunner>> ReplaceByNameAsync(
        IDbConnection connection, IDbTransaction transaction, string name)
    {
        const string sql = """
            UPDATE runners.runners SET replaced_at = clock_timestamp()
            WHERE name = @name AND replaced_at IS NULL AND revoked_at IS NULL
            RETURNING id AS Id, credential_hash AS CredentialHash
            """;
        return (await connection.QueryAsync<ReplacedRunner>(sql, new { name }, transaction)).AsList();
    }

    public async Task InsertRunnerAsync(IDbConnection connection, IDbTransaction transaction, Guid id, string name,
        string[] labels, int capacity, string[] executors, string version, byte[] credentialHash, Guid tokenId)
    {
        const string sql = """
            INSERT INTO runners.runners (id, name, labels, capacity, executor, executors, version, credential_hash,
                                         registration_token_id)
            VALUES (@id, @name, @labels, @capacity, @executor, @executors, @version, @credentialHash, @tokenId)
            """;
        await connection.ExecuteAsync(sql, new
        {
            id, name, labels, capacity, executor = string.Join(',', executors), executors, version, credentialHash, tokenId,
        }, transaction);
    }

    public async Task<AuthenticatedRunner?> FindLiveByCredentialAsync(byte[] credentialHash, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT id AS Id, name AS Name FROM runners.runners
            WHERE credential_hash = @credentialHash AND replaced_at IS NULL AND revoked_at IS NULL
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<AuthenticatedRunner>(
            new CommandDefinition(sql, new { credentialHash }, cancellationToken: cancellationToken));
    }

    /// <returns>whether the runner was asked to drain; null when its registration is no longer live (replaced or
    /// revoked).</returns>
    public async Task<bool?> RecordHeartbeatAsync(NpgsqlConnection connection, Guid runnerId, CancellationToken cancellationToken)
    {
        const string sql = """
            UPDATE runners.runners SET last_heartbeat_at = clock_timestamp()
            WHERE id = @runnerId AND replaced_at IS NULL AND revoked_at IS NULL
            RETURNING drain_requested_at IS NOT NULL
            """;
        return await connection.QuerySingleOrDefaultAsync<bool?>(
            new CommandDefinition(sql, new { runnerId }, cancellationToken: cancellationToken));
    }

    /// <summary>Marks the live runner draining (the first request's time stays); false when there is no such runner.</summary>
    public async Task<bool> RequestDrainAsync(Guid runnerId, CancellationToken cancellationToken)
    {
        const string sql = $"""
            UPDATE runners.runners SET drain_requested_at = coalesce(drain_requested_at, clock_timestamp())
            WHERE id = @runnerId AND replaced_at IS NULL AND revoked_at IS NULL;
            SELECT pg_notify('{JobStore.JobsChannel}', ''); -- the runner's waiting acquire answers "drain" at once
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteAsync(new CommandDefinition(sql, new { runnerId }, cancellationToken: cancellationToken)) > 0;
    }

    /// <summary>Revokes the live runner; returns its credential hash, or null when there is no such runner.</summary>
    public async Task<byte[]?> RevokeAsync(IDbConnection connection, IDbTransaction transaction, Guid runnerId)
    {
        const string sql = """
            UPDATE runners.runners SET revoked_at = clock_timestamp()
            WHERE id = @runnerId AND replaced_at IS NULL AND revoked_at IS NULL
            RETURNING credential_hash
            """;
        return await connection.QuerySingleOrDefaultAsync<byte[]>(sql, new { runnerId }, transaction);
    }

    /// <summary>Live runners with the number of jobs each holds, in one query.</summary>
    public async Task<IReadOnlyList<RunnerView>> ListAsync(int limit, int offset, CancellationToken cancellationToken)
    {
        const string sql = $"""
            {SelectRunnerViews}
            WHERE r.replaced_at IS NULL AND r.revoked_at IS NULL
            ORDER BY r.registered_at, r.id
            LIMIT @limit OFFSET @offset
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<RunnerRow>(
            new CommandDefinition(sql, new { limit, offset }, cancellationToken: cancellationToken));
        return rows.Select(r => r.ToView()).ToList();
    }

    public async Task<RunnerView?> GetAsync(Guid id, CancellationToken cancellationToken)
    {
        const string sql = $"""
            {SelectRunnerViews}
            WHERE r.id = @id AND r.replaced_at IS NULL AND r.revoked_at IS NULL
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<RunnerRow>(
            new CommandDefinition(sql, new { id }, cancellationToken: cancellationToken));
        return row?.ToView();
    }

    private const string SelectRunnerViews = """
        SELECT r.id AS Id, r.name AS Name, r.labels AS Labels, r.capacity AS Capacity, r.executors AS Executors,
               r.version AS Version, r.registered_at AS RegisteredAt, r.last_heartbeat_at AS LastHeartbeatAt,
               r.drain_requested_at IS NOT NULL AS Draining,
               (SELECT count(*) FROM runners.jobs j
                WHERE j.runner_id = r.id AND j.state IN ('leased', 'running'))::int AS RunningJobs
        FROM runners.runners r
        """;

    internal static DateTimeOffset Utc(DateTime value) => new(DateTime.SpecifyKind(value, DateTimeKind.Utc));

    // A class with properties rather than a positional record: Dapper reports text[] columns as System.Array, which
    // only property mapping converts.
    private sealed class RunnerRow
    {
        public Guid Id { get; init; }
        public string Name { get; init; } = "";
        public string[] Labels { get; init; } = [];
        public int Capacity { get; init; }
        public string[] Executors { get; init; } = [];
        public string Version { get; init; } = "";
        public DateTime RegisteredAt { get; init; }
        public DateTime LastHeartbeatAt { get; init; }
        public int RunningJobs { get; init; }
        public bool Draining { get; init; }

        public RunnerView ToView() => new(Id, Name, Labels, Capacity, Executors, Version, Utc(RegisteredAt),
            Utc(LastHeartbeatAt), RunningJobs, Draining);
    }
}

internal sealed class RegistrationTokenRow
{
    public Guid Id { get; init; }
    public string[] Labels { get; init; } = [];
    public bool SingleUse { get; init; }
    public DateTime ExpiresAt { get; init; }
    public DateTime? UsedAt { get; init; }
    public DateTime Now { get; init; }

    public DateTimeOffset DatabaseNow => RunnerStore.Utc(Now);

    public RegistrationTokenSnapshot ToSnapshot() => new(
        Id, Labels, SingleUse, RunnerStore.Utc(ExpiresAt), UsedAt is { } used ? RunnerStore.Utc(used) : null);
}

internal sealed record ReplacedRunner(Guid Id, byte[] CredentialHash);
