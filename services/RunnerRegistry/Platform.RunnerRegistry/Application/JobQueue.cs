using System.Collections.Concurrent;
using System.Data;
using System.Globalization;
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
/// The job queue as runners and Execution see it. Long polls sleep on NOTIFY channels (one LISTEN connection per
/// process, fanned out by <see cref="PgNotificationHub"/>): AcquireJob on <c>runners_jobs</c>, pulsed by every enqueue
/// or requeue, so a job is handed out as soon as its transaction commits — no polling interval; AwaitCancellations on
/// <c>runners_cancel</c>, pulsed by every cancel request and by every job taken from its runner.
/// </summary>
internal sealed class JobQueue
{
    public static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

    /// <summary>How late other replicas' log followers may learn that a job ended (they gather into one NOTIFY).</summary>
    private static readonly TimeSpan LogFollowersGather = TimeSpan.FromMilliseconds(5);

    private readonly NpgsqlDataSource dataSource;
    private readonly JobStore store;
    private readonly RunnerStore runners;
    private readonly Outbox outbox;
    private readonly OutboxPublisher publisher;
    private readonly PgNotificationHub notifications;
    private readonly RunnerRegistryOptions options;
    private readonly TimeProvider time;
    private readonly IHostApplicationLifetime lifetime;
    private readonly ILogger<JobQueue> logger;
    private readonly ILocalJobEventConsumer? localConsumer;
    private readonly Signal jobsQueued;

    /// <summary>This process, in the payload of its enqueue NOTIFYs.</summary>
    private readonly string instance = Guid.NewGuid().ToString("N");

    /// <summary>This process's waiting acquires, longest-waiting first.</summary>
    private readonly LinkedList<Waiter> waiting = new();

    private long waitingSequence;

    private readonly Lock waitingGate = new();

    /// <summary>Registrations' labels and kinds, which never change, so each acquire need not read them.</summary>
    private readonly ConcurrentDictionary<Guid, JobStore.RunnerSelector> selectors = new();
    private readonly Signal jobsToStop;

    public JobQueue(
        NpgsqlDataSource dataSource,
        JobStore store,
        RunnerStore runners,
        [FromKeyedServices(RunnerRegistryModule.Schema)] Outbox outbox,
        [FromKeyedServices(RunnerRegistryModule.Schema)] OutboxPublisher publisher,
        PgNotificationHub notifications,
        IOptions<RunnerRegistryOptions> options,
        TimeProvider time,
        IHostApplicationLifetime lifetime,
        ILogger<JobQueue> logger,
        ILocalJobEventConsumer? localConsumer = null)
    {
        this.dataSource = dataSource;
        this.store = store;
        this.runners = runners;
        this.outbox = outbox;
        this.publisher = publisher;
        this.notifications = notifications;
        this.options = options.Value;
        this.time = time;
        this.lifetime = lifetime;
        this.logger = logger;
        this.localConsumer = localConsumer;
        // Subscribed at construction (before the hosts start) so the first LISTEN already includes the channel.
        // This process's own enqueue NOTIFYs come back too: its waiters were already handed those jobs (see
        // HandOut), so they are left out rather than waking every waiter a second time.
        jobsQueued = notifications.Channel(JobStore.JobsChannel, sender => sender != instance);
        jobsToStop = notifications.Channel(JobStore.CancelChannel);
    }

    public async Task EnqueueAsync(IReadOnlyList<NewJob> jobs, CancellationToken cancellationToken)
    {
        if (jobs.Count == 0)
        {
            return;
        }

        var inserted = await store.EnqueueAsync(jobs, instance, cancellationToken);
        if (inserted > 0)
        {
            // Waiters in this process need not wait for the NOTIFY round trip; other replicas get the NOTIFY.
            HandOut(jobs);
        }
    }

    /// <summary>
    /// The statements that enqueue <paramref name="jobs"/> inside the caller's transaction, for a context that shares
    /// this database and this process (the Standalone host's executions): its jobs are then queued atomically with its
    /// decision, with no hand-over afterwards. Call <see cref="Enqueued"/> once that transaction has committed. Within a
    /// runner's completion that asked for its next job (the decision its end caused), the first job that runner can
    /// take is leased to it by the same statements when its own acquire would lease that job now.
    /// </summary>
    public IReadOnlyList<NpgsqlBatchCommand> EnqueueInTransaction(IReadOnlyList<NewJob> jobs)
    {
        var enqueue = JobStore.EnqueueCommand(jobs);
        return completionInProgress.Value?.OfferLease(jobs) is { } lease ? [.. lease, enqueue] : [enqueue];
    }

