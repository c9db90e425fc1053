using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Platform.Execution.Grpc;
using Platform.RunnerRegistry.Application;
using Platform.RunnerRegistry.Grpc;

namespace Platform.Standalone;

/// <summary>
/// Execution's job queue when Runner-Registry lives in the same process and database: the embedded engine's decisions
/// enqueue their jobs in their own transaction (<see cref="ITransactionalJobQueue"/>), the Temporal engine's
/// activities by a direct call — both with the same mapping and validation as the gRPC API, without the loopback
/// HTTP/2 round trip on every step's path; the rarer calls (cancel, queue reasons, logs, ended jobs) still go over gRPC.
/// </summary>
internal sealed class InProcessJobQueue(GrpcJobQueue grpc, JobQueue registryQueue) : IJobQueue, ITransactionalJobQueue
{
    public EnlistedJobs Enlist(IReadOnlyList<JobRequest> jobs)
    {
        var newJobs = GrpcJobQueue.ToEnqueueRequest(jobs).ToNewJobs();
        return new EnlistedJobs(registryQueue.EnqueueInTransaction(newJobs), () => registryQueue.Enqueued(newJobs));
    }

    public Task EnqueueAsync(IReadOnlyList<JobRequest> jobs, CancellationToken cancellationToken) =>
        registryQueue.EnqueueAsync(GrpcJobQueue.ToEnqueueRequest(jobs).ToNewJobs(), cancellationToken);

    public Task CancelAsync(IReadOnlyList<JobCancellation> cancellations, CancellationToken cancellationToken) =>
        grpc.CancelAsync(cancellations, cancellationToken);

    public Task<IReadOnlyList<JobResult>> GetEndedJobsAsync(IReadOnlyList<JobOfStep> jobs, CancellationToken cancellationToken) =>
        grpc.GetEndedJobsAsync(jobs, cancellationToken);

    public Task<IReadOnlyDictionary<Guid, string>> GetQueueReasonsAsync(IReadOnlyList<Guid> jobIds, CancellationToken cancellationToken) =>
        grpc.GetQueueReasonsAsync(jobIds, cancellationToken);

    public Task<JobLog> GetLogAsync(Guid jobId, long afterSequence, int limit, TimeSpan wait, CancellationToken cancellationToken) =>
        grpc.GetLogAsync(jobId, afterSequence, limit, wait, cancellationToken);
}
