using System.Data;
using System.Text.Json;
using Dapper;
using Npgsql;
using Platform.BuildingBlocks.Messaging;
using Platform.RunnerRegistry.Domain;

namespace Platform.RunnerRegistry.Persistence;

/// <summary>The job queue in <c>runners.jobs</c>: enqueue, lease (FOR UPDATE SKIP LOCKED), reports, lease expiry, cancel.</summary>
internal sealed class JobStore(NpgsqlDataSource dataSource)
{
    /// <summary>NOTIFY channel pulsed whenever a job becomes queued.</summary>
    public const string JobsChannel = "runners_jobs";

    /// <summary>NOTIFY channel pulsed whenever a held job must stop: its cancel was requested, or it was taken from its
    /// runner (lease lapsed, runner replaced). AwaitCancellations long polls sleep on it.</summary>
    public const string CancelChannel = "runners_cancel";

    private const string NotifyJobs = $"SELECT pg_notify('{JobsChannel}', '')";
    private const string NotifyCancel = $"SELECT pg_notify('{CancelChannel}', '')";

    /// <summary>What a leased or running job becomes when its lease ends without a report (lapsed, or its runner was
    /// replaced): queued again for a new attempt — or, when its cancel was requested, cancelled (the holder keeps its
    /// name on the job, and <c>error</c> is the cancel reason). The old values are what the CASEs read.</summary>
    private const string ReleaseHeld = """
            state = CASE WHEN j.cancel_requested_at IS NULL THEN 'queued' ELSE 'cancelled' END,
            runner_id = CASE WHEN j.cancel_requested_at IS NULL THEN NULL ELSE j.runner_id END,
            leased_at = CASE WHEN j.cancel_requested_at IS NULL THEN NULL ELSE j.leased_at END,
            started_at = CASE WHEN j.cancel_requested_at IS NULL THEN NULL ELSE j.started_at END,
            finished_at = CASE WHEN j.cancel_requested_at IS NULL THEN NULL ELSE clock_timestamp() END,
            error = CASE WHEN j.cancel_requested_at IS NULL THEN j.error ELSE j.cancel_reason END,
            lease_expires_at = NULL
        """;

    /// <summary>When a job started, from the runner's report of how long after its lease it began (on this database's
    /// clock: runner clocks need not agree), never later than now; without that, now. LEAST ignores a NULL.</summary>
    private const string StartedAt =
        "LEAST(clock_timestamp(), leased_at + make_interval(secs => @startedAfter::double precision))";

    /// <summary>
    /// Joined to a report's result row: when the caller's next commit waits for its WAL flush anyway (it hands the
    /// report's event to a consumer in this database, see ILocalJobEventConsumer), this report's commit does not.
    /// </summary>
    private const string CommitMode =
        "LEFT JOIN LATERAL (SELECT set_config('synchronous_commit', 'off', true) WHERE @flushedLater) AS commit_mode ON true";

    private const string EndedColumns = """
        j.id AS JobId, j.state AS State, j.attempt AS Attempt, j.execution_id AS ExecutionId, j.step_name AS StepName,
        j.step_attempt AS StepAttempt, j.runner_id AS RunnerId, j.started_at AS StartedAt, j.finished_at AS FinishedAt,
        j.error AS Error
        """;

    /// <summary>Inserts the jobs given as parallel arrays, new ones only, as <c>inserted</c>. Each job's fair_rank
    /// counts the jobs of its execution queued or held before the statement plus those ahead of it in the batch. Their
    /// labels and kinds, arrays themselves, come as JSON arrays (PostgreSQL has no ragged arrays of arrays).</summary>
    private const string InsertJobs = """
        WITH inserted AS (
            INSERT INTO runners.jobs (id, execution_id, step_name, step_attempt, spec, labels, executors, fair_rank)
            SELECT n.id, n.execution_id, n.step_name, n.step_attempt, n.spec,
                   ARRAY(SELECT jsonb_array_elements_text(n.labels)),
                   ARRAY(SELECT jsonb_array_elements_text(n.executors)),
                   (SELECT count(*) FROM runners.jobs a
                    WHERE a.execution_id = n.execution_id AND a.state IN ('queued', 'leased', 'running'))
                   + row_number() OVER (PARTITION BY n.execution_id ORDER BY n.ord) - 1
            FROM unnest(@ids::uuid[], @executionIds::uuid[], @stepNames::text[], @stepAttempts::int[],
                        @specs::jsonb[], @labels::jsonb[], @executors::jsonb[])
                 WITH ORDINALITY AS n(id, execution_id, step_name, step_attempt, spec, labels, executors, ord)
            WHERE NOT EXISTS (SELECT 1 FROM runners.jobs e WHERE e.id = n.id)
            ORDER BY n.ord
            ON CONFLICT (id) DO NOTHING
            RETURNING 1
        )
        """;