    /// <summary>After the commit of jobs enqueued by <see cref="EnqueueInTransaction"/>: hands them to this process's
    /// waiting runners (only this process serves the runners of a host that enqueues in its own transactions; a
    /// waiter that misses the hand-out finds the jobs when its long poll looks again).</summary>
    public void Enqueued(IReadOnlyList<NewJob> jobs)
    {
        if (completionInProgress.Value?.TryDefer(jobs) != true)
        {
            HandOut(jobs);
        }
    }

    /// <summary>
    /// Set while a runner's completion that asks for its next job is handled. The jobs its own decision enqueues in this
    /// process (the Standalone host applies job ends in process, see <see cref="ILocalJobEventConsumer"/>) go to that
    /// runner first: the first it can take is leased to it in the decision's transaction when nothing comes before it
    /// (saving the lease's own statement on every step), and the others are handed out only after the runner's next
    /// lease was settled — handed out at once, they woke an idle waiter to race that runner's lease for the same job.
    /// </summary>
    private static readonly AsyncLocal<Completion?> completionInProgress = new();

    /// <summary>A runner's completion in progress: the lease offered to it in its decision's transaction, and the jobs
    /// whose hand-out waits for its next lease (closed once that is settled: a late caller, e.g. a task started during
    /// the completion that carried its context, hands out its jobs itself).</summary>
    private sealed class Completion(Guid runnerId, JobStore.RunnerSelector runner, DateTimeOffset leaseExpiresAt)
    {
        private readonly List<NewJob> jobs = [];
        private bool closed;
        private (NewJob Job, NpgsqlBatchCommand Insert)? offered;
        private bool offeredCommitted;

        /// <summary>The statements that lease the first of <paramref name="enqueued"/> this runner can take, or null.
        /// A decision may be made again (its first try refused): only the last try's offer counts.</summary>
        public IReadOnlyList<NpgsqlBatchCommand>? OfferLease(IReadOnlyList<NewJob> enqueued)
        {
            lock (jobs)
            {
                offered = null;
                if (closed || enqueued.FirstOrDefault(j => runner.Takes(j.Spec)) is not { } job)
                {
                    return null;
                }

                var statements = JobStore.LeaseOnEnqueueCommands(job, runnerId, runner, leaseExpiresAt);
                offered = (job, statements[^1]);
                return statements;
            }
        }

        public bool TryDefer(IReadOnlyList<NewJob> more)
        {
            lock (jobs)
            {
                if (!closed)
                {
                    jobs.AddRange(more);
                    offeredCommitted |= offered is { } o && more.Any(j => j.JobId == o.Job.JobId);
                }

                return !closed;
            }
        }

        /// <summary>The lease the decision's committed transaction granted, if it did.</summary>
        public GrantedLease? GrantedLease()
        {
            lock (jobs)
            {
                if (!offeredCommitted || offered is not { Insert.RecordsAffected: 1 } o)
                {
                    return null;
                }

                var spec = o.Job.Spec;
                return new GrantedLease(o.Job.JobId, 1, o.Job.ExecutionId, o.Job.StepName, o.Job.StepAttempt, spec,
                    leaseExpiresAt, runner.Executors.First(k => spec.AcceptedExecutors.Contains(k, StringComparer.Ordinal)));
            }
        }

        public List<NewJob> Close()
        {
            lock (jobs)
            {
                closed = true;
                return jobs;
            }
        }
    }

    /// <summary>Wakes every waiting acquire of this process (a job came back, a runner must drain, ...).</summary>
    public void WakeWaiters() => jobsQueued.Pulse();

    /// <summary>Wakes this process's AwaitCancellations long polls (other replicas get the NOTIFY).</summary>
    public void WakeCancellationWaiters() => jobsToStop.Pulse();

