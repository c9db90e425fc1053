using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Execution.Domain;
using Platform.Execution.Engine;
using Temporalio.Exceptions;
using Temporalio.Testing;
using static Platform.Execution.Temporal.Tests.Executions;
using RpcException = Grpc.Core.RpcException;

namespace Platform.Execution.Temporal.Tests;

/// <summary>
/// The activities in Temporal's <see cref="ActivityEnvironment"/> (an activity context without a worker or server),
/// against <see cref="RecordingJobQueue"/>.
/// </summary>
public class ActivityTests
{
    private static readonly JobRequest BuildJob = new(
        ExecutionEngine.JobId(Id, "build", 1), Id, "build", 1, ["make"], "builder:1", new Dictionary<string, string> { ["CI"] = "1" },
        InputJson, ["linux"]);

    private static readonly JobCancellation BuildCancellation = new(ExecutionEngine.JobId(Id, "build", 1), Id, "timed out after 30s");

    [Fact]
    public async Task EnqueueJobs_hands_the_jobs_to_the_queue_with_the_activity_cancellation_token()
    {
        var queue = new RecordingJobQueue();
        var environment = new ActivityEnvironment();

        await environment.RunAsync(() => Activities(queue).EnqueueJobsAsync([BuildJob]));

        Assert.Equal([BuildJob], Assert.Single(queue.Enqueued));
        Assert.Equal(environment.CancellationTokenSource.Token, queue.LastToken);
    }

    [Fact]
    public async Task CancelJobs_hands_the_cancellations_to_the_queue()
    {
        var queue = new RecordingJobQueue();

        await new ActivityEnvironment().RunAsync(() => Activities(queue).CancelJobsAsync([BuildCancellation]));

        Assert.Equal([BuildCancellation], Assert.Single(queue.Cancelled));
    }

    [Fact]
    public async Task Nothing_to_enqueue_or_cancel_calls_nothing()
    {
        var queue = new RecordingJobQueue();
        var environment = new ActivityEnvironment();

        await environment.RunAsync(() => Activities(queue).EnqueueJobsAsync([]));
        await environment.RunAsync(() => Activities(queue).CancelJobsAsync([]));

        Assert.Empty(queue.Enqueued);
        Assert.Empty(queue.Cancelled);
    }

    [Theory]
    [InlineData(StatusCode.InvalidArgument)]
    [InlineData(StatusCode.FailedPrecondition)]
    [InlineData(StatusCode.NotFound)]
    public async Task A_request_Runner_Registry_refuses_is_a_non_retryable_failure(StatusCode code)
    {
        var queue = new RecordingJobQueue { Failure = new RpcException(new Status(code, "no runner has label gpu")) };

        var failure = await Assert.ThrowsAsync<ApplicationFailureException>(() =>
            new ActivityEnvironment().RunAsync(() => Activities(queue).EnqueueJobsAsync([BuildJob])));

        Assert.True(failure.NonRetryable);
        Assert.Equal(ExecutionActivities.RefusedErrorType, failure.ErrorType);
        Assert.Equal("Runner-Registry refused to enqueue the jobs: no runner has label gpu", failure.Message);
    }

    [Theory]
    [InlineData(StatusCode.Unavailable)]
    [InlineData(StatusCode.DeadlineExceeded)]
    [InlineData(StatusCode.Unauthenticated)]
    public async Task A_transient_error_is_thrown_as_it_is_for_Temporal_to_retry(StatusCode code)
    {
        var queue = new RecordingJobQueue { Failure = new RpcException(new Status(code, "connection refused")) };

        var error = await Assert.ThrowsAsync<RpcException>(() =>
            new ActivityEnvironment().RunAsync(() => Activities(queue).CancelJobsAsync([BuildCancellation])));

        Assert.Equal(code, error.StatusCode);
    }

    [Fact]
    public async Task A_malformed_job_is_refused_without_calling_the_queue()
    {
        var queue = new RecordingJobQueue();

        var failure = await Assert.ThrowsAsync<ApplicationFailureException>(() =>
            new ActivityEnvironment().RunAsync(() => Activities(queue).EnqueueJobsAsync([BuildJob with { JobId = Guid.Empty }])));

        Assert.True(failure.NonRetryable);
        Assert.Equal(ExecutionActivities.InvalidInputErrorType, failure.ErrorType);
        Assert.Empty(queue.Enqueued);
    }

    private static ExecutionActivities Activities(IJobQueue queue) => new(queue, new UnusedProjection(), NullLogger<ExecutionActivities>.Instance);

    /// <summary>These tests call only the job-queue activities; RecordDecision is tested on PostgreSQL (ReadModelTests).</summary>
    private sealed class UnusedProjection : IExecutionProjection
    {
        public Task RecordAsync(DecisionRecord decision, CancellationToken cancellationToken) =>
            throw new InvalidOperationException("the job-queue activities do not record decisions");
    }
}

/// <summary>
/// Records what the activities hand to <see cref="IJobQueue"/>. It stands in for Runner-Registry's gRPC API (the
/// production <c>GrpcJobQueue</c>), which is tested for real against Runner-Registry elsewhere
/// (tests/Platform.RunnerRegistry.Tests and the integration suite); here only the activities' use of the seam matters.
/// </summary>
public sealed class RecordingJobQueue : IJobQueue
{
    private readonly List<IReadOnlyList<JobRequest>> enqueued = [];
    private readonly List<IReadOnlyList<JobCancellation>> cancelled = [];

    /// <summary>Thrown by every call when set.</summary>
    public Exception? Failure { get; init; }

    public IReadOnlyList<IReadOnlyList<JobRequest>> Enqueued => enqueued;

    public IReadOnlyList<IReadOnlyList<JobCancellation>> Cancelled => cancelled;

    public CancellationToken LastToken { get; private set; }

    public Task EnqueueAsync(IReadOnlyList<JobRequest> jobs, CancellationToken cancellationToken)
    {
        LastToken = cancellationToken;
        if (Failure is not null)
        {
            throw Failure;
        }

        lock (enqueued)
        {
            enqueued.Add(jobs);
        }

        return Task.CompletedTask;
    }

    public Task CancelAsync(IReadOnlyList<JobCancellation> cancellations, CancellationToken cancellationToken)
    {
        LastToken = cancellationToken;
        if (Failure is not null)
        {
            throw Failure;
        }

        lock (cancelled)
        {
            cancelled.Add(cancellations);
        }

        return Task.CompletedTask;
    }

    // The activities never read results or logs; these answer "nothing" so that a call would be visible as such.
    public Task<IReadOnlyList<JobResult>> GetEndedJobsAsync(IReadOnlyList<JobOfStep> jobs, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<JobResult>>([]);

    public Task<IReadOnlyDictionary<Guid, string>> GetQueueReasonsAsync(IReadOnlyList<Guid> jobIds, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyDictionary<Guid, string>>(new Dictionary<Guid, string>());

    public Task<JobLog> GetLogAsync(Guid jobId, long afterSequence, int limit, TimeSpan wait, CancellationToken cancellationToken) =>
        Task.FromResult(new JobLog([], false));
}
