using Grpc.Core;
using Microsoft.Extensions.Logging;
using Platform.Execution.Domain;
using Temporalio.Activities;
using Temporalio.Exceptions;
using RpcException = Grpc.Core.RpcException;

namespace Platform.Execution.Temporal;

/// <summary>
/// The workflow's side effects on Runner-Registry, through <see cref="IJobQueue"/> (idempotent by job id, so
/// Temporal's retries are safe). One instance serves every call (its dependencies are singletons).
/// </summary>
/// <remarks>
/// Transient failures (Runner-Registry unreachable, overloaded, timing out) are thrown as they are and retried by
/// Temporal. A refusal that retrying cannot change (an invalid request, a job Runner-Registry will not take, a
/// malformed input) is a non-retryable <see cref="ApplicationFailureException"/>: the workflow turns a refused
/// enqueue into failed attempts.
/// </remarks>
public sealed class ExecutionActivities(IJobQueue queue, IExecutionProjection projection, ILogger<ExecutionActivities> logger)
{
    public const string EnqueueJobsName = "EnqueueJobs";
    public const string CancelJobsName = "CancelJobs";
    public const string RecordDecisionName = "RecordDecision";

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

    /// <summary>Hands a decision's history entries and the status after them to the read model (PostgreSQL), which
    /// serves the API and publishes the execution's bus events. Idempotent, so retried until it succeeds.</summary>
    [Activity(RecordDecisionName)]
    public async Task RecordDecisionAsync(DecisionRecord decision)
    {
        if (decision is null || decision.ExecutionId == Guid.Empty || decision.Entries is null || string.IsNullOrEmpty(decision.Status)
            || decision.Entries.Any(e => e is null || e.Sequence < 1 || string.IsNullOrEmpty(e.Type) || e.Data is null))
        {
            throw new ApplicationFailureException($"not a decision record: {decision}", InvalidInputErrorType, nonRetryable: true);
        }

        await projection.RecordAsync(decision, ActivityExecutionContext.Current.CancellationToken);
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