    /// <summary>
    /// Wakes, for each new job, the longest-waiting acquire of this process whose runner can take it (labels and
    /// executor kinds), rather than every waiter: with many idle runners, a broadcast turned each job into as many lease
    /// queries. A woken waiter that leases nothing (another took the job, or its runner is at capacity) hands the wake
    /// on to the next one that was already waiting when the jobs were enqueued — each at most once, since a waiter that
    /// came later looked after the jobs were there — so a job never waits for a runner that was not woken.
    /// </summary>
    private void HandOut(IReadOnlyList<NewJob> jobs)
    {
        var before = Interlocked.Read(ref waitingSequence);
        lock (waitingGate)
        {
            foreach (var job in jobs)
            {
                for (var node = waiting.First; node is not null && node.Value.Sequence < before; node = node.Next)
                {
                    if (node.Value.Selector.Takes(job.Spec))
                    {
                        waiting.Remove(node);
                        node.Value.Woken.TrySetResult(before);
                        break;
                    }
                }
            }
        }
    }

    /// <param name="before">Only waiters that entered before this point of the waiting sequence are woken.</param>
    private void HandOn(int jobs, long before)
    {
        lock (waitingGate)
        {
            for (var node = waiting.First; node is not null && jobs > 0 && node.Value.Sequence < before;)
            {
                var next = node.Next;
                waiting.Remove(node);
                node.Value.Woken.TrySetResult(before);
                jobs--;
                node = next;
            }
        }
    }

