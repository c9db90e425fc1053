using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Platform.BuildingBlocks.Persistence;

public static class DatabaseExtensions
{
    public const string DefaultConnectionString =
        "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres;Database=platform";

    public static string PlatformConnectionString(this IConfiguration configuration) =>
        configuration.GetConnectionString("Platform") ?? DefaultConnectionString;

    /// <summary>One NpgsqlDataSource per process, the LISTEN/NOTIFY hub, and a database health check. Idempotent.</summary>
    public static IHostApplicationBuilder AddPlatformDatabase(this IHostApplicationBuilder builder)
    {
        if (builder.Services.Any(d => d.ServiceType == typeof(NpgsqlDataSource)))
        {
            return builder;
        }

        var connectionString = builder.Configuration.PlatformConnectionString();
        builder.Services.AddSingleton(_ =>
        {
            var dataSource = new NpgsqlDataSourceBuilder(connectionString) { Name = "platform" };
            // The hot paths run the same few statements over and over: prepared once per connection, PostgreSQL
            // parses and plans them once (unless the connection string says otherwise).
            if (dataSource.ConnectionStringBuilder.MaxAutoPrepare == 0)
            {
                dataSource.ConnectionStringBuilder.MaxAutoPrepare = 128;
                dataSource.ConnectionStringBuilder.AutoPrepareMinUsages = 2;
            }

            // Every session setting the platform makes is transaction-scoped (SET LOCAL, set_config(..., true),
            // transaction advisory locks), so the reset Npgsql otherwise sends with the first statement of each reuse
            // of a pooled connection — seven statements (RESET ALL, UNLISTEN *, pg_advisory_unlock_all(), ...) when
            // prepared statements must survive it — is server work for nothing on every call.
            if (!dataSource.ConnectionStringBuilder.ContainsKey("No Reset On Close"))
            {
                dataSource.ConnectionStringBuilder.NoResetOnClose = true;
            }

            return dataSource.Build();
        });
        builder.Services.TryAddSingleton<PgNotificationHub>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<PgNotificationHub>());
        builder.Services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("postgresql");
        return builder;
    }

    /// <summary>Registers a schema's migrations; they run at start unless Database:MigrateOnStartup is false.</summary>
    public static IHostApplicationBuilder AddSchemaMigrations(this IHostApplicationBuilder builder, string schema,
        System.Reflection.Assembly scriptsAssembly)
    {
        builder.AddPlatformDatabase();
        builder.Services.AddSingleton(new SchemaMigrations(schema, scriptsAssembly));
        if (!builder.Services.Any(d => d.ImplementationType == typeof(MigrationHostedService)))
        {
            // Registered before the other hosted services of the module, which need the tables.
            builder.Services.Insert(0, ServiceDescriptor.Singleton<IHostedService, MigrationHostedService>());
        }

        return builder;
    }
}

internal sealed class DatabaseHealthCheck(NpgsqlDataSource dataSource) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            await using var command = dataSource.CreateCommand("SELECT 1");
            await command.ExecuteScalarAsync(cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (NpgsqlException ex)
        {
            return HealthCheckResult.Unhealthy("PostgreSQL is unreachable", ex);
        }
    }
}
