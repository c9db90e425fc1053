using System.Collections.Concurrent;
using System.Net;
using Grpc.Core;
using Grpc.Net.Client;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Protos.Runners.V1;
using Platform.RunnerRegistry.Contracts;
using RegistryClient = Platform.Protos.Runners.V1.RunnerRegistry.RunnerRegistryClient;
using AgentClient = Platform.Protos.Runners.V1.RunnerAgent.RunnerAgentClient;

namespace Platform.RunnerRegistry.Tests;

/// <summary>
/// A real Runner-Registry: its own fresh PostgreSQL database (migrated by the host at start, dropped at the end),
/// served over h2c by Kestrel on a free port, with the in-memory bus and a consumer recording the events it publishes.
/// </summary>
public class RegistryFixture : IAsyncLifetime
{
    private readonly string database = "platform_test_" + Guid.NewGuid().ToString("N")[..12];
    private WebApplication? app;

    protected virtual int LeaseTimeoutSeconds => 30;
    protected virtual int HeartbeatIntervalSeconds => 5;

    /// <summary>More <c>RunnerRegistry</c> settings for a fixture subclass (e.g. small log bounds).</summary>
    protected virtual IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>();

    /// <summary>More services for a fixture subclass (e.g. a job event consumer in the registry's process).</summary>
    protected virtual void AddServices(IServiceCollection services)
    {
    }

    public string ConnectionString { get; private set; } = "";
    public Uri Address { get; private set; } = null!;
    public GrpcChannel Channel { get; private set; } = null!;
    public RegistryClient Registry { get; private set; } = null!;
    public AgentClient Agent { get; private set; } = null!;
    public RecordedEvents Events { get; } = new();
    public IServiceProvider Services => app!.Services;

    public async Task InitializeAsync()
    {
        // The test host (vstest + xunit) keeps some pool threads blocked, and on a small machine (2 cores here) the pool
        // starts with as many workers as cores and adds one only every ~0.5 s: that showed up as rare 0.5-1 s stalls of
        // calls between the in-test client and server, whatever the registry did. A higher floor removes them.
        ThreadPool.GetMinThreads(out var workers, out var io);
        ThreadPool.SetMinThreads(Math.Max(workers, 32), Math.Max(io, 32));
        // PLATFORM_TEST_POSTGRES when given (CI), otherwise a Testcontainers PostgreSQL.
        var server = await Platform.Testing.TestDatabase.ServerAsync();
        ConnectionString = new NpgsqlConnectionStringBuilder(server) { Database = database }.ConnectionString;

        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Testing" });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Platform"] = ConnectionString,
            ["Messaging:Transport"] = "inmemory",
            ["RunnerRegistry:LeaseTimeoutSeconds"] = LeaseTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["RunnerRegistry:HeartbeatIntervalSeconds"] = HeartbeatIntervalSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        builder.Configuration.AddInMemoryCollection(Settings);
        builder.Logging.ClearProviders();
        if (Environment.GetEnvironmentVariable("PLATFORM_TEST_LOGS") is "1")
        {
            builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss.ffff "; }).SetMinimumLevel(LogLevel.Debug);
        }

        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l => l.Protocols = HttpProtocols.Http2));
        builder.AddRunnerRegistry();
        builder.AddPlatformMessaging(bus => bus.AddConsumer<RecordingConsumer>());
        builder.Services.AddSingleton(Events);
        AddServices(builder.Services);

        app = builder.Build();
        app.MapRunnerRegistry();
        await app.StartAsync();
        await app.Services.GetRequiredService<PgNotificationHub>().Listening.WaitAsync(TimeSpan.FromSeconds(30));

        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!
            .Addresses.Single();
        Address = new Uri(address);
        Channel = GrpcChannel.ForAddress(Address);
        Registry = new RegistryClient(Channel);
        Agent = new AgentClient(Channel);
    }

    public async Task DisposeAsync()
    {
        Channel?.Dispose();
        if (app is not null)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        NpgsqlConnection.ClearAllPools();
        var server = new NpgsqlConnectionStringBuilder(ConnectionString) { Database = "postgres", Pooling = false };
        await using var connection = new NpgsqlConnection(server.ConnectionString);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }

    /// <summary>Runs SQL against the test database (to arrange states the API cannot reach quickly).</summary>
    public async Task ExecuteSqlAsync(string sql, object? parameters = null)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await Dapper.SqlMapper.ExecuteAsync(connection, sql, parameters);
    }
}

