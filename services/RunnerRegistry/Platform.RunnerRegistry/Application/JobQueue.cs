using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.RunnerRegistry.Contracts;
using Platform.RunnerRegistry.Domain;
using Platform.RunnerRegistry.Persistence;

namespace Platform.RunnerRegistry.Application;

/// <summary>
/// The job queue as runners and Execution see it. Long polls sleep on the <c>runners_jobs</c> NOTIFY channel
/// (one LISTEN connection per process, fanned out by <see cref="PgNotificationHub"/>): every enqueue or requeue
/// wakes them, so a job is handed out as soon as its transaction commits — no polling interval.
/// </summary>
internal sealed class JobQueue
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

    private readonly NpgsqlDataSource dataSource;
    private readonly JobStore store;
    private readonly RunnerStore runners;
    private readonly Outbox outbox;
    private readonly RunnerRegistryOptions options;
    private readonly TimeProvider time;
    private readonly IHostApplicationLifetime lifetime;
    private readonly ILogger<JobQueue> logger;
    private readonly Signal jobsQueued;

    public JobQueue(
        NpgsqlDataSource dataSource,
        JobStore store,
        RunnerStore runners,
        [FromKeyedServices(RunnerRegistryModule.Schema)] Outbox outbox,
        PgNotificationHub notifications,
        IOptions<RunnerRegistryOptions> options,
        TimeProvider time,
        IHostApplicationLifetime lifetime,
        ILogger<JobQueue> logger)
    {
        this.dataSource = dataSource;
        this.store = store;
        this.runners = runners;
        this.outbox = outbox;
        this.options = options.Value;
        this.time = time;
        this.lifetime = lifetime;
        this.logger = logger;
        // Subscribed at construction (before the hosts start) so the first LISTEN already includes the channel.
        jobsQueued = notifications.Channel(JobStore.JobsChannel);
    }

    public async Task EnqueueAsync(IReadOnlyList<NewJob> jobs, CancellationToken cancellationToken)
    {
        if (jobs.Count == 0)
        {
            return;
        }

        var inserted = await store.EnqueueAsync(jobs, cancellationToken);
        if (inserted > 0)
        {
            // Waiters in this process need not wait for the NOTIFY round trip; other replicas get the NOTIFY.
            WakeWaiters();
        }
    }

    public void WakeWaiters() => jobsQueued.Pulse();

    /// <summary>
    /// A lease of the oldest job the runner can take, waiting up to <paramref name="wait"/> for one; null when the
    /// wait ends (or the host stops) without a job.
    /// </summary>
    public async Task<GrantedLease?> AcquireAsync(AuthenticatedRunner runner, TimeSpan wait, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        while (true)
        {
            // Taken before looking, so a job queued between the look and the wait still wakes us.
            var wake = jobsQueued.Next;
            var attempt = await store.TryLeaseAsync(runner.Id, options.LeaseTimeout, cancellationToken);
            if (!attempt.RunnerIsLive)
            {
                throw new UnauthenticatedException(
                    "this runner registration was replaced by a newer one with its name, or removed; register again");
            }

            if (attempt.Lease is { } lease)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    // The caller is gone and will never see this lease: put the job straight back.
                    await store.ReleaseLeaseAsync(lease.JobId, lease.Attempt, CancellationToken.None);
                    WakeWaiters();
                    cancellationToken.ThrowIfCancellationRequested();
                }

                logger.LogDebug("Leased job {JobId} attempt {Attempt} to runner {Runner}", lease.JobId, lease.Attempt, runner.Name);
                return lease;
            }

            var remaining = wait - time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero || lifetime.ApplicationStopping.IsCancellationRequested)
            {
                return null;
            }

            try
            {
                await wake.WaitAsync(remaining, time, stop.Token);
            }
            catch (TimeoutException)
            {
                return null;
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return null; // the host is stopping: answer "no job" now rather than hold shutdown
            }
        }
    }

    /// <summary>Extends the leases the runner still holds and names those it must stop (not its own any more).</summary>
    public async Task<IReadOnlyList<JobRefKey>> HeartbeatAsync(AuthenticatedRunner runner, IReadOnlyList<JobRefKey> running,
        CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (!await runners.RecordHeartbeatAsync(connection, runner.Id, cancellationToken))
        {
            throw new UnauthenticatedException(
                "this runner registration was replaced by a newer one with its name, or removed; register again");
        }

        var held = await store.ExtendLeasesAsync(connection, runner.Id, running, options.LeaseTimeout, cancellationToken);
        return running.Except(held).ToList();
    }

    /// <summary>leased → running, with <see cref="JobStarted"/> in the same transaction. Repeating it is harmless.</summary>
    public async Task ReportStartedAsync(AuthenticatedRunner runner, Guid jobId, int attempt, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var started = await store.MarkStartedAsync(connection, transaction, runner.Id, jobId, attempt, options.LeaseTimeout);
        if (started is null)
        {
            var current = await store.GetOwnershipAsync(connection, transaction, jobId)
                          ?? throw new NotFoundException("job", jobId.ToString());
            if (current.IsLeaseOf(runner.Id, attempt) && current.Status is not (JobStatus.Leased or JobStatus.Queued))
            {
                return; // already reported (a retry), or already completed
            }

            throw JobOwnership.NotHeld(jobId, attempt, current);
        }

        await outbox.AddAsync(connection, transaction, DeterministicGuid.Create(jobId.ToString(), attempt.ToString(), "started"),
            new JobStarted(jobId, started.ExecutionId, started.StepName, started.StepAttempt, attempt, runner.Id,
                started.StartedAtUtc));
        await transaction.CommitAsync(cancellationToken);
    }

    /// <summary>
    /// Finishes the job with the runner's result and <see cref="JobFinished"/> in one transaction. A retry carrying the
    /// same result for a job this lease already finished succeeds without doing anything.
    /// </summary>
    public async Task CompleteAsync(AuthenticatedRunner runner, Guid jobId, int attempt, JobResult reported,
        CancellationToken cancellationToken)
    {
        var result = reported with { OutputTail = OutputTail.Bound(reported.OutputTail) };
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var finished = await store.MarkFinishedAsync(connection, transaction, runner.Id, jobId, attempt, result);
        if (finished is null)
        {
            var current = await store.GetOwnershipAsync(connection, transaction, jobId)
                          ?? throw new NotFoundException("job", jobId.ToString());
            if (!current.IsLeaseOf(runner.Id, attempt) || !current.Status.IsFinished())
            {
                throw JobOwnership.NotHeld(jobId, attempt, current);
            }

            var stored = await store.GetResultAsync(connection, transaction, jobId);
            if (stored is not null && stored.SameAs(result))
            {
                return; // a retry of the completion that was stored
            }

            throw new PreconditionFailedException(
                $"job {jobId} attempt {attempt} was already completed with a different result");
        }

        await outbox.AddAsync(connection, transaction, DeterministicGuid.Create(jobId.ToString(), attempt.ToString(), "finished"),
            new JobFinished(jobId, finished.ExecutionId, finished.StepName, finished.StepAttempt, attempt, runner.Id,
                result.Outcome, result.ExitCode, result.Outputs, NullIfEmpty(result.Error), NullIfEmpty(result.OutputTail),
                finished.StartedAtUtc, finished.FinishedAtUtc));
        await transaction.CommitAsync(cancellationToken);
    }

    public Task<IReadOnlyList<JobView>> GetJobsAsync(Guid[] jobIds, CancellationToken cancellationToken) =>
        store.GetJobsAsync(jobIds, cancellationToken);

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;
}