    /// <summary>
    /// The statement that enqueues <paramref name="jobs"/> (idempotently, as <see cref="EnqueueAsync"/>) in a
    /// transaction of the caller's: for a context that shares this database and process, so its jobs are queued
    /// atomically with its own writes. No NOTIFY (it would serialise the caller's commits): the caller wakes this
    /// process's waiting runners after its commit.
    /// </summary>
    public static NpgsqlBatchCommand EnqueueCommand(IReadOnlyList<NewJob> jobs)
    {
        var command = new NpgsqlBatchCommand(InsertJobs + "SELECT count(*) FROM inserted");
        foreach (var (name, value) in JobColumns(jobs))
        {
            command.Parameters.Add(new NpgsqlParameter(name, value));
        }

        return command;
    }

    /// <returns>How many of the jobs were new (the others were enqueued before: enqueueing is idempotent).</returns>
    /// <param name="sender">The NOTIFY's payload: the enqueuing process, which wakes its own waiters itself.</param>
    /// <remarks>One statement, one round trip, for the whole batch and its NOTIFY (it was a statement per job, then the
    /// NOTIFY, then the commit).</remarks>
    public async Task<int> EnqueueAsync(IReadOnlyList<NewJob> jobs, string sender, CancellationToken cancellationToken)
    {
        const string sql = InsertJobs + $"""
            SELECT n::int, CASE WHEN n > 0 THEN pg_notify('{JobsChannel}', @sender) END
            FROM (SELECT count(*) AS n FROM inserted) c
            """;
        var parameters = new DynamicParameters(JobColumns(jobs).ToDictionary(c => c.Name, c => c.Value));
        parameters.Add("sender", sender);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<int>(new CommandDefinition(sql, parameters, cancellationToken: cancellationToken));
    }

    /// <summary>The parameters of <see cref="InsertJobs"/>. A job id named twice in one batch is the first one (as when it
    /// is enqueued twice).</summary>
    private static IEnumerable<(string Name, object Value)> JobColumns(IReadOnlyList<NewJob> jobs)
    {
        var batch = jobs.DistinctBy(j => j.JobId).ToList();
        yield return ("ids", batch.Select(j => j.JobId).ToArray());
        yield return ("executionIds", batch.Select(j => j.ExecutionId).ToArray());
        yield return ("stepNames", batch.Select(j => j.StepName).ToArray());
        yield return ("stepAttempts", batch.Select(j => j.StepAttempt).ToArray());
        yield return ("specs", batch.Select(j => JobJson.Write(j.Spec)).ToArray());
        yield return ("labels", batch.Select(j => JsonSerializer.Serialize(j.Spec.RunnerLabels)).ToArray());
        yield return ("executors", batch.Select(j => JsonSerializer.Serialize(j.Spec.AcceptedExecutors)).ToArray());
    }

