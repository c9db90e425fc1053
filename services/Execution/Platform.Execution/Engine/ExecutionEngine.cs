using System.Collections.Concurrent;
using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Npgsql;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.BuildingBlocks.Messaging;
using Platform.BuildingBlocks.Persistence;
using Platform.Execution.Core;
using Platform.Execution.Domain;
using Platform.Execution.Persistence;
using Platform.Workflow.Expressions;

namespace Platform.Execution.Engine;

/// <summary>
/// The embedded engine: hosts the deterministic core on PostgreSQL. Every decision is one transaction that locks
/// the execution, folds its history, appends the admitted event and the events of the core's commands, and writes
/// the jobs to dispatch and the events to publish into outboxes. A crash at any point loses nothing and applies
/// nothing twice: either the whole decision committed or none of it did.
/// </summary>
public sealed class ExecutionEngine(
    NpgsqlDataSource dataSource,
    ExecutionStore store,
    IWorkflowCatalog catalog,
    IJobQueue jobQueue,
    [FromKeyedServices(ExecutionModule.Schema)] Outbox outbox,
    PgNotificationHub notifications,
    TimeProvider clock,
    ILogger<ExecutionEngine> logger) : IExecutionEngine
{
    private const int CacheLimit = 10_000;

    // The folded state of recently decided executions, valid while the stored version matches. Events are
    // immutable, so a matching version means the cached fold is exactly what folding the history would give.
    private readonly ConcurrentDictionary<Guid, CachedExecution> cache = new();

    private sealed record CachedExecution(long Version, ExecutionState State, PinnedWorkflow Plan, JsonElement Input);

    public async Task<Guid> StartAsync(StartCommand command, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (command.IdempotencyKey is { } key && await store.FindByIdempotencyKeyAsync(connection, command.WorkflowId, key) is { } existing)
        {
            return existing;
        }

        var plan = await catalog.ResolveForStartAsync(command, cancellationToken);

        var id = Guid.CreateVersion7();
        var now = clock.GetUtcNow();
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var inserted = await store.InsertAsync(connection, transaction, new ExecutionStore.NewExecution(
            id, plan.WorkflowId, plan.Revision, plan.Name, HistoryCodec.StatusName(ExecutionStatus.Running),
            command.Input.ToJsonString(), System.Text.Json.JsonSerializer.Serialize(plan, ExecutionStore.Json),
            command.IdempotencyKey, now));
        if (!inserted)
        {
            // Another start with the same key won the race; it is the execution.
            await transaction.RollbackAsync(cancellationToken);
            return (await store.FindByIdempotencyKeyAsync(connection, command.WorkflowId, command.IdempotencyKey!))!.Value;
        }

        var input = JsonSerializer.SerializeToElement(command.Input);
        var decision = new Decision(id, plan, input, ExecutionState.Initial, version: 0, now);
        decision.Record(new ExecutionStarted(plan.ToPlan()) { Input = input }, null);
        decision.Drive();
        await PersistAndCommitAsync(connection, transaction, decision, now,
            outbox.AddCommand(ExecutionMessages.StartedMessageId(id), ExecutionMessages.Started(id, plan, now)));
        await AfterCommitAsync(connection, decision);
        return id;
    }

    /// <summary>Applies facts that arrived from outside (job events, API requests), exactly once per message.</summary>
    /// <returns>whether the core admitted any of them (false: a duplicate, or not applicable in the current state).</returns>
    public async Task<bool> ApplyAsync(Guid executionId, IReadOnlyList<(ExecutionEvent Event, JsonObject? Details)> incoming,
        Guid messageId, string consumer, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (await TryApplyToCachedStateAsync(connection, executionId, incoming, messageId, consumer, cancellationToken)
            is { } appliedToCache)
        {
            return appliedToCache;
        }

        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var (isNew, locked) = await store.RecordAndLockAsync(connection, transaction, messageId, consumer, executionId);
        if (!isNew)
        {
            return false;
        }

        if (locked is null)
        {
            logger.LogWarning("Ignoring {Consumer} message {MessageId} for unknown execution {ExecutionId}", consumer, messageId, executionId);
            await transaction.CommitAsync(cancellationToken);
            return false;
        }

        return await DecideAsync(connection, transaction, executionId, locked.Version, incoming, cancellationToken);
    }

    /// <summary>
    /// The common case without the round trip that locks the execution: when this process made the execution's last
    /// decision, its folded state is cached, and the decision is computed from it and written — with the message's inbox
    /// record — in one batch. The events' primary key (execution, sequence) refuses the batch when another decision
    /// appended first (the cached state was behind), and the inbox's when the message was applied already; either way
    /// nothing of it is written.
    /// </summary>
    /// <returns>whether the core admitted the events; null when this cannot tell (nothing cached, nothing admitted by
    /// the cached state — which may be behind —, or it was behind): the caller decides under the lock.</returns>
    private async Task<bool?> TryApplyToCachedStateAsync(NpgsqlConnection connection, Guid executionId,
        IReadOnlyList<(ExecutionEvent Event, JsonObject? Details)> incoming, Guid messageId, string consumer,
        CancellationToken cancellationToken)
    {
        if (!cache.TryGetValue(executionId, out var cached))
        {
            return null;
        }

        var now = clock.GetUtcNow();
        var decision = new Decision(executionId, cached.Plan, cached.Input, cached.State, cached.Version, now);
        if (!Admit(decision, incoming))
        {
            return null;
        }

        decision.Drive();
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            try
            {
                await PersistAndCommitAsync(connection, transaction, decision, now,
                    inbox: ExecutionStore.InboxCommand(messageId, consumer));
            }
            catch (PostgresException e) when (ExecutionStore.IsDuplicateMessage(e))
            {
                return false;
            }
            catch (PostgresException e) when (ExecutionStore.IsOutdatedDecision(e))
            {
                logger.LogDebug("Execution {ExecutionId}: another decision came after version {Version}; deciding again under the lock",
                    executionId, cached.Version);
                cache.TryRemove(new KeyValuePair<Guid, CachedExecution>(executionId, cached));
                return null;
            }
        }

        await AfterCommitAsync(connection, decision);
        return true;
    }

    /// <summary>Fires a durable timer: once, because its row is deleted in the same transaction.</summary>
    public async Task FireTimerAsync(Guid executionId, string timerId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // The row lock first: the timer row is then deleted by exactly one of any racing replicas.
        if (await store.LockAsync(connection, transaction, executionId) is not { } locked
            || !await store.DeleteTimerAsync(connection, transaction, executionId, timerId))
        {
            return;
        }

        await DecideAsync(connection, transaction, executionId, locked.Version, [(new TimerFired(timerId), null)], cancellationToken);
    }

    /// <summary>One decision on an execution whose row this transaction has locked at <paramref name="version"/>.</summary>
    private async Task<bool> DecideAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid executionId,
        long version, IReadOnlyList<(ExecutionEvent Event, JsonObject? Details)> incoming, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        var decision = await LoadAsync(connection, transaction, executionId, version, now);
        if (!Admit(decision, incoming))
        {
            await transaction.CommitAsync(cancellationToken); // what is committed is the inbox record, or a timer's end
            return false;
        }

        decision.Drive();
        await PersistAndCommitAsync(connection, transaction, decision, now);
        await AfterCommitAsync(connection, decision);
        return true;
    }

    /// <summary>Records the events the core admits in the decision's state.</summary>
    /// <returns>whether it admitted any.</returns>
    private bool Admit(Decision decision, IReadOnlyList<(ExecutionEvent Event, JsonObject? Details)> incoming)
    {
        var admitted = false;
        foreach (var (e, details) in incoming)
        {
            if (Decider.Admits(decision.State, e))
            {
                decision.Record(e, details);
                admitted = true;
            }
            else
            {
                logger.LogDebug("Execution {ExecutionId}: {Event} not admitted: {Reason}", decision.ExecutionId,
                    e.GetType().Name, Decider.RejectionReason(decision.State, e));
            }
        }

        return admitted;
    }

    /// <summary>After a decision's commit: its fold is cached, the local waiters woken, its jobs handed over.</summary>
    private async Task AfterCommitAsync(NpgsqlConnection connection, Decision decision)
    {
        Remember(decision);
        WakeDispatcher(decision);
        await DispatchNowAsync(connection, decision);
    }

    /// <summary>The current folded state of an execution, with its pinned plan (for the read API).</summary>
    public async Task<(ExecutionState State, PinnedWorkflow Plan, IReadOnlyList<HistoryEntry> History)?> ReadAsync(
        Guid executionId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await store.ReadAsync(connection, executionId);
    }

    /// <summary>The id of the job that runs a step's attempt: the same every time it is computed.</summary>
    public static Guid JobId(Guid executionId, string step, int attempt) =>
        DeterministicGuid.Create(executionId.ToString(), step, attempt.ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>The id of the job that runs a step's compensation.</summary>
    public static Guid CompensationJobId(Guid executionId, string step, int attempt) =>
        DeterministicGuid.Create(executionId.ToString(), step, attempt.ToString(System.Globalization.CultureInfo.InvariantCulture), "compensation");

    private async Task<Decision> LoadAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid id, long version,
        DateTimeOffset now)
    {
        if (cache.TryGetValue(id, out var cached) && cached.Version == version)
        {
            return new Decision(id, cached.Plan, cached.Input, cached.State, version, now);
        }

        var (plan, input) = await store.LoadPlanAsync(connection, transaction, id);
        var inputElement = JsonSerializer.SerializeToElement(input);
        var state = HistoryCodec.Fold(await store.LoadHistoryAsync(connection, transaction, id));

        return new Decision(id, plan, inputElement, state, version, now);
    }

    /// <summary>Writes the decision and commits, in one round trip; <paramref name="message"/> (the execution's start)
    /// and <paramref name="inbox"/> (the record of the message decided on) go in the same batch.</summary>
    private async Task PersistAndCommitAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Decision decision,
        DateTimeOffset now, NpgsqlBatchCommand? message = null, NpgsqlBatchCommand? inbox = null)
    {
        var state = decision.State;
        var finished = state.Status is ExecutionStatus.Succeeded or ExecutionStatus.Failed or ExecutionStatus.Cancelled;
        var before = new List<NpgsqlBatchCommand>();
        if (inbox is not null)
        {
            before.Add(inbox);
        }

        if (message is not null)
        {
            before.Add(message);
        }

        if (decision.Finished is { } finish)
        {
            before.Add(outbox.AddCommand(ExecutionMessages.FinishedMessageId(decision.ExecutionId, decision.FinishedSequence),
                ExecutionMessages.Finished(decision.ExecutionId, decision.Plan, finish, state, now)));
        }

        var wroteOutbox = message is not null || decision.Finished is not null;
        // Jobs go to a queue in this database within this transaction, or else to the dispatch outbox.
        if (decision.Jobs.Count > 0 && jobQueue is ITransactionalJobQueue transactional)
        {
            decision.Enlisted = transactional.Enlist(decision.Jobs);
        }

        await store.PersistAndCommitAsync(connection, transaction, new ExecutionStore.DecisionWrites(
            decision.ExecutionId, decision.BaseVersion, decision.NewEvents, now, decision.Enlisted is null ? decision.Jobs : [],
            decision.Cancellations, decision.Timers, finished, HistoryCodec.StatusName(state.Status), decision.Finished?.Error),
            before, decision.Enlisted?.Statements ?? []);
        if (wroteOutbox)
        {
            outbox.WakeLocalRelay(notifications); // the outbox rows were written without a NOTIFY
        }
    }

    private void Remember(Decision decision)
    {
        if (decision.State.Status is ExecutionStatus.Succeeded or ExecutionStatus.Failed or ExecutionStatus.Cancelled)
        {
            cache.TryRemove(decision.ExecutionId, out _);
            return;
        }

        if (cache.Count >= CacheLimit)
        {
            cache.Clear();
        }

        cache[decision.ExecutionId] = new CachedExecution(decision.Version, decision.State, decision.Plan, decision.Input);
    }

    /// <summary>
    /// Hands the decision's jobs to Runner-Registry right after the commit, from the process that decided them: the
    /// dispatch relay's round trips are then off every step's path. The outbox rows stay the durable record until
    /// Runner-Registry has the jobs (enqueueing is idempotent by job id): if this fails, or the process dies first,
    /// the relay hands them over (woken now, or when it starts). Cancellations always go through the relay, which
    /// takes the outbox in order: a job's enqueue row still there goes out before its cancel.
    /// </summary>
    /// <param name="connection">the decision's connection, its transaction committed.</param>
    private async Task DispatchNowAsync(NpgsqlConnection connection, Decision decision)
    {
        if (decision.Jobs.Count == 0)
        {
            return;
        }

        if (decision.Enlisted is { } enlisted)
        {
            enlisted.Committed(); // enqueued by the decision's own transaction
            return;
        }

        try
        {
            // Not the caller's token: a decision that committed is handed over even if its caller gave up.
            await jobQueue.EnqueueAsync(decision.Jobs, CancellationToken.None);
            await store.DeleteEnqueuedAsync(connection, decision.Jobs.Select(j => j.JobId).ToArray());
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "Execution {ExecutionId}: handing {Count} job(s) over failed; the dispatch relay retries",
                decision.ExecutionId, decision.Jobs.Count);
            notifications.Channel(ExecutionStore.DispatchChannel).Pulse();
        }
    }

    private void WakeDispatcher(Decision decision)
    {
        if (decision.NewEvents.Count > 0)
        {
            notifications.NotifySoon(ExecutionStore.EventsChannel); // the watch streams
        }

        // NOTIFY reaches every replica after commit; pulsing the local signal as well saves this process the round trip.
        if (decision.Cancellations.Count > 0)
        {
            notifications.Channel(ExecutionStore.DispatchChannel).Pulse();
        }

        if (decision.Timers.Count > 0)
        {
            notifications.Channel(ExecutionStore.TimerChannel).Pulse();
        }
    }

    /// <summary>One decision in progress: the folded state and everything it will write.</summary>
    private sealed class Decision(Guid executionId, PinnedWorkflow plan, JsonElement input, ExecutionState state, long version,
        DateTimeOffset now)
    {
        private readonly List<StoredEvent> newEvents = [];
        private readonly List<JobRequest> jobs = [];
        private readonly List<JobCancellation> cancellations = [];
        private readonly List<(string TimerId, DateTimeOffset DueAt)> timers = [];

        public Guid ExecutionId { get; } = executionId;
        public PinnedWorkflow Plan { get; } = plan;
        public JsonElement Input { get; } = input;
        public ExecutionState State { get; private set; } = state;
        public long BaseVersion { get; } = version;
        public long Version => BaseVersion + newEvents.Count;
        public IReadOnlyList<StoredEvent> NewEvents => newEvents;
        public IReadOnlyList<JobRequest> Jobs => jobs;
        public IReadOnlyList<JobCancellation> Cancellations => cancellations;
        public IReadOnlyList<(string TimerId, DateTimeOffset DueAt)> Timers => timers;
        public ExecutionFinished? Finished { get; private set; }

        /// <summary>The sequence <see cref="Finished"/> is stored at.</summary>
        public long FinishedSequence { get; private set; }

        /// <summary>The jobs, when the job queue takes them in the decision's own transaction.</summary>
        public EnlistedJobs? Enlisted { get; set; }

        public void Record(ExecutionEvent e, JsonObject? details)
        {
            State = State.Apply(e);
            newEvents.Add(HistoryCodec.Encode(e, details));
            if (e is ExecutionFinished finished)
            {
                Finished = finished;
                FinishedSequence = Version;
            }
        }

        /// <summary>Asks the core what to do until it has nothing more to say; each command's side effect is
        /// written in this same transaction (outbox rows, timer rows).</summary>
        public void Drive()
        {
            for (var round = 0; round < 1000; round++)
            {
                var commands = Decider.Decide(State);
                if (commands.Count == 0)
                {
                    return;
                }

                foreach (var command in commands)
                {
                    var recorded = Decider.Record(command);
                    JsonObject? details = null;
                    switch (command)
                    {
                        case DispatchStep dispatch:
                            var job = JobBuilder.Job(ExecutionId, Plan, Input, State, dispatch);
                            jobs.Add(job);
                            details = new JsonObject { ["job_id"] = job.JobId.ToString() };
                            break;
                        case DispatchCompensation compensation:
                            var compensationJob = JobBuilder.CompensationJob(ExecutionId, Plan, Input, State, compensation.Step);
                            jobs.Add(compensationJob);
                            details = new JsonObject { ["job_id"] = compensationJob.JobId.ToString() };
                            break;
                        case StartTimer timer:
                            // Jitter is the host's randomness: it is recorded in the event, so the fold stays pure.
                            var delay = JobBuilder.Delay(timer, Random.Shared.NextDouble());
                            recorded = new TimerScheduled(timer.TimerId, delay);
                            var dueAt = now + delay;
                            timers.Add((timer.TimerId, dueAt));
                            details = new JsonObject { ["due_at"] = dueAt };
                            break;
                        case CancelJob cancel:
                            var cancellation = JobBuilder.Cancellation(ExecutionId, State, cancel);
                            cancellations.Add(cancellation);
                            details = new JsonObject { ["reason"] = cancellation.Reason };
                            break;
                    }

                    Record(recorded, details);
                }
            }

            throw new InvalidOperationException($"execution {ExecutionId}: the core did not settle after 1000 rounds");
        }
    }
}
