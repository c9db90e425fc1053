using System.Text.Json;
using Dapper;
using Npgsql;
using Platform.BuildingBlocks.Errors;
using Platform.Definitions.Domain;

namespace Platform.Definitions.Persistence;

/// <summary>Agents, unique by name within a team, immutable once created.</summary>
public sealed class AgentRepository(NpgsqlDataSource dataSource)
{
    private const string Columns = """
        id AS Id, team_id AS TeamId, name AS Name, description AS Description, command::text AS Command,
        image AS Image, env::text AS Env, runner_labels::text AS RunnerLabels, created_at AS CreatedAt,
        executor AS Executor, resources::text AS Resources
        """;

    public async Task<Agent> CreateAsync(Agent agent, CancellationToken cancellationToken)
    {
        const string sql = """
            INSERT INTO definitions.agents (id, team_id, name, description, command, image, env, runner_labels, created_at,
                                            executor, resources)
            VALUES (@Id, @TeamId, @Name, @Description, @Command::jsonb, @Image, @Env::jsonb, @RunnerLabels::jsonb, @CreatedAt,
                    @Executor, @Resources::jsonb)
            """;
        var spec = agent.Spec;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        try
        {
            await connection.ExecuteAsync(new CommandDefinition(sql, new
            {
                agent.Id,
                spec.TeamId,
                spec.Name,
                spec.Description,
                Command = JsonSerializer.Serialize(spec.Command),
                spec.Image,
                Env = JsonSerializer.Serialize(spec.Env),
                RunnerLabels = JsonSerializer.Serialize(spec.RunnerLabels),
                agent.CreatedAt,
                spec.Executor,
                Resources = JsonSerializer.Serialize(spec.Resources),
            }, cancellationToken: cancellationToken));
        }
        catch (PostgresException e) when (e is { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: "agents_team_name" })
        {
            throw new AlreadyExistsException($"an agent named '{spec.Name}' already exists in team '{spec.TeamId}'");
        }

        return agent;
    }

    public async Task<Agent?> GetAsync(Guid id, CancellationToken cancellationToken)
    {
        const string sql = $"SELECT {Columns} FROM definitions.agents WHERE id = @id";
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<AgentRow>(
            new CommandDefinition(sql, new { id }, cancellationToken: cancellationToken));
        return row?.ToAgent();
    }

    public async Task<IReadOnlyList<Agent>> ListAsync(string teamId, int offset, int limit, CancellationToken cancellationToken)
    {
        const string sql = $"""
            SELECT {Columns} FROM definitions.agents WHERE team_id = @teamId
            ORDER BY created_at, id LIMIT @limit OFFSET @offset
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<AgentRow>(
            new CommandDefinition(sql, new { teamId, limit, offset }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => r.ToAgent())];
    }

    public async Task<IReadOnlyDictionary<Guid, Agent>> GetManyAsync(IEnumerable<Guid> ids, CancellationToken cancellationToken)
    {
        const string sql = $"SELECT {Columns} FROM definitions.agents WHERE id = ANY(@ids)";
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<AgentRow>(
            new CommandDefinition(sql, new { ids = ids.Distinct().ToArray() }, cancellationToken: cancellationToken));
        return rows.Select(r => r.ToAgent()).ToDictionary(a => a.Id);
    }

    /// <summary>The agents of the team that a workflow document names (by id or by name). Agents are never changed
    /// or deleted, so what this returns stays true for the transaction that stores the workflow.</summary>
    public async Task<AgentDirectory> DirectoryAsync(string teamId, AgentReferences references, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT id, name FROM definitions.agents
            WHERE team_id = @teamId AND (id = ANY(@ids) OR name = ANY(@names))
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(Guid Id, string Name)>(new CommandDefinition(sql,
            new { teamId, ids = references.Ids.ToArray(), names = references.Names.ToArray() },
            cancellationToken: cancellationToken));
        return new AgentDirectory(teamId, rows);
    }

    private sealed record AgentRow(
        Guid Id, string TeamId, string Name, string Description, string Command, string Image, string Env,
        string RunnerLabels, DateTime CreatedAt, string Executor, string Resources)
    {
        public Agent ToAgent() => new(Id,
            new AgentSpec(TeamId, Name, Description,
                JsonSerializer.Deserialize<List<string>>(Command)!,
                Image,
                JsonSerializer.Deserialize<Dictionary<string, string>>(Env)!,
                JsonSerializer.Deserialize<List<string>>(RunnerLabels)!)
            {
                Executor = Executor,
                // Agents stored before resources existed have '{}': every quantity empty.
                Resources = JsonSerializer.Deserialize<AgentResources?>(Resources) is { CpuRequest: not null } r
                    ? r
                    : AgentResources.None,
            },
            Timestamps.Utc(CreatedAt));
    }
}

internal static class Timestamps
{
    public static DateTimeOffset Utc(DateTime time) => new(DateTime.SpecifyKind(time, DateTimeKind.Utc));
}