    /// <summary>
    /// Leases the first queued job — in fair order: (jobs of its execution ahead of it, enqueued time) — whose labels
    /// the runner has and whose executor kinds overlap its own, unless the runner already holds as many jobs as its
    /// capacity or was asked to drain. The runner is locked first so that its concurrent acquires cannot exceed its
    /// capacity (the lease statement takes a fresh snapshot after the lock). The statements go in one round trip, in
    /// one implicit transaction, which holds the lock to its end. The lease names the runner's first kind the job accepts.
    /// </summary>
    /// <remarks>The runner is serialized with a transaction-scoped advisory lock rather than a row lock: every waiting
    /// runner looks again whenever a job is queued, and a row lock writes WAL and dirties the runner's page each time.
    /// </remarks>
    public async Task<LeaseAttempt> TryLeaseAsync(Guid runnerId, RunnerSelector runner, TimeSpan leaseTimeout,
        CancellationToken cancellationToken)
    {
        // The runner's labels and kinds are parameters, not read from its row in the query: with their values the
        // planner walks the queue index in order and stops at the first match; joined from the row, it estimated one
        // match and sorted every queued job on every acquire.
        // Sorting is off for this transaction: the queue head must be walked in index order whatever the statistics
        // say. After a quiet spell the table's statistics count a few queued jobs; a burst of thousands then had every
        // acquire fetch and sort all of them (35 ms each at 18,000 queued), until autovacuum analyzed the table.
        // The lease commits without waiting for its WAL flush (about 0.6 ms here, on every job's path): the lease is
        // visible at once, durable with the next flushed commit (the job's start or end, anyone's) or within
        // wal_writer_delay. Only a crash of PostgreSQL itself in that window can lose it; the job is then queued
        // again and runs again, fenced like a lapsed lease (this runner's reports are refused, its heartbeat tells it
        // to stop) — the at-least-once a lapsed lease already gives.
        const string sql = $"""
            SELECT {LockRunner}, set_config('enable_sort', 'off', true),
                   set_config('synchronous_commit', 'off', true),
                   (SELECT drain_requested_at IS NOT NULL FROM runners.runners
                    WHERE id = @runnerId AND replaced_at IS NULL AND revoked_at IS NULL) AS Draining;

            WITH me AS (
                SELECT r.id FROM runners.runners r WHERE {RunnerMayLease}
            ), next AS (
                SELECT q.id
                FROM runners.jobs q
                WHERE EXISTS (SELECT 1 FROM me)
                  AND q.state = 'queued' AND q.labels <@ @labels::text[] AND q.executors && @executors::text[]
                ORDER BY q.fair_rank, q.enqueued_at, q.id
                LIMIT 1
                FOR UPDATE OF q SKIP LOCKED
            )
            UPDATE runners.jobs j
            SET state = 'leased', attempt = j.attempt + 1, runner_id = @runnerId, started_at = NULL,
                leased_at = clock_timestamp(),
                lease_expires_at = clock_timestamp() + make_interval(secs => @leaseSeconds)
            FROM next
            WHERE j.id = next.id
            RETURNING j.id AS JobId, j.attempt AS Attempt, j.execution_id AS ExecutionId, j.step_name AS StepName,
                      j.step_attempt AS StepAttempt, j.spec::text AS Spec, j.lease_expires_at AS LeaseExpiresAt,
                      (SELECT k FROM unnest(@executors::text[]) WITH ORDINALITY AS mine(k, o)
                       WHERE k = ANY(j.executors) ORDER BY o LIMIT 1) AS Executor;
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var results = await connection.QueryMultipleAsync(new CommandDefinition(sql,
            new { runnerId, labels = runner.Labels, executors = runner.Executors, leaseSeconds = leaseTimeout.TotalSeconds },
            cancellationToken: cancellationToken));
        // Draining: null when the runner is not live (replaced or revoked); the lease statement checks that again.
        var draining = (await results.ReadSingleAsync<RunnerState>()).Draining;
        var row = await results.ReadSingleOrDefaultAsync<LeaseRow>();
        return new LeaseAttempt(draining is not null, draining is true, row?.ToLease());
    }

    /// <summary>Serialises a runner's leases (see <see cref="TryLeaseAsync"/>), for the rest of the transaction.</summary>
    private const string LockRunner = "pg_advisory_xact_lock(7261003, hashtext(@runnerId::text))";

    /// <summary>Of <c>runners.runners r</c>: the runner may lease a job now (live, not draining, under its capacity).</summary>
    private const string RunnerMayLease = """
        r.id = @runnerId AND r.replaced_at IS NULL AND r.revoked_at IS NULL AND r.drain_requested_at IS NULL
        AND (SELECT count(*) FROM runners.jobs h WHERE h.runner_id = r.id AND h.state IN ('leased', 'running')) < r.capacity
        """;

    /// <summary>
    /// The statements that insert <paramref name="job"/> already leased to a runner, in the caller's transaction: for
    /// the Standalone host, whose decision after a runner's completion enqueues the next job in its own transaction, so
    /// the runner that asked for its next job gets it without a lease statement of its own. They lease only what the
    /// runner's own acquire would: the runner may lease now (<see cref="RunnerMayLease"/>, under its lock) and no queued
    /// job it could take comes first in the queue's order (a fair rank no higher than this job's). Otherwise they insert
    /// nothing, and <see cref="EnqueueCommand"/>, which must follow them, queues the job as usual.
    /// </summary>
    /// <returns>the statements; the last one's <c>RecordsAffected</c> is 1 once they granted the lease.</returns>
    public static IReadOnlyList<NpgsqlBatchCommand> LeaseOnEnqueueCommands(NewJob job, Guid runnerId, RunnerSelector runner,
        DateTimeOffset leaseExpiresAt)
    {
        var lockRunner = new NpgsqlBatchCommand($"SELECT {LockRunner}") { Parameters = { new("runnerId", runnerId) } };
        var insert = new NpgsqlBatchCommand($"""
            INSERT INTO runners.jobs (id, execution_id, step_name, step_attempt, spec, labels, executors, fair_rank,
                                      state, attempt, runner_id, leased_at, lease_expires_at)
            SELECT @id, @executionId, @stepName, @stepAttempt, @spec::jsonb, @labels, @executors, mine.rank,
                   'leased', 1, r.id, clock_timestamp(), @leaseExpiresAt
            FROM runners.runners r,
                 LATERAL (SELECT count(*)::int AS rank FROM runners.jobs a
                          WHERE a.execution_id = @executionId AND a.state IN ('queued', 'leased', 'running')) AS mine
            WHERE {RunnerMayLease}
              AND NOT EXISTS (SELECT 1 FROM runners.jobs q
                              WHERE q.state = 'queued' AND q.fair_rank <= mine.rank
                                AND q.labels <@ @runnerLabels AND q.executors && @runnerExecutors)
            ON CONFLICT (id) DO NOTHING
            """)
        {
            Parameters =
            {
                new("id", job.JobId), new("executionId", job.ExecutionId), new("stepName", job.StepName),
                new("stepAttempt", job.StepAttempt), new("spec", JobJson.Write(job.Spec)),
                new("labels", job.Spec.RunnerLabels.ToArray()), new("executors", job.Spec.AcceptedExecutors.ToArray()),
                new("runnerId", runnerId), new("leaseExpiresAt", leaseExpiresAt),
                new("runnerLabels", runner.Labels), new("runnerExecutors", runner.Executors),
            },
        };
        return [lockRunner, insert];
    }

    /// <summary>The labels and executor kinds of a registration (they never change: registering again makes a new
    /// one); null when there is no such runner.</summary>
    public async Task<RunnerSelector?> GetSelectorAsync(Guid runnerId, CancellationToken cancellationToken)
    {
        const string sql = "SELECT labels AS Labels, executors AS Executors FROM runners.runners WHERE id = @runnerId";
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<RunnerSelector>(
            new CommandDefinition(sql, new { runnerId }, cancellationToken: cancellationToken));
    }

    /// <summary>Puts a just-granted lease back (its call was cancelled before the runner could see it).</summary>
    public async Task ReleaseLeaseAsync(Guid jobId, int attempt, CancellationToken cancellationToken)
    {
        const string sql = $"""
            UPDATE runners.jobs SET state = 'queued', runner_id = NULL, leased_at = NULL, lease_expires_at = NULL
            WHERE id = @jobId AND attempt = @attempt AND state = 'leased';
            {NotifyJobs};
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(sql, new { jobId, attempt }, cancellationToken: cancellationToken));
    }

    public async Task<JobOwnership?> GetOwnershipAsync(IDbConnection connection, IDbTransaction? transaction, Guid jobId)
    {
        const string sql = """
            SELECT state AS State, attempt AS Attempt, runner_id AS RunnerId FROM runners.jobs WHERE id = @jobId
            """;
        var row = await connection.QuerySingleOrDefaultAsync<OwnershipRow>(sql, new { jobId }, transaction);
        return row is null ? null : new JobOwnership(JobStatuses.FromDb(row.State), row.Attempt, row.RunnerId);
    }

    /// <summary>
    /// Returns once everything committed so far is on disk: a commit that writes WAL (a transactional logical-decoding
    /// message, which nothing reads) waits for its flush, and WAL is flushed in order. For a report whose commit did not
    /// wait (<c>flushedLater</c>) when the commit that was to follow failed.
    /// </summary>
    public async Task AwaitFlushAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync(new CommandDefinition(
            "SELECT pg_logical_emit_message(true, 'platform', 'flush')", cancellationToken: cancellationToken));
    }

    /// <summary>
    /// leased → running for the lease the runner holds, and its <c>JobStarted</c> in the outbox, in one statement (one
    /// round trip, one implicit transaction); null when the runner does not hold the lease (nothing changes).
    /// </summary>
    /// <param name="started">The event serialized with placeholders for what only the statement knows (the job's
    /// execution, step and start time), which it fills in: the row's values replace those keys of the JSON.</param>
    /// <param name="startedAfterLease">how long after its lease the runner began running the job (null: now).</param>
    /// <param name="flushedLater">the caller's next commit waits for its WAL flush: this one need not.</param>
    public async Task<StartedRow?> StartAsync(Guid runnerId, Guid jobId, int attempt, TimeSpan leaseTimeout,
        TimeSpan? startedAfterLease, OutboxMessage started, bool flushedLater, CancellationToken cancellationToken)
    {
        const string sql = $"""
            WITH started AS (
                UPDATE runners.jobs
                SET state = 'running', started_at = {StartedAt},
                    lease_expires_at = clock_timestamp() + make_interval(secs => @leaseSeconds)
                WHERE id = @jobId AND attempt = @attempt AND runner_id = @runnerId AND state = 'leased'
                RETURNING execution_id, step_name, step_attempt, started_at
            ), event AS (
                INSERT INTO runners.outbox (message_id, message_type, payload)
                SELECT @messageId, @messageType, @payload::jsonb || jsonb_build_object(
                           'executionId', s.execution_id, 'stepName', s.step_name, 'stepAttempt', s.step_attempt,
                           'startedAt', s.started_at)
                FROM started s
                ON CONFLICT (message_id) DO NOTHING
            )
            SELECT execution_id AS ExecutionId, step_name AS StepName, step_attempt AS StepAttempt, started_at AS StartedAt
            FROM started {CommitMode}
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<StartedRow>(new CommandDefinition(sql,
            ReportParameters(runnerId, jobId, attempt, started,
                new { leaseSeconds = leaseTimeout.TotalSeconds, startedAfter = startedAfterLease?.TotalSeconds, flushedLater }),
            cancellationToken: cancellationToken));
    }

    /// <summary>
    /// Finishes the lease the runner holds, and puts its <c>JobFinished</c> in the outbox, in one statement (one round
    /// trip, one implicit transaction); null when the runner does not hold the lease (nothing changes). A job whose
    /// cancel was requested ends <c>cancelled</c> with the cancel reason as its error, whatever its exit code (kept,
    /// with the output, as the runner sent them).
    /// </summary>
    /// <param name="finished">The event serialized with placeholders for what only the statement knows (the job's
    /// execution, step, outcome, error and times), which it fills in: the row's values replace those keys of the JSON.
    /// </param>
    /// <param name="cancelledOutcome">The event's outcome when the job ends cancelled (the event's own otherwise).</param>
    /// <param name="flushedLater">the caller's next commit waits for its WAL flush: this one need not.</param>
    public async Task<FinishedRow?> FinishAsync(Guid runnerId, Guid jobId, int attempt, JobResult result,
        OutboxMessage finished, int cancelledOutcome, bool flushedLater, CancellationToken cancellationToken)
    {
        const string sql = $$"""
            WITH finished AS (
                UPDATE runners.jobs
                SET state = CASE WHEN cancel_requested_at IS NULL THEN @state ELSE 'cancelled' END,
                    started_at = CASE WHEN started_at IS NULL AND @startedAfter::double precision IS NOT NULL
                                      THEN {{StartedAt}} ELSE started_at END,
                    error = CASE WHEN cancel_requested_at IS NULL THEN @error ELSE cancel_reason END,
                    finished_at = clock_timestamp(), lease_expires_at = NULL, exit_code = @exitCode,
                    outputs = @outputs::jsonb, output_tail = @outputTail
                WHERE id = @jobId AND attempt = @attempt AND runner_id = @runnerId AND state IN ('leased', 'running')
                RETURNING execution_id, step_name, step_attempt, started_at, finished_at, state, error
            ), event AS (
                INSERT INTO runners.outbox (message_id, message_type, payload)
                SELECT @messageId, @messageType, @payload::jsonb || jsonb_build_object(
                           'executionId', f.execution_id, 'stepName', f.step_name, 'stepAttempt', f.step_attempt,
                           'startedAt', f.started_at, 'finishedAt', f.finished_at, 'error', NULLIF(f.error, ''))
                       || CASE WHEN f.state = 'cancelled' THEN jsonb_build_object('outcome', @cancelledOutcome)
                               ELSE '{}'::jsonb END
                FROM finished f
                ON CONFLICT (message_id) DO NOTHING
            )
            SELECT execution_id AS ExecutionId, step_name AS StepName, step_attempt AS StepAttempt,
                   started_at AS StartedAt, finished_at AS FinishedAt, state AS State, error AS Error
            FROM finished {{CommitMode}}
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<FinishedRow>(new CommandDefinition(sql,
            ReportParameters(runnerId, jobId, attempt, finished, new
            {
                state = result.Status.ToDb(),
                exitCode = result.ExitCode,
                outputs = JobJson.Write(result.Outputs),
                error = result.Error,
                outputTail = result.OutputTail,
                cancelledOutcome,
                startedAfter = result.StartedAfterLease?.TotalSeconds,
                flushedLater,
            }), cancellationToken: cancellationToken));
    }

    /// <summary>The parameters of a runner's report about its lease, with the event written with it.</summary>
    private static DynamicParameters ReportParameters(Guid runnerId, Guid jobId, int attempt, OutboxMessage message,
        object more)
    {
        var parameters = new DynamicParameters(more);
        parameters.AddDynamicParams(new
        {
            runnerId, jobId, attempt, messageId = message.MessageId, messageType = message.MessageType, payload = message.Payload,
        });
        return parameters;
    }

    /// <summary>Extends the leases of the listed jobs the runner still holds; returns those it holds, each with whether
    /// its cancel was requested.</summary>
    public async Task<IReadOnlyList<(JobRefKey Job, bool CancelRequested)>> ExtendLeasesAsync(NpgsqlConnection connection,
        Guid runnerId, IReadOnlyList<JobRefKey> jobs, TimeSpan leaseTimeout, CancellationToken cancellationToken)
    {
        if (jobs.Count == 0)
        {
            return [];
        }

        const string sql = """
            WITH held AS (
                SELECT h.id
                FROM runners.jobs h JOIN unnest(@jobIds::uuid[], @attempts::int[]) AS named(id, attempt)
                     ON h.id = named.id AND h.attempt = named.attempt
                WHERE h.runner_id = @runnerId AND h.state IN ('leased', 'running')
                ORDER BY h.id
                FOR UPDATE OF h -- in id order, as CancelJobs locks, so the two cannot deadlock
            )
            UPDATE runners.jobs j
            SET lease_expires_at = clock_timestamp() + make_interval(secs => @leaseSeconds)
            FROM held
            WHERE j.id = held.id
            RETURNING j.id AS JobId, j.attempt AS Attempt, j.cancel_requested_at IS NOT NULL AS CancelRequested
            """;
        var rows = await connection.QueryAsync<HeldRow>(new CommandDefinition(sql, new
        {
            runnerId,
            jobIds = jobs.Select(j => j.JobId).ToArray(),
            attempts = jobs.Select(j => j.Attempt).ToArray(),
            leaseSeconds = leaseTimeout.TotalSeconds,
        }, cancellationToken: cancellationToken));
        return rows.Select(r => (new JobRefKey(r.JobId, r.Attempt), r.CancelRequested)).ToList();
    }

    /// <summary>
    /// Of the jobs a runner says it runs, those it must stop: cancel requested, or not held by it at that attempt any
    /// more (finished, requeued, leased elsewhere, unknown). Primary-key lookups only.
    /// </summary>
    public async Task<IReadOnlyList<JobRefKey>> FindToStopAsync(Guid runnerId, IReadOnlyList<JobRefKey> jobs,
        CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT r.id AS JobId, r.attempt AS Attempt
            FROM unnest(@jobIds::uuid[], @attempts::int[]) AS r(id, attempt)
            LEFT JOIN runners.jobs j ON j.id = r.id
            WHERE j.id IS NULL OR j.attempt <> r.attempt OR j.runner_id IS DISTINCT FROM @runnerId
               OR j.state NOT IN ('leased', 'running') OR j.cancel_requested_at IS NOT NULL
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<JobRefRow>(new CommandDefinition(sql, new
        {
            runnerId,
            jobIds = jobs.Select(j => j.JobId).ToArray(),
            attempts = jobs.Select(j => j.Attempt).ToArray(),
        }, cancellationToken: cancellationToken));
        return rows.Select(r => new JobRefKey(r.JobId, r.Attempt)).ToList();
    }

    /// <summary>
    /// Cancels jobs, idempotently: queued ones end <c>cancelled</c> now (returned, for their events); leased and
    /// running ones get the cancel request recorded (the first reason stays) and the runners are notified; finished
    /// and unknown ones are left alone. The rows are locked in id order first, so overlapping calls cannot deadlock.
    /// </summary>
    public async Task<CancelOutcome> CancelAsync(IDbConnection connection, IDbTransaction transaction, Guid[] jobIds,
        string reason, CancellationToken cancellationToken)
    {
        const string sql = $"""
            SELECT id FROM runners.jobs WHERE id = ANY(@jobIds) ORDER BY id FOR UPDATE;

            UPDATE runners.jobs j
            SET state = 'cancelled', finished_at = clock_timestamp(), lease_expires_at = NULL, error = @reason
            WHERE j.id = ANY(@jobIds) AND j.state = 'queued'
            RETURNING {EndedColumns};

            UPDATE runners.jobs j
            SET cancel_requested_at = clock_timestamp(), cancel_reason = @reason
            WHERE j.id = ANY(@jobIds) AND j.state IN ('leased', 'running') AND j.cancel_requested_at IS NULL
            RETURNING j.id;
            """;
        List<EndedRow> ended;
        int requested;
        await using (var results = await connection.QueryMultipleAsync(new CommandDefinition(sql, new { jobIds, reason },
                         transaction, cancellationToken: cancellationToken)))
        {
            await results.ReadAsync<Guid>();
            ended = (await results.ReadAsync<EndedRow>()).AsList();
            requested = (await results.ReadAsync<Guid>()).Count();
        }

        if (requested > 0)
        {
            await connection.ExecuteAsync(new CommandDefinition(NotifyCancel, transaction: transaction,
                cancellationToken: cancellationToken));
        }

        if (ended.Count > 0)
        {
            await JobLogStore.NotifyAsync(connection, transaction); // the logs of the ended jobs are complete
        }

        return new CancelOutcome(ended, requested);
    }

    /// <summary>Releases the jobs held by the given (replaced) registrations (see <see cref="ReleaseHeld"/>): requeued
    /// ones get attempt + 1 at their next lease; cancel-requested ones end cancelled.</summary>
    public async Task<IReadOnlyList<EndedRow>> ReleaseHeldByAsync(IDbConnection connection, IDbTransaction transaction,
        Guid[] runnerIds)
    {
        const string sql = $"""
            WITH held AS (
                SELECT id FROM runners.jobs
                WHERE runner_id = ANY(@runnerIds) AND state IN ('leased', 'running')
                ORDER BY id
                FOR UPDATE -- in id order, as CancelJobs locks, so the two cannot deadlock
            )
            UPDATE runners.jobs j
            SET {ReleaseHeld}
            FROM held
            WHERE j.id = held.id
            RETURNING {EndedColumns}
            """;
        var released = (await connection.QueryAsync<EndedRow>(sql, new { runnerIds }, transaction)).AsList();
        await NotifyReleasedAsync(connection, transaction, released, CancellationToken.None);
        return released;
    }

    /// <summary>Releases up to <paramref name="batchSize"/> jobs whose lease lapsed (see <see cref="ReleaseHeld"/>).</summary>
    public async Task<IReadOnlyList<EndedRow>> ReleaseLapsedAsync(IDbConnection connection, IDbTransaction transaction,
        int batchSize, CancellationToken cancellationToken)
    {
        const string sql = $"""
            WITH lapsed AS (
                SELECT id FROM runners.jobs
                WHERE state IN ('leased', 'running') AND lease_expires_at <= clock_timestamp()
                ORDER BY lease_expires_at
                LIMIT @batchSize
                FOR UPDATE SKIP LOCKED
            )
            UPDATE runners.jobs j
            SET {ReleaseHeld}
            FROM lapsed
            WHERE j.id = lapsed.id
            RETURNING {EndedColumns}
            """;
        var released = (await connection.QueryAsync<EndedRow>(new CommandDefinition(sql, new { batchSize }, transaction,
            cancellationToken: cancellationToken))).AsList();
        await NotifyReleasedAsync(connection, transaction, released, cancellationToken);
        return released;
    }

    /// <summary>Requeued jobs wake the acquiring runners; every released job was taken from its runner, which must stop it;
    /// ended ones wake the followers of their logs.</summary>
    private static async Task NotifyReleasedAsync(IDbConnection connection, IDbTransaction transaction,
        IReadOnlyList<EndedRow> released, CancellationToken cancellationToken)
    {
        if (released.Count == 0)
        {
            return;
        }

        var sql = released.Any(r => r.Status == JobStatus.Queued) ? $"{NotifyJobs}; {NotifyCancel};" : NotifyCancel;
        if (released.Any(r => r.Status.IsFinished()))
        {
            sql += $"; {JobLogStore.NotifyLogs};"; // the logs of the ended jobs are complete
        }

        await connection.ExecuteAsync(new CommandDefinition(sql, transaction: transaction, cancellationToken: cancellationToken));
    }

    /// <summary>Time until the earliest lease lapses, by the database's clock (negative: already lapsed); null when
    /// no job is held.</summary>
    public async Task<TimeSpan?> TimeToNextLeaseExpiryAsync(CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT extract(epoch FROM min(lease_expires_at) - clock_timestamp())::float8
            FROM runners.jobs
            WHERE state IN ('leased', 'running')
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var seconds = await connection.ExecuteScalarAsync<double?>(new CommandDefinition(sql, cancellationToken: cancellationToken));
        return seconds is { } s ? TimeSpan.FromSeconds(s) : null;
    }

    public async Task<IReadOnlyList<JobView>> GetJobsAsync(Guid[] jobIds, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT id AS JobId, state AS State, attempt AS Attempt, runner_id AS RunnerId, exit_code AS ExitCode,
                   outputs::text AS Outputs, error AS Error, output_tail AS OutputTail, started_at AS StartedAt,
                   finished_at AS FinishedAt
            FROM runners.jobs
            WHERE id = ANY(@jobIds)
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<JobRow>(new CommandDefinition(sql, new { jobIds }, cancellationToken: cancellationToken));
        var byId = rows.ToDictionary(r => r.JobId);
        // In the order asked for; unknown ids are left out.
        return jobIds.Distinct().Where(byId.ContainsKey).Select(id => byId[id].ToView()).ToList();
    }

    /// <summary>For each of the queued jobs among <paramref name="jobIds"/>: its labels and executor kinds, the online
    /// runners (not draining) whose labels cover them, how many of those have one of its kinds, and how many of those
    /// have a free slot. One query.</summary>
    public async Task<IReadOnlyDictionary<Guid, string?>> QueueReasonsAsync(Guid[] jobIds, DateTimeOffset onlineSince,
        CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT j.id AS JobId, j.labels AS Labels, j.executors AS Executors,
                   count(r.id)::int AS WithLabels,
                   count(r.id) FILTER (WHERE r.executors && j.executors)::int AS Matching,
                   count(r.id) FILTER (WHERE r.executors && j.executors
                                         AND (SELECT count(*) FROM runners.jobs h
                                              WHERE h.runner_id = r.id AND h.state IN ('leased', 'running')) < r.capacity)::int AS Free
            FROM runners.jobs j
            LEFT JOIN runners.runners r
              ON r.labels @> j.labels AND r.replaced_at IS NULL AND r.revoked_at IS NULL AND r.drain_requested_at IS NULL
             AND r.last_heartbeat_at >= @onlineSince
            WHERE j.id = ANY(@jobIds) AND j.state = 'queued'
            GROUP BY j.id, j.labels, j.executors
            """;
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        var rows = await connection.QueryAsync<(Guid JobId, string[] Labels, string[] Executors, int WithLabels, int Matching, int Free)>(
            new CommandDefinition(sql, new { jobIds, onlineSince }, cancellationToken: cancellationToken));
        return rows.ToDictionary(r => r.JobId,
            r => QueueReasons.Explain(r.Labels, r.Executors, r.WithLabels, r.Matching, r.Free));
    }

    public async Task<JobResult?> GetResultAsync(IDbConnection connection, IDbTransaction? transaction, Guid jobId)
    {
        const string sql = """
            SELECT exit_code AS ExitCode, outputs::text AS Outputs, error AS Error, output_tail AS OutputTail
            FROM runners.jobs WHERE id = @jobId AND exit_code IS NOT NULL
            """;
        var row = await connection.QuerySingleOrDefaultAsync<ResultRow>(sql, new { jobId }, transaction);
        return row is null
            ? null
            : new JobResult(row.ExitCode, JobJson.ReadOutputs(row.Outputs), row.Error ?? "", row.OutputTail ?? "");
    }

    private static DateTimeOffset Utc(DateTime value) => RunnerStore.Utc(value);

    /// <summary>An event for the outbox: its deterministic id, type name and JSON (see <see cref="Outbox.Serialize{T}"/>).</summary>
    internal sealed record OutboxMessage(Guid MessageId, string MessageType, string Payload)
    {
        public static OutboxMessage Of<T>(Guid messageId, T message) where T : class
        {
            var (type, payload) = Outbox.Serialize(message);
            return new OutboxMessage(messageId, type, payload);
        }
    }

    internal sealed record LeaseAttempt(bool RunnerIsLive, bool Draining, GrantedLease? Lease);

    /// <summary>What a runner takes: jobs whose labels it has all of and that accept one of its executor kinds (in its
    /// order of preference). A class with properties: Dapper maps text[] columns only to properties.</summary>
    internal sealed class RunnerSelector
    {
        public string[] Labels { get; init; } = [];
        public string[] Executors { get; init; } = [];

        /// <summary>As the lease query decides it: every label of the job, and one of its kinds.</summary>
        public bool Takes(JobSpecification job) =>
            job.RunnerLabels.All(l => Labels.Contains(l, StringComparer.Ordinal))
            && job.AcceptedExecutors.Any(k => Executors.Contains(k, StringComparer.Ordinal));
    }

    internal sealed record StartedRow(Guid ExecutionId, string StepName, int StepAttempt, DateTime StartedAt)
    {
        public DateTimeOffset StartedAtUtc => Utc(StartedAt);
    }

    internal sealed record FinishedRow(Guid ExecutionId, string StepName, int StepAttempt, DateTime? StartedAt, DateTime FinishedAt,
        string State, string? Error)
    {
        public DateTimeOffset? StartedAtUtc => StartedAt is { } s ? Utc(s) : null;
        public DateTimeOffset FinishedAtUtc => Utc(FinishedAt);
        public JobStatus Status => JobStatuses.FromDb(State);
    }

    /// <summary>A job the registry itself moved out of leased/running or queued: requeued, or ended (cancelled).</summary>
    internal sealed record EndedRow(Guid JobId, string State, int Attempt, Guid ExecutionId, string StepName, int StepAttempt,
        Guid? RunnerId, DateTime? StartedAt, DateTime? FinishedAt, string? Error)
    {
        public JobStatus Status => JobStatuses.FromDb(State);
        public DateTimeOffset? StartedAtUtc => StartedAt is { } s ? Utc(s) : null;
        public DateTimeOffset FinishedAtUtc => FinishedAt is { } f ? Utc(f) : throw new InvalidOperationException("the job has not ended");
    }

    internal sealed record CancelOutcome(IReadOnlyList<EndedRow> Ended, int Requested);

    private sealed record LeaseRow(Guid JobId, int Attempt, Guid ExecutionId, string StepName, int StepAttempt, string Spec,
        DateTime LeaseExpiresAt, string Executor)
    {
        public GrantedLease ToLease() =>
            new(JobId, Attempt, ExecutionId, StepName, StepAttempt, JobJson.ReadSpec(Spec), Utc(LeaseExpiresAt), Executor);
    }

    /// <summary>A class with a property: Dapper maps it by name, ignoring the lock's and the setting's columns.</summary>
    private sealed class RunnerState
    {
        public bool? Draining { get; set; }
    }

    private sealed record OwnershipRow(string State, int Attempt, Guid? RunnerId);

    private sealed record HeldRow(Guid JobId, int Attempt, bool CancelRequested);

    private sealed record JobRefRow(Guid JobId, int Attempt);

    private sealed record ResultRow(int ExitCode, string? Outputs, string? Error, string? OutputTail);

    private sealed record JobRow(Guid JobId, string State, int Attempt, Guid? RunnerId, int? ExitCode, string? Outputs,
        string? Error, string? OutputTail, DateTime? StartedAt, DateTime? FinishedAt)
    {
        public JobView ToView() => new(JobId, JobStatuses.FromDb(State), Attempt, RunnerId, ExitCode,
            JobJson.ReadOutputs(Outputs), Error, OutputTail, StartedAt is { } s ? Utc(s) : null,
            FinishedAt is { } f ? Utc(f) : null);
    }
}

/// <summary>The JSON stored in <c>jobs.spec</c> and <c>jobs.outputs</c>.</summary>
internal static class JobJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    public static string Write(JobSpecification spec) => JsonSerializer.Serialize(new StoredSpec(
        spec.Command.ToArray(), spec.Image, new Dictionary<string, string>(spec.Env, StringComparer.Ordinal),
        spec.InputJson, spec.RunnerLabels.ToArray(), spec.Executor, spec.Resources == JobResources.None ? null : spec.Resources),
        Options);

    public static JobSpecification ReadSpec(string json)
    {
        var stored = JsonSerializer.Deserialize<StoredSpec>(json, Options)
                     ?? throw new InvalidOperationException("a job without a spec");
        return new JobSpecification(stored.Command ?? [], stored.Image ?? "", stored.Env ?? [], stored.InputJson ?? "",
            stored.RunnerLabels ?? [])
        {
            Executor = stored.Executor ?? "",
            Resources = stored.Resources ?? JobResources.None,
        };
    }

    public static string Write(IReadOnlyDictionary<string, string> outputs) => JsonSerializer.Serialize(outputs, Options);

    public static IReadOnlyDictionary<string, string> ReadOutputs(string? json) =>
        string.IsNullOrEmpty(json)
            ? new Dictionary<string, string>()
            : JsonSerializer.Deserialize<Dictionary<string, string>>(json, Options) ?? [];

    // Executor and resources came later: specs stored before them read back empty.
    private sealed record StoredSpec(
        string[]? Command, string? Image, Dictionary<string, string>? Env, string? InputJson, string[]? RunnerLabels,
        string? Executor = null, JobResources? Resources = null);
}