    private LinkedListNode<Waiter> EnterWaitingRoom(JobStore.RunnerSelector selector)
    {
        lock (waitingGate)
        {
            return waiting.AddLast(new Waiter(Interlocked.Increment(ref waitingSequence) - 1, selector,
                new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously)));
        }
    }

    private void LeaveWaitingRoom(LinkedListNode<Waiter> ticket)
    {
        lock (waitingGate)
        {
            if (ticket.List is not null)
            {
                waiting.Remove(ticket);
            }
        }
    }

    private async Task<JobStore.RunnerSelector> SelectorAsync(AuthenticatedRunner runner, CancellationToken cancellationToken)
    {
        if (selectors.TryGetValue(runner.Id, out var cached))
        {
            return cached;
        }

        var selector = await store.GetSelectorAsync(runner.Id, cancellationToken)
                       ?? throw new UnauthenticatedException("this runner registration does not exist; register again");
        if (selectors.Count >= 10_000)
        {
            selectors.Clear();
        }

        return selectors[runner.Id] = selector;
    }

    /// <summary>A waiting acquire: its place in the waiting sequence, what its runner takes, and the wake it is handed
    /// (with the point of the sequence the hand-off is limited to).</summary>
    private sealed record Waiter(long Sequence, JobStore.RunnerSelector Selector, TaskCompletionSource<long> Woken);

    /// <summary>
    /// A lease of the next job the runner can take, waiting up to <paramref name="wait"/> for one; no lease when the
    /// wait ends (or the host stops) without a job, or at once when the runner was asked to drain (which it is told).
    /// </summary>
    public async Task<AcquireOutcome> AcquireAsync(AuthenticatedRunner runner, TimeSpan wait, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        // A wake handed to this waiter (see HandOut) that no look of its own has answered yet: on the way out, or when
        // its next look finds nothing, it goes on to the next waiter.
        long? handed = null;
        var selector = await SelectorAsync(runner, cancellationToken);
        try
        {
            while (true)
            {
                // Both taken before looking, so a job queued between the look and the wait still wakes us.
                var wake = jobsQueued.Next;
                var ticket = EnterWaitingRoom(selector);
                try
                {
                    var attempt = await store.TryLeaseAsync(runner.Id, selector, options.LeaseTimeout, cancellationToken);
                    if (!attempt.RunnerIsLive)
                    {
                        throw new UnauthenticatedException(
                            "this runner registration was replaced by a newer one with its name, or revoked; register again");
                    }

                    if (attempt.Lease is { } lease)
                    {
                        handed = null;
                        await GiveBackIfCallerGoneAsync(lease, cancellationToken);
                        logger.LogDebug("Leased job {JobId} attempt {Attempt} to runner {Runner}", lease.JobId, lease.Attempt, runner.Name);
                        return new AcquireOutcome(lease, attempt.Draining);
                    }

                    if (handed is { } before)
                    {
                        handed = null;
                        HandOn(1, before); // not for this runner (or taken meanwhile): the next waiter looks
                    }

                    if (attempt.Draining)
                    {
                        return new AcquireOutcome(null, Drain: true);
                    }

                    if (ticket.Value.Woken.Task.IsCompleted)
                    {
                        continue; // handed a job while looking: the look may have missed it, so look again
                    }

                    var remaining = wait - time.GetElapsedTime(started);
                    if (remaining <= TimeSpan.Zero || lifetime.ApplicationStopping.IsCancellationRequested)
                    {
                        return AcquireOutcome.Nothing;
                    }

                    try
                    {
                        await Task.WhenAny(wake, ticket.Value.Woken.Task).WaitAsync(remaining, time, stop.Token);
                    }
                    catch (TimeoutException)
                    {
                        return AcquireOutcome.Nothing;
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        return AcquireOutcome.Nothing; // the host is stopping: answer "no job" now rather than hold shutdown
                    }
                }
                finally
                {
                    LeaveWaitingRoom(ticket);
                    // A wake that came with (or after) this look is answered by the next look — or handed on below.
                    if (ticket.Value.Woken.Task is { IsCompletedSuccessfully: true } woken && !wake.IsCompleted)
                    {
                        handed = woken.Result;
                    }
                }
            }
        }
        finally
        {
            if (handed is { } before)
            {
                HandOn(1, before); // leaving without looking for the job handed to us
            }
        }
    }

    /// <summary>A lease whose caller is gone (its call cancelled) would never be seen: the job goes straight back to
    /// the queue, its waiters are woken, and the call ends cancelled.</summary>
    private async Task GiveBackIfCallerGoneAsync(GrantedLease lease, CancellationToken cancellationToken)
    {
        if (cancellationToken.IsCancellationRequested)
        {
            await store.ReleaseLeaseAsync(lease.JobId, lease.Attempt, CancellationToken.None);
            WakeWaiters();
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Extends the leases the runner still holds and names those it must stop (not its own any more, or their
    /// cancel was requested); says whether the runner was asked to drain.</summary>
    public async Task<(IReadOnlyList<JobRefKey> Stop, bool Drain)> HeartbeatAsync(AuthenticatedRunner runner,
        IReadOnlyList<JobRefKey> running, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var drain = await runners.RecordHeartbeatAsync(connection, runner.Id, cancellationToken)
                    ?? throw new UnauthenticatedException(
                        "this runner registration was replaced by a newer one with its name, or revoked; register again");
        var held = await store.ExtendLeasesAsync(connection, runner.Id, running, options.LeaseTimeout, cancellationToken);
        return (running.Except(held.Select(h => h.Job)).Concat(held.Where(h => h.CancelRequested).Select(h => h.Job))
            .Distinct().ToList(), drain);
    }

    /// <summary>leased → running, with <see cref="JobStarted"/> in the same transaction. Repeating it is harmless.</summary>
    /// <remarks>The change and its event are one statement (see <see cref="JobStore.StartAsync"/>): this is on every
    /// step's path, and each round trip of a transaction held open costs the step, and the queue, its latency.</remarks>
    /// <param name="startedAfterLease">how long after its lease the runner began running the job (null: now).</param>
    public async Task ReportStartedAsync(AuthenticatedRunner runner, Guid jobId, int attempt, CancellationToken cancellationToken,
        TimeSpan? startedAfterLease = null)
    {
        var messageId = DeterministicGuid.Create(jobId.ToString(), attempt.ToString(), "started");
        // Execution, step and start time are the statement's to fill in.
        var placeholder = new JobStarted(jobId, Guid.Empty, "", 0, attempt, runner.Id, default);
        var started = await store.StartAsync(runner.Id, jobId, attempt, options.LeaseTimeout, startedAfterLease,
            JobStore.OutboxMessage.Of(messageId, placeholder), flushedLater: localConsumer is not null, cancellationToken);
        if (started is null)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            var current = await store.GetOwnershipAsync(connection, null, jobId)
                          ?? throw new NotFoundException("job", jobId.ToString());
            if (current.IsLeaseOf(runner.Id, attempt) && current.Status is not (JobStatus.Leased or JobStatus.Queued))
            {
                await AwaitDurableAsync(cancellationToken);
                return; // already reported (a retry), or already completed
            }

            throw JobOwnership.NotHeld(jobId, attempt, current);
        }

        var message = placeholder with
        {
            ExecutionId = started.ExecutionId, StepName = started.StepName, StepAttempt = started.StepAttempt,
            StartedAt = started.StartedAtUtc,
        };
        await DeliverAsync(messageId, message, consumer => consumer.ConsumeAsync(message, messageId, CancellationToken.None));
    }

    /// <summary>
    /// Finishes the job with the runner's result and <see cref="JobFinished"/> in one transaction. A retry carrying the
    /// same result for a job this lease already finished succeeds without doing anything. A job whose cancel was
    /// requested ends cancelled whatever the result; a report about a lease that already ended cancelled (the report
    /// was retried, or the lease lapsed first) is accepted and changes nothing.
    /// </summary>
    /// <remarks>The change and its event are one statement (see <see cref="JobStore.FinishAsync"/>), committed before
    /// the answer; the event is published right after, its outbox row forgotten later (off the answer's path).</remarks>
    public async Task CompleteAsync(AuthenticatedRunner runner, Guid jobId, int attempt, JobResult reported,
        CancellationToken cancellationToken)
    {
        var result = reported with { OutputTail = OutputTail.Bound(reported.OutputTail) };
        var messageId = DeterministicGuid.Create(jobId.ToString(), attempt.ToString(), "finished");
        // Execution, step, times and error (and the outcome, when the job ends cancelled) are the statement's to fill in.
        var placeholder = new JobFinished(jobId, Guid.Empty, "", 0, attempt, runner.Id, result.Status.ToOutcome(),
            result.ExitCode, result.Outputs, null, NullIfEmpty(result.OutputTail), null, default);
        var finished = await store.FinishAsync(runner.Id, jobId, attempt, result,
            JobStore.OutboxMessage.Of(messageId, placeholder), (int)JobOutcome.Cancelled, flushedLater: localConsumer is not null,
            cancellationToken);
        if (finished is null)
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
            var current = await store.GetOwnershipAsync(connection, null, jobId)
                          ?? throw new NotFoundException("job", jobId.ToString());
            if (!current.IsLeaseOf(runner.Id, attempt) || !current.Status.IsFinished())
            {
                throw JobOwnership.NotHeld(jobId, attempt, current);
            }

            if (current.Status == JobStatus.Cancelled)
            {
                return; // cancelled while this runner held it: the job's end does not depend on the report
            }

            var stored = await store.GetResultAsync(connection, null, jobId);
            if (stored is not null && stored.SameAs(result))
            {
                await AwaitDurableAsync(cancellationToken);
                return; // a retry of the completion that was stored
            }

            throw new PreconditionFailedException(
                $"job {jobId} attempt {attempt} was already completed with a different result");
        }

        // The job's log is complete: wake its followers (after the commit: a NOTIFY in it would serialise completions);
        // those of other replicas with one NOTIFY per few milliseconds, not one per completion.
        notifications.NotifySoon(JobLogStore.LogsChannel, LogFollowersGather);
        // The next step waits on this message: it is delivered right after the commit, not by the relay.
        var message = placeholder with
        {
            ExecutionId = finished.ExecutionId, StepName = finished.StepName, StepAttempt = finished.StepAttempt,
            Outcome = finished.Status.ToOutcome(), Error = NullIfEmpty(finished.Error), StartedAt = finished.StartedAtUtc,
            FinishedAt = finished.FinishedAtUtc,
        };
        await DeliverAsync(messageId, message, consumer => consumer.ConsumeAsync(message, messageId, CancellationToken.None));
        if (finished.Status == JobStatus.Cancelled)
        {
            logger.LogInformation("Job {JobId} attempt {Attempt} ended cancelled (runner {Runner} reported exit code {ExitCode})",
                jobId, attempt, runner.Name, result.ExitCode);
        }
    }

    /// <summary>
    /// <see cref="CompleteAsync"/>, then a lease of the runner's next job, without waiting: the runner's slot goes
    /// straight to it. The completion stands whatever happens next: a failure to lease is answered as "no next job"
    /// (the runner's next AcquireJob meets whatever caused it).
    /// </summary>
    public async Task<AcquireOutcome> CompleteAndAcquireNextAsync(AuthenticatedRunner runner, Guid jobId, int attempt,
        JobResult reported, CancellationToken cancellationToken)
    {
        var completion = new Completion(runner.Id, await SelectorAsync(runner, cancellationToken),
            time.GetUtcNow() + options.LeaseTimeout);
        completionInProgress.Value = completion;
        var next = AcquireOutcome.Nothing;
        try
        {
            await CompleteAsync(runner, jobId, attempt, reported, cancellationToken);
            completionInProgress.Value = null;
            if (completion.GrantedLease() is { } granted)
            {
                next = new AcquireOutcome(granted, Drain: false); // granted only to a runner that is not draining
                await GiveBackIfCallerGoneAsync(granted, cancellationToken);
                logger.LogDebug("Leased job {JobId} attempt 1 to runner {Runner} with its enqueue", granted.JobId, runner.Name);
                return next;
            }

            try
            {
                next = await AcquireAsync(runner, TimeSpan.Zero, cancellationToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "Leasing the next job for runner {Runner} after its completion failed", runner.Name);
            }

            return next;
        }
        finally
        {
            completionInProgress.Value = null;
            var enqueued = completion.Close();
            if (enqueued.Count > 0)
            {
                HandOut(next.Lease is { } lease ? enqueued.Where(j => j.JobId != lease.JobId).ToList() : enqueued);
            }
        }
    }

    /// <summary>
    /// Cancels jobs in one transaction (idempotent): a queued job ends cancelled at once, with <see cref="JobFinished"/>
    /// (outcome Cancelled, no exit code); a leased or running one gets the cancel request recorded and its runner is
    /// woken (it kills the job and reports it, which ends it cancelled); finished and unknown jobs are left alone.
    /// </summary>
    public async Task CancelAsync(IReadOnlyCollection<Guid> jobIds, string reason, CancellationToken cancellationToken)
    {
        if (jobIds.Count == 0)
        {
            return;
        }

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var outcome = await store.CancelAsync(connection, transaction, jobIds.Distinct().ToArray(), reason, cancellationToken);
        await AddEndedByRegistryAsync(connection, transaction, outcome.Ended);
        await transaction.CommitAsync(cancellationToken);
        if (outcome.Requested > 0)
        {
            WakeCancellationWaiters();
        }

        if (outcome.Ended.Count > 0 || outcome.Requested > 0)
        {
            logger.LogInformation(
                "Cancel ({Reason}): {Ended} queued job(s) cancelled, {Requested} leased or running job(s) asked to stop",
                reason, outcome.Ended.Count, outcome.Requested);
        }
    }

    /// <summary>
    /// Of <paramref name="running"/>, the jobs the runner must stop (cancel requested, or not its own at that attempt
    /// any more), waiting up to <paramref name="wait"/> for one; empty when the wait ends (or the host stops) first.
    /// </summary>
    public async Task<IReadOnlyList<JobRefKey>> AwaitCancellationsAsync(AuthenticatedRunner runner,
        IReadOnlyList<JobRefKey> running, TimeSpan wait, CancellationToken cancellationToken)
    {
        var started = time.GetTimestamp();
        var jobs = running.Distinct().ToList();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        while (true)
        {
            // Taken before looking, so a cancel committed between the look and the wait still wakes us.
            var wake = jobsToStop.Next;
            if (jobs.Count > 0)
            {
                // Not cancelled with the call: runners abandon this call whenever their jobs change (often in this
                // short look), and cancelling a statement in flight costs PostgreSQL a connection of its own.
                var toStop = await store.FindToStopAsync(runner.Id, jobs, lifetime.ApplicationStopping);
                cancellationToken.ThrowIfCancellationRequested();
                if (toStop.Count > 0)
                {
                    return toStop;
                }
            }

            var remaining = wait - time.GetElapsedTime(started);
            if (remaining <= TimeSpan.Zero || lifetime.ApplicationStopping.IsCancellationRequested)
            {
                return [];
            }

            try
            {
                await wake.WaitAsync(remaining, time, stop.Token);
            }
            catch (TimeoutException)
            {
                return [];
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return []; // the host is stopping: answer now rather than hold shutdown
            }
        }
    }

    /// <summary>
    /// Puts jobs whose lease lapsed back in the queue — or, when their cancel was requested, ends them cancelled with
    /// <see cref="JobFinished"/> — in one transaction per batch. Returns how many jobs it released.
    /// </summary>
    public async Task<(int Requeued, int Cancelled)> ReleaseLapsedAsync(int batchSize, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var released = await store.ReleaseLapsedAsync(connection, transaction, batchSize, cancellationToken);
        await AddEndedByRegistryAsync(connection, transaction, released);
        await transaction.CommitAsync(cancellationToken);
        var requeued = released.Count(r => r.Status == JobStatus.Queued);
        if (requeued > 0)
        {
            WakeWaiters();
        }

        if (released.Count > 0)
        {
            WakeCancellationWaiters();
        }

        return (requeued, released.Count - requeued);
    }

    /// <summary>
    /// <see cref="JobFinished"/> for the jobs among <paramref name="jobs"/> the registry itself ended (cancelled while
    /// queued, or a cancel-requested job whose lease ended without a report), in the caller's transaction.
    /// </summary>
    public async Task AddEndedByRegistryAsync(IDbConnection connection, IDbTransaction transaction,
        IReadOnlyList<JobStore.EndedRow> jobs)
    {
        foreach (var job in jobs.Where(j => j.Status.IsFinished()))
        {
            await outbox.AddAsync(connection, transaction,
                DeterministicGuid.Create(job.JobId.ToString(), job.Attempt.ToString(CultureInfo.InvariantCulture), "finished"),
                new JobFinished(job.JobId, job.ExecutionId, job.StepName, job.StepAttempt, job.Attempt, job.RunnerId,
                    job.Status.ToOutcome(), null, new Dictionary<string, string>(), job.Error, null, job.StartedAtUtc,
                    job.FinishedAtUtc));
        }
    }

    public async Task<IReadOnlyList<JobView>> GetJobsAsync(Guid[] jobIds, CancellationToken cancellationToken)
    {
        var jobs = await store.GetJobsAsync(jobIds, cancellationToken);
        if (!jobs.Any(j => j.Status == JobStatus.Queued))
        {
            return jobs;
        }

        var onlineSince = time.GetUtcNow() - options.HeartbeatInterval * RunnerView.MissedHeartbeatsBeforeOffline;
        var reasons = await store.QueueReasonsAsync(jobIds, onlineSince, cancellationToken);
        return jobs.Select(j => reasons.TryGetValue(j.JobId, out var reason) ? j with { QueueReason = reason } : j).ToList();
    }

    /// <summary>
    /// Delivers a job event whose change (and outbox row) was just committed: to the consumer in this process when there
    /// is one — its flushed commit then makes the change durable too — or else published on the bus. Either way the
    /// outbox row is forgotten afterwards, or left to the relay when delivering failed.
    /// </summary>
    /// <param name="consume">the call that hands the event to the local consumer (with no token of the caller's: a
    /// change that committed is applied even if the runner gave up on its call).</param>
    private async Task DeliverAsync<T>(Guid messageId, T message, Func<ILocalJobEventConsumer, Task> consume)
        where T : class
    {
        if (localConsumer is null)
        {
            await publisher.PublishAsync(messageId, message);
            return;
        }

        try
        {
            await consume(localConsumer);
            publisher.Delivered(messageId);
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Applying {MessageType} {MessageId} in process failed; the outbox relay publishes it",
                typeof(T).Name, messageId);
            publisher.RelayNow();
            // The change committed without waiting for its flush, counting on the consumer's commit: the runner is
            // answered only once it is on disk.
            await AwaitDurableAsync(CancellationToken.None);
        }
    }

    /// <summary>With a local consumer, reports commit without waiting for their WAL flush (see <see cref="DeliverAsync"/>):
    /// a report answered without a commit of its own (a retry of one that was applied) waits for it here.</summary>
    private Task AwaitDurableAsync(CancellationToken cancellationToken) =>
        localConsumer is null ? Task.CompletedTask : store.AwaitFlushAsync(cancellationToken);

    private static string? NullIfEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
