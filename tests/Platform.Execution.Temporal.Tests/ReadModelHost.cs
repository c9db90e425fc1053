using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Platform.BuildingBlocks.Persistence;

namespace Platform.Execution.Temporal;

/// <summary>
/// The Execution context's services with the Temporal engine selected, on a migrated database of the caller's own
/// (PLATFORM_TEST_POSTGRES, or a Testcontainers PostgreSQL): the read model the workflow writes and the engine reads.
/// Not started, so nothing polls or connects to Temporal.
/// </summary>
internal static class ReadModelHost
{
    public static async Task<IHost> CreateAsync(string databasePrefix)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { EnvironmentName = "Testing" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Platform"] = await Platform.Testing.TestDatabase.CreateAsync(databasePrefix),
            ["Execution:Engine"] = ExecutionModule.TemporalEngine,
        });
        builder.AddExecution();
        var host = builder.Build();
        host.Services.ApplyMigrations();
        return host;
    }
}
