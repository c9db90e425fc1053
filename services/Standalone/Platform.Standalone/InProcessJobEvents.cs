using Platform.Execution.Engine;
using Platform.Execution.Messaging;
using Platform.RunnerRegistry.Application;
using Platform.RunnerRegistry.Contracts;

namespace Platform.Standalone;

/// <summary>
/// Runner-Registry's job events applied by Execution's embedded engine in this process, straight after the job's change
/// commits, rather than published on the in-memory bus (see <see cref="ILocalJobEventConsumer"/>): a job's end reaches
/// the next step's decision without the bus's thread hops, and the decision's flushed commit is the only one on the
/// step's path. The same mapping and exactly-once inbox as the bus consumer.
/// </summary>
/// <remarks>The engine is resolved on first use: it depends on Runner-Registry's job queue (its decisions enqueue
/// there), which depends on this.</remarks>
internal sealed class InProcessJobEvents(IServiceProvider services) : ILocalJobEventConsumer
{
    private readonly Lazy<IExecutionEngine> engine = new(services.GetRequiredService<IExecutionEngine>);

    public Task ConsumeAsync(JobStarted started, Guid messageId, CancellationToken cancellationToken) =>
        JobEventsConsumer.ApplyAsync(engine.Value, started, messageId, cancellationToken);

    public Task ConsumeAsync(JobFinished finished, Guid messageId, CancellationToken cancellationToken) =>
        JobEventsConsumer.ApplyAsync(engine.Value, finished, messageId, cancellationToken);
}
