using System.Globalization;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.BuildingBlocks.Messaging;
using Platform.Definitions.Contracts;
using Platform.Definitions.Domain;

namespace Platform.Definitions.Persistence;

/// <summary>
/// Workflows and their immutable revisions. Every change writes the workflow, its revision and the event it causes in
/// one transaction, so an event is published exactly for the changes that were stored.
/// </summary>
public sealed class WorkflowRepository(
    NpgsqlDataSource dataSource, [FromKeyedServices(DefinitionsModule.Schema)] Outbox outbox)
{
    private const string WorkflowColumns = """
        w.id AS Id, w.team_id AS TeamId, w.latest_revision AS Revision, w.archived AS Archived,
        w.created_at AS CreatedAt, w.updated_at AS UpdatedAt, r.document::text AS Document
        """;

    private const string LatestRevision =
        "JOIN definitions.workflow_revisions r ON r.workflow_id = w.id AND r.revision = w.latest_revision";

    public async Task<SavedWorkflow> CreateAsync(Guid id, CompiledWorkflow workflow, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        const string sql = """
            INSERT INTO definitions.workflows (id, team_id, name, latest_revision, archived, created_at, updated_at)
            VALUES (@id, @teamId, @name, 1, false, @now, @now)
            """;
        var teamId = workflow.Document.TeamId!;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await UniqueNameAsync(workflow, () => connection.ExecuteAsync(new CommandDefinition(sql,
            new { id, teamId, name = workflow.Document.Name, now }, transaction, cancellationToken: cancellationToken)));
        await AddRevisionAsync(connection, transaction, id, 1, workflow, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new SavedWorkflow(id, teamId, 1, false, now, now, workflow.Document);
    }

    /// <summary>Saves <paramref name="workflow"/> as revision N+1; earlier revisions stay as they are.</summary>
    public async Task<SavedWorkflow> UpdateAsync(Guid id, CompiledWorkflow workflow, DateTimeOffset now,
        CancellationToken cancellationToken)
    {
        const string lockSql = """
            SELECT latest_revision AS Revision, archived AS Archived, created_at AS CreatedAt
            FROM definitions.workflows WHERE id = @id FOR UPDATE
            """;
        const string updateSql = """
            UPDATE definitions.workflows SET name = @name, latest_revision = @revision, updated_at = @now WHERE id = @id
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var current = await connection.QuerySingleOrDefaultAsync<LockedRow>(
            new CommandDefinition(lockSql, new { id }, transaction, cancellationToken: cancellationToken))
            ?? throw new NotFoundException("workflow", id.ToString());
        if (current.Archived)
        {
            throw new PreconditionFailedException($"workflow '{id}' is archived; archived workflows cannot be changed");
        }

        var revision = current.Revision + 1;
        await UniqueNameAsync(workflow, () => connection.ExecuteAsync(new CommandDefinition(updateSql,
            new { id, name = workflow.Document.Name, revision, now }, transaction, cancellationToken: cancellationToken)));
        await AddRevisionAsync(connection, transaction, id, revision, workflow, now, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new SavedWorkflow(id, workflow.Document.TeamId!, revision, false, Timestamps.Utc(current.CreatedAt), now,
            workflow.Document);
    }

    /// <summary>Archives the workflow (idempotent). Archived workflows stay readable and resolvable.</summary>
    public async Task<SavedWorkflow> ArchiveAsync(Guid id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        const string sql = """
            UPDATE definitions.workflows SET archived = true, archived_at = @now, updated_at = @now
            WHERE id = @id AND NOT archived
            """;
        await using (var connection = await dataSource.OpenConnectionAsync(cancellationToken))
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            var archived = await connection.ExecuteAsync(new CommandDefinition(sql, new { id, now }, transaction,
                cancellationToken: cancellationToken));
            if (archived == 1)
            {
                await outbox.AddAsync(connection, transaction,
                    DeterministicGuid.Create(DefinitionsModule.Schema, nameof(WorkflowArchived), id.ToString()),
                    new WorkflowArchived(id, now));
            }

            await transaction.CommitAsync(cancellationToken);
        }

        return await GetAsync(id, cancellationToken) ?? throw new NotFoundException("workflow", id.ToString());
    }

    public async Task<SavedWorkflow?> GetAsync(Guid id, CancellationToken cancellationToken)
    {
        const string sql = $"SELECT {WorkflowColumns} FROM definitions.workflows w {LatestRevision} WHERE w.id = @id";
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<WorkflowRow>(
            new CommandDefinition(sql, new { id }, cancellationToken: cancellationToken));
        return row?.ToWorkflow();
    }

    public async Task<IReadOnlyList<SavedWorkflow>> ListAsync(string teamId, bool includeArchived, int offset, int limit,
        CancellationToken cancellationToken)
    {
        const string sql = $"""
            SELECT {WorkflowColumns} FROM definitions.workflows w {LatestRevision}
            WHERE w.team_id = @teamId AND (@includeArchived OR NOT w.archived)
            ORDER BY w.created_at, w.id LIMIT @limit OFFSET @offset
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<WorkflowRow>(new CommandDefinition(sql,
            new { teamId, includeArchived, limit, offset }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => r.ToWorkflow())];
    }

    /// <returns>null when the workflow does not exist.</returns>
    public async Task<IReadOnlyList<SavedRevision>?> ListRevisionsAsync(Guid id, int offset, int limit,
        CancellationToken cancellationToken)
    {
        const string existsSql = "SELECT EXISTS (SELECT 1 FROM definitions.workflows WHERE id = @id)";
        const string sql = """
            SELECT workflow_id AS WorkflowId, revision AS Revision, document::text AS Document, created_at AS CreatedAt
            FROM definitions.workflow_revisions WHERE workflow_id = @id
            ORDER BY revision LIMIT @limit OFFSET @offset
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (!await connection.ExecuteScalarAsync<bool>(new CommandDefinition(existsSql, new { id }, cancellationToken: cancellationToken)))
        {
            return null;
        }

        var rows = await connection.QueryAsync<RevisionRow>(
            new CommandDefinition(sql, new { id, limit, offset }, cancellationToken: cancellationToken));
        return [.. rows.Select(r => r.ToRevision())];
    }

    public async Task<SavedRevision?> GetRevisionAsync(Guid id, int revision, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT workflow_id AS WorkflowId, revision AS Revision, document::text AS Document, created_at AS CreatedAt
            FROM definitions.workflow_revisions WHERE workflow_id = @id AND revision = @revision
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<RevisionRow>(
            new CommandDefinition(sql, new { id, revision }, cancellationToken: cancellationToken));
        return row?.ToRevision();
    }

    /// <summary>The compiled DAG of a revision (0: the latest) and whether its workflow is archived.</summary>
    public async Task<(int Revision, string Name, bool Archived, WorkflowDag Dag)?> GetDagAsync(Guid id, int revision,
        CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT r.revision AS Revision, r.name AS Name, w.archived AS Archived, r.dag::text AS Dag
            FROM definitions.workflows w
            JOIN definitions.workflow_revisions r
              ON r.workflow_id = w.id AND r.revision = CASE WHEN @revision = 0 THEN w.latest_revision ELSE @revision END
            WHERE w.id = @id
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var row = await connection.QuerySingleOrDefaultAsync<DagRow>(
            new CommandDefinition(sql, new { id, revision }, cancellationToken: cancellationToken));
        return row is null ? null : (row.Revision, row.Name, row.Archived, DagJson.Read(row.Dag));
    }

    private async Task AddRevisionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, int revision,
        CompiledWorkflow workflow, DateTimeOffset now, CancellationToken cancellationToken)
    {
        const string sql = """
            INSERT INTO definitions.workflow_revisions (workflow_id, revision, name, document, dag, created_at)
            VALUES (@id, @revision, @name, @document::jsonb, @dag::jsonb, @now)
            """;
        var document = workflow.Document;
        await connection.ExecuteAsync(new CommandDefinition(sql, new
        {
            id,
            revision,
            name = document.Name,
            document = WorkflowDocumentJson.Write(document),
            dag = DagJson.Write(workflow.Dag),
            now,
        }, transaction, cancellationToken: cancellationToken));
        await outbox.AddAsync(connection, transaction,
            DeterministicGuid.Create(DefinitionsModule.Schema, nameof(WorkflowRevisionCreated), id.ToString(),
                revision.ToString(CultureInfo.InvariantCulture)),
            new WorkflowRevisionCreated(id, revision, document.Name, document.TeamId!, now));
    }

    private static async Task UniqueNameAsync(CompiledWorkflow workflow, Func<Task<int>> write)
    {
        try
        {
            await write();
        }
        catch (PostgresException e) when (e is { SqlState: PostgresErrorCodes.UniqueViolation, ConstraintName: "workflows_team_name" })
        {
            throw new AlreadyExistsException(
                $"a workflow named '{workflow.Document.Name}' already exists in team '{workflow.Document.TeamId}'");
        }
    }

    private sealed record LockedRow(int Revision, bool Archived, DateTime CreatedAt);

    private sealed record DagRow(int Revision, string Name, bool Archived, string Dag);

    private sealed record WorkflowRow(
        Guid Id, string TeamId, int Revision, bool Archived, DateTime CreatedAt, DateTime UpdatedAt, string Document)
    {
        public SavedWorkflow ToWorkflow() => new(Id, TeamId, Revision, Archived, Timestamps.Utc(CreatedAt),
            Timestamps.Utc(UpdatedAt), WorkflowDocumentJson.Parse(Document));
    }

    private sealed record RevisionRow(Guid WorkflowId, int Revision, string Document, DateTime CreatedAt)
    {
        public SavedRevision ToRevision() =>
            new(WorkflowId, Revision, WorkflowDocumentJson.Parse(Document), Timestamps.Utc(CreatedAt));
    }
}
