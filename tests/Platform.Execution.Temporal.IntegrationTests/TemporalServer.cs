using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Platform.Execution.Persistence;
using Microsoft.Extensions.Options;
using Platform.Execution.Domain;
using Temporalio.Client;
using Temporalio.Worker;

namespace Platform.Execution.Temporal.IntegrationTests;

/// <summary>
/// One connection to the Temporal server named by <c>TEMPORAL_ADDRESS</c> (host:port; namespace
/// <c>TEMPORAL_NAMESPACE</c>, default <c>default</c>) and one worker for the whole suite, on a task queue of its own,
/// running <see cref="ExecutionWorkflow"/> and the real <see cref="ExecutionActivities"/> over
/// <see cref="RecordingQueue"/> (Runner-Registry is not part of this suite: job results are the script's signals) and
/// the real read model in PostgreSQL.
/// Without <c>TEMPORAL_ADDRESS</c> the project is not a test project (see its .csproj and README.md); should it be run
/// anyway (an IDE), every test fails saying why: a suite that did not run must not look passed.
/// </summary>
public sealed class TemporalServer : IAsyncLifetime
{
    public const string AddressVariable = "TEMPORAL_ADDRESS";

    private readonly CancellationTokenSource stop = new();
    private TemporalWorker? worker;
    private Task? running;
    private IHost? database;

    public ITemporalClient Client { get; private set; } = null!;

    public string TaskQueue { get; } = $"platform-executions-it-{Guid.NewGuid():N}";

    public RecordingQueue Queue { get; } = new();

    public ScenarioCatalogStub Catalog { get; } = new();

    public TemporalExecutionEngine Engine { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var address = Environment.GetEnvironmentVariable(AddressVariable);
        if (string.IsNullOrWhiteSpace(address))
        {
            throw new InvalidOperationException(
                $"{AddressVariable} is not set: this suite runs against a Temporal server (`temporal server start-dev`, then " +
                $"{AddressVariable}=127.0.0.1:7233). It is not part of the default test run.");
        }

        var ns = Environment.GetEnvironmentVariable("TEMPORAL_NAMESPACE") is { Length: > 0 } n ? n : TemporalEngineOptions.DefaultNamespace;
        Client = await TemporalClient.ConnectAsync(new TemporalClientConnectOptions(address) { Namespace = ns });

        database = await ReadModelHost.CreateAsync("temporal_it");
        var projection = database.Services.GetRequiredService<IExecutionProjection>();

        worker = new TemporalWorker(Client, new TemporalWorkerOptions(TaskQueue)
        {
            Interceptors = [new TimerControl()],
        }.AddWorkflow<ExecutionWorkflow>().AddAllActivities(new ExecutionActivities(Queue, projection, NullLogger<ExecutionActivities>.Instance)));
        running = worker.ExecuteAsync(stop.Token);
        Engine = new TemporalExecutionEngine(Client, Catalog, database.Services.GetRequiredService<NpgsqlDataSource>(),
            database.Services.GetRequiredService<ExecutionStore>(), Options.Create(new TemporalEngineOptions
        {
            Address = address,
            Namespace = ns,
            TaskQueue = TaskQueue,
        }));
    }

    public async Task DisposeAsync()
    {
        await stop.CancelAsync();
        if (running is not null)
        {
            try
            {
                await running;
            }
            catch (OperationCanceledException)
            {
                // The worker stops by cancellation.
            }
        }

        worker?.Dispose();
        database?.Dispose();
        stop.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class TemporalCollection : ICollectionFixture<TemporalServer>
{
    public const string Name = "temporal";
}

/// <summary>Stands in for Runner-Registry's job queue: records what the activities hand it, by execution.</summary>
public sealed class RecordingQueue : IJobQueue
{
    private readonly ConcurrentQueue<JobRequest> enqueued = new();
    private readonly ConcurrentQueue<JobCancellation> cancelled = new();

    public IReadOnlyList<JobRequest> EnqueuedFor(Guid executionId) => enqueued.Where(j => j.ExecutionId == executionId).ToList();

    public IReadOnlyList<JobCancellation> CancelledFor(Guid executionId) => cancelled.Where(c => c.ExecutionId == executionId).ToList();

    public Task EnqueueAsync(IReadOnlyList<JobRequest> jobs, CancellationToken cancellationToken)
    {
        foreach (var job in jobs)
        {
            enqueued.Enqueue(job);
        }

        return Task.CompletedTask;
    }

    public Task CancelAsync(IReadOnlyList<JobCancellation> cancellations, CancellationToken cancellationToken)
    {
        foreach (var cancellation in cancellations)
        {
            cancelled.Enqueue(cancellation);
        }

        return Task.CompletedTask;
    }

    // Not used by the activities: job state and logs are Runner-Registry's business, outside this suite.
    public Task<IReadOnlyDictionary<Guid, string>> GetQueueReasonsAsync(IReadOnlyList<Guid> jobIds, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<Guid, string>>(new Dictionary<Guid, string>());

    public Task<JobLog> GetLogAsync(Guid jobId, long afterSequence, int limit, TimeSpan wait, CancellationToken cancellationToken) =>
        Task.FromResult(new JobLog([], false));

    public Task<IReadOnlyList<JobResult>> GetEndedJobsAsync(IReadOnlyList<JobOfStep> jobs, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<JobResult>>([]);
}

/// <summary>Definitions stand-in: answers the pinned plan registered for a workflow id.</summary>
public sealed class ScenarioCatalogStub : IWorkflowCatalog
{
    private readonly ConcurrentDictionary<Guid, PinnedWorkflow> plans = new();

    public Guid Add(PinnedWorkflow plan)
    {
        plans[plan.WorkflowId] = plan;
        return plan.WorkflowId;
    }

    public Task<PinnedWorkflow> ResolveAsync(Guid workflowId, int revision, CancellationToken cancellationToken) =>
        Task.FromResult(plans[workflowId]);
}