/// <summary>Leases of 2 s and heartbeats every second, for tests of lease expiry and liveness.</summary>
public sealed class ShortLeaseRegistryFixture : RegistryFixture
{
    protected override int LeaseTimeoutSeconds => 2;
    protected override int HeartbeatIntervalSeconds => 1;
}

/// <summary>Short leases (as <see cref="ShortLeaseRegistryFixture"/>) and job logs bounded to 5 lines or 1000 bytes.</summary>
public sealed class SmallLogRegistryFixture : RegistryFixture
{
    public const int MaxLines = 5;
    public const int MaxBytes = 1000;

    protected override int LeaseTimeoutSeconds => 2;
    protected override int HeartbeatIntervalSeconds => 1;

    protected override IReadOnlyDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["RunnerRegistry:MaxLogLinesPerJob"] = MaxLines.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["RunnerRegistry:MaxLogBytesPerJob"] = MaxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}

/// <summary>A registry whose job events have a consumer in its own process (as the Standalone host's Execution):
/// <see cref="Local"/> records them, or fails when told to.</summary>
public sealed class LocalConsumerRegistryFixture : RegistryFixture
{
    public RecordingLocalConsumer Local { get; } = new();

    protected override void AddServices(IServiceCollection services) =>
        services.AddSingleton<Application.ILocalJobEventConsumer>(Local);
}

/// <summary>Records the job events handed to it; while <see cref="Failing"/>, throws instead (as a consumer whose
/// database call failed). It commits nothing itself: the durability its contract promises is Execution's to keep.</summary>
public sealed class RecordingLocalConsumer : Application.ILocalJobEventConsumer
{
    public RecordedEvents Events { get; } = new();

    public volatile bool Failing;

    public Task ConsumeAsync(JobStarted started, Guid messageId, CancellationToken cancellationToken) => Record(messageId, started);

    public Task ConsumeAsync(JobFinished finished, Guid messageId, CancellationToken cancellationToken) => Record(messageId, finished);

    private Task Record(Guid messageId, object message)
    {
        if (Failing)
        {
            throw new InvalidOperationException("the consumer's database is unreachable");
        }

        Events.Add(messageId, message);
        return Task.CompletedTask;
    }
}

/// <summary>Job events the registry published, as a consumer received them (with their message ids).</summary>
public sealed class RecordedEvents
{
    private readonly ConcurrentQueue<(Guid? MessageId, object Message)> received = new();

    public void Add(Guid? messageId, object message) => received.Enqueue((messageId, message));

    public int Count<T>(Func<T, bool> match) => received.Count(r => r.Message is T typed && match(typed));

    public async Task<(Guid? MessageId, T Message)> WaitForAsync<T>(Func<T, bool> match, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (DateTime.UtcNow < deadline)
        {
            foreach (var (id, message) in received)
            {
                if (message is T typed && match(typed))
                {
                    return (id, typed);
                }
            }

            await Task.Delay(20);
        }

        throw new TimeoutException($"no {typeof(T).Name} was published");
    }
}

public sealed class RecordingConsumer(RecordedEvents events) : IConsumer<JobStarted>, IConsumer<JobFinished>
{
    public Task Consume(ConsumeContext<JobStarted> context)
    {
        events.Add(context.MessageId, context.Message);
        return Task.CompletedTask;
    }

    public Task Consume(ConsumeContext<JobFinished> context)
    {
        events.Add(context.MessageId, context.Message);
        return Task.CompletedTask;
    }
}
