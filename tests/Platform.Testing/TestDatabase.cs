using Npgsql;
using Testcontainers.PostgreSql;

namespace Platform.Testing;

/// <summary>
/// The PostgreSQL server the tests use: the one named by PLATFORM_TEST_POSTGRES (as .ci/run provides), otherwise a
/// Testcontainers container (a developer laptop with Docker). Each test host gets a database of its own.
/// </summary>
public static class TestDatabase
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static string? serverConnectionString;
    private static PostgreSqlContainer? container;

    public static async Task<string> CreateAsync(string prefix)
    {
        var server = await ServerAsync();
        var name = $"{prefix}_{Guid.NewGuid():N}";
        await using (var connection = new NpgsqlConnection(server))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
            await create.ExecuteNonQueryAsync();
        }

        return new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
    }

    /// <summary>Drops a database made by <see cref="CreateAsync"/>, once nothing uses it: left behind, hundreds of them
    /// kept PostgreSQL's autovacuum busy visiting each one, and every later test and benchmark slower.</summary>
    public static async Task DropAsync(string connectionString)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        await using var connection = new NpgsqlConnection(await ServerAsync());
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }

    /// <summary>The server's connection string, without a database of the tests' own.</summary>
    public static async Task<string> ServerAsync()
    {
        await Gate.WaitAsync();
        try
        {
            if (serverConnectionString is not null)
            {
                return serverConnectionString;
            }

            var configured = Environment.GetEnvironmentVariable("PLATFORM_TEST_POSTGRES");
            if (!string.IsNullOrWhiteSpace(configured))
            {
                serverConnectionString = new NpgsqlConnectionStringBuilder(configured) { Database = "postgres" }.ConnectionString;
            }
            else
            {
                container = new PostgreSqlBuilder("postgres:15").Build();
                await container.StartAsync();
                serverConnectionString = new NpgsqlConnectionStringBuilder(container.GetConnectionString()) { Database = "postgres" }.ConnectionString;
            }

            return serverConnectionString;
        }
        finally
        {
            Gate.Release();
        }
    }
}
