using Grpc.Core;
using Microsoft.Extensions.Logging;
using Platform.Execution.Domain;
using Temporalio.Activities;
using Temporalio.Exceptions;
using RpcException = Grpc.Core.RpcException;

namespace Platform.Execution.Temporal;

/// <summary>
/// The workflow's side effects on Runner-Registry, through <see cref="IJobQueue"/> (idempotent by job id, so
/// Temporal's retries are safe). A scoped service: a new instance, in its own DI scope, per activity call.
/// </summary>
/// <remarks>
/// Transient failures (Runner-Registry unreachable, overloaded, timing out) are thrown as they are and retried by
/// Temporal. A refusal that retrying cannot change (an invalid request, a job Runner-Registry will not take, a
/// malformed input) is a non-retryable <see cref="ApplicationFailureException"/>: the workflow turns a refused
/// enqueue into failed attempts.
/// </remarks>
public sealed class ExecutionActivities(IJobQueue queue, ILogger<ExecutionActivities> logger)
{
    public const string EnqueueJobsName = "EnqueueJobs";
    public const string CancelJobsName = "CancelJobs";

    /// <summary>Error type of the non-retryable failure for a request Runner-Registry refuses.</summary>
    public const string RefusedErrorType = "JobQueueRefused";

    /// <summary>Error type of the non-retryable failure for a malformed activity input.</summary>
    public const string InvalidInputErrorType = "InvalidJobRequest";

    [Activity(EnqueueJobsName)]
    public async Task EnqueueJobsAsync(IReadOnlyList<JobRequest> jobs)
    {
        if (jobs is null || jobs.Count == 0)
        {
            return;
        }

        foreach (var job in jobs)
        {
            if (job is null || job.JobId == Guid.Empty || job.ExecutionId == Guid.Empty || string.IsNullOrEmpty(job.StepName) || job.StepAttempt < 1)
            {
                throw new ApplicationFailureException($"not a job request: {job}", InvalidInputErrorType, nonRetryable: true);
            }
        }

        await CallAsync(() => queue.EnqueueAsync(jobs, ActivityExecutionContext.Current.CancellationToken), "enqueue", jobs.Count);
    }

    [Activity(CancelJobsName)]
    public async Task CancelJobsAsync(IReadOnlyList<JobCancellation> cancellations)
    {
        if (cancellations is null || cancellations.Count == 0)
        {
            return;
        }

        foreach (var cancellation in cancellations)
        {
            if (cancellation is null || cancellation.JobId == Guid.Empty)
            {
                throw new ApplicationFailureException($"not a job cancellation: {cancellation}", InvalidInputErrorType, nonRetryable: true);
            }
        }

        await CallAsync(() => queue.CancelAsync(cancellations, ActivityExecutionContext.Current.CancellationToken), "cancel", cancellations.Count);
    }

    private async Task CallAsync(Func<Task> call, string what, int count)
    {
        try
        {
            await call();
            logger.LogDebug("Runner-Registry: {What} {Count} job(s) done", what, count);
        }
        catch (RpcException e) when (IsRefusal(e.StatusCode))
        {
            throw new ApplicationFailureException($"Runner-Registry refused to {what} the jobs: {e.Status.Detail}", e, RefusedErrorType, nonRetryable: true);
        }
        catch (ArgumentException e)
        {
            throw new ApplicationFailureException($"cannot {what} the jobs: {e.Message}", e, InvalidInputErrorType, nonRetryable: true);
        }
    }

    /// <summary>
    /// Answers that say the request itself is wrong: the same request will be refused again. (Credentials refused are
    /// not among them: that is fixed by configuration, and the calls retried meanwhile.)
    /// </summary>
    private static bool IsRefusal(StatusCode code) => code is StatusCode.InvalidArgument or StatusCode.FailedPrecondition
        or StatusCode.NotFound or StatusCode.AlreadyExists or StatusCode.Unimplemented or StatusCode.OutOfRange;
}
