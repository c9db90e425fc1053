using System.Reflection;
using DbUp;
using DbUp.Engine.Output;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Platform.BuildingBlocks.Persistence;

/// <summary>
/// A context's schema and the assembly whose embedded <c>Migrations/*.sql</c> files build it, applied in name order
/// (0001_..., 0002_...) and journalled in the schema itself, so contexts migrate independently.
/// </summary>
public sealed record SchemaMigrations(string Schema, Assembly ScriptsAssembly)
{
    public void Apply(string connectionString, ILogger logger)
    {
        using (var connection = new Npgsql.NpgsqlConnection(connectionString))
        {
            connection.Open();
            using var create = new Npgsql.NpgsqlCommand($"CREATE SCHEMA IF NOT EXISTS \"{Schema}\"", connection);
            create.ExecuteNonQuery();
        }

        var upgrader = DeployChanges.To
            .PostgresqlDatabase(connectionString, Schema)
            .WithScriptsEmbeddedInAssembly(ScriptsAssembly, name => name.Contains(".Migrations.", StringComparison.Ordinal))
            .JournalToPostgresqlTable(Schema, "schema_versions")
            .WithTransactionPerScript()
            .LogTo(new DbUpLogger(logger))
            .Build();
        var result = upgrader.PerformUpgrade();
        if (!result.Successful)
        {
            throw new InvalidOperationException($"Migrating schema '{Schema}' failed: {result.Error.Message}", result.Error);
        }
    }

    // DbUp hands us printf-style templates; they are formatted here so log templates stay constant.
    private sealed class DbUpLogger(ILogger logger) : IUpgradeLog
    {
        public void LogTrace(string format, params object[] args) => logger.LogTrace("{DbUp}", Format(format, args));
        public void LogDebug(string format, params object[] args) => logger.LogDebug("{DbUp}", Format(format, args));
        public void LogInformation(string format, params object[] args) => logger.LogDebug("{DbUp}", Format(format, args));
        public void LogWarning(string format, params object[] args) => logger.LogWarning("{DbUp}", Format(format, args));
        public void LogError(string format, params object[] args) => logger.LogError("{DbUp}", Format(format, args));
        public void LogError(Exception ex, string format, params object[] args) => logger.LogError(ex, "{DbUp}", Format(format, args));

        private static string Format(string format, object[] args) =>
            args.Length == 0 ? format : string.Format(System.Globalization.CultureInfo.InvariantCulture, format, args);
    }
}

/// <summary>
/// Applies every registered schema's migrations before the host serves. Production turns this off
/// (Database:MigrateOnStartup=false) and runs the host once with the argument <c>migrate</c> instead.
/// </summary>
public sealed class MigrationHostedService(
    IEnumerable<SchemaMigrations> schemas, IConfiguration configuration, ILogger<MigrationHostedService> logger)
    : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!configuration.GetValue("Database:MigrateOnStartup", true))
        {
            return Task.CompletedTask;
        }

        MigrateAll(schemas, configuration.PlatformConnectionString(), logger);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public static void MigrateAll(IEnumerable<SchemaMigrations> schemas, string connectionString, ILogger logger)
    {
        // Schemas are created serially under an advisory lock so that replicas starting together do not race.
        using var connection = new Npgsql.NpgsqlConnection(connectionString);
        EnsureDatabase.For.PostgresqlDatabase(connectionString, new DbUp.Engine.Output.NoOpUpgradeLog());
        connection.Open();
        using (var lockCommand = new Npgsql.NpgsqlCommand("SELECT pg_advisory_lock(7261001)", connection))
        {
            lockCommand.ExecuteNonQuery();
        }

        try
        {
            foreach (var schema in schemas)
            {
                schema.Apply(connectionString, logger);
                logger.LogInformation("Schema {Schema} is up to date", schema.Schema);
            }
        }
        finally
        {
            using var unlock = new Npgsql.NpgsqlCommand("SELECT pg_advisory_unlock(7261001)", connection);
            unlock.ExecuteNonQuery();
        }
    }
}

public static class MigrationCommand
{
    /// <summary>Applies every registered schema's migrations now (the host's <c>migrate</c> argument).</summary>
    public static void ApplyMigrations(this IServiceProvider services)
    {
        var configuration = (IConfiguration)services.GetService(typeof(IConfiguration))!;
        var logger = ((ILoggerFactory)services.GetService(typeof(ILoggerFactory))!).CreateLogger("Migrations");
        MigrationHostedService.MigrateAll(
            (IEnumerable<SchemaMigrations>)services.GetService(typeof(IEnumerable<SchemaMigrations>))!,
            configuration.PlatformConnectionString(), logger);
    }
}
