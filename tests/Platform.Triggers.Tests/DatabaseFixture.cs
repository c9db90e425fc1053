using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Testing;
using Platform.Triggers;
using Platform.WebhookIngress;

namespace Platform.Triggers.Tests;

/// <summary>A database of its own with the triggers and ingress schemas migrated, on the real PostgreSQL.</summary>
public sealed class DatabaseFixture : IAsyncLifetime
{
    public NpgsqlDataSource DataSource { get; private set; } = null!;
    public Outbox IngressOutbox { get; } = new(IngressModule.Schema);

    public async Task InitializeAsync()
    {
        var connectionString = await TestDatabase.CreateAsync("triggers");
        MigrationHostedService.MigrateAll([
            new SchemaMigrations(TriggersModule.Schema, typeof(TriggersModule).Assembly),
            new SchemaMigrations(IngressModule.Schema, typeof(IngressModule).Assembly),
        ], connectionString, NullLogger.Instance);
        DataSource = NpgsqlDataSource.Create(connectionString);
    }

    public async Task DisposeAsync()
    {
        await DataSource.DisposeAsync();
        await TestDatabase.DropAsync(DataSource.ConnectionString);
    }

    /// <summary>How many messages about a delivery wait in a schema's outbox.</summary>
    public async Task<long> OutboxMessagesForAsync(string schema, Guid deliveryId)
    {
        await using var connection = await DataSource.OpenConnectionAsync();
        return await connection.ExecuteScalarAsync<long>(
            $"SELECT count(*) FROM {schema}.outbox WHERE payload->>'deliveryId' = @id", new { id = deliveryId.ToString() });
    }
}
