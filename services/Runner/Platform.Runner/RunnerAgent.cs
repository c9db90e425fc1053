using System.Collections.Concurrent;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Platform.Protos.Runners.V1;
using Platform.Runner.Executors;
using AgentClient = Platform.Protos.Runners.V1.RunnerAgent.RunnerAgentClient;

namespace Platform.Runner;

/// <summary>
/// The runner agent, in the manner of actions/runner's listener: a session (Register, retried with jittered backoff
/// until the registry answers, fatal when it refuses), a heartbeat loop that keeps the leases alive, an acquire loop
/// holding one long poll at a time while there is free capacity, and — while any job runs — one AwaitCancellations
/// long poll naming the running jobs (re-issued whenever that set changes), so a cancelled job is killed within
/// moments. Each job is run by the executor, reported started once it has run for a moment (a shorter one only by its
/// completion, which then carries its start) and completed (reports retried on
/// transient errors); a job the registry told the runner to stop is killed and reported too (the registry ends it
/// cancelled, or refuses the report when the lease was no longer this runner's). On stop the agent drains: no more
/// acquiring, running jobs finish (bounded by <see cref="RunnerOptions.DrainTimeout"/>).
/// </summary>
public sealed class RunnerAgent
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ReportGiveUpAfter = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(30);

    /// <summary>How long a job runs before its start is reported (a shorter one is reported once, when it ends).</summary>
    public static readonly TimeSpan StartReportDelay = TimeSpan.FromMilliseconds(20);

    /// <summary>The error a job the registry told the runner to stop is reported with (the registry puts the cancel
    /// reason in its place).</summary>
    public const string CancelledError = "cancelled";

    /// <summary>The exit code reported for a job that did not run to an exit (the executor failed, or it was stopped
    /// before it started).</summary>
    public const int NotRunExitCode = -1;

    private readonly RunnerOptions options;
    private readonly IJobExecutor executor;
    private readonly ILogger<RunnerAgent> logger;
    private readonly TimeProvider time;
    private readonly ConcurrentDictionary<Guid, RunningJob> running = new();
    private readonly TaskCompletionSource<RunnerExit> completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource<string> registered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Pulse watchedJobsChanged = new();
    private int started;

    public RunnerAgent(RunnerOptions options, IJobExecutor executor, ILogger<RunnerAgent> logger, TimeProvider? time = null)
    {
        options.Validate();
        this.options = options;
        this.executor = executor;
        this.logger = logger;
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>Completes with the runner id once the registry accepted the registration.</summary>
    public Task<string> Registered => registered.Task;

    /// <summary>Completes when <see cref="RunAsync"/> ends, with why.</summary>
    public Task<RunnerExit> Completion => completion.Task;

    /// <summary>Jobs running now (leased to this runner and not yet completed).</summary>
    public int RunningJobs => running.Count;

    /// <summary>Runs the agent until <paramref name="stoppingToken"/> is cancelled (then drains) or it cannot go on.</summary>
    public async Task<RunnerExit> RunAsync(CancellationToken stoppingToken)
    {
        if (Interlocked.Exchange(ref started, 1) == 1)
        {
            throw new InvalidOperationException("a runner agent runs once");
        }

        try
        {
            var exit = await RunSessionAsync(stoppingToken);
            registered.TrySetCanceled(CancellationToken.None);
            completion.TrySetResult(exit);
            return exit;
        }
        catch (Exception ex)
        {
            registered.TrySetException(ex);
            completion.TrySetException(ex);
            throw;
        }
    }

    private async Task<RunnerExit> RunSessionAsync(CancellationToken stoppingToken)
    {
        using var channel = options.InProcessTransport is null
            ? GrpcChannel.ForAddress(options.Url!, new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                {
                    EnableMultipleHttp2Connections = true,
                    PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                    KeepAlivePingDelay = TimeSpan.FromSeconds(30),
                    KeepAlivePingTimeout = TimeSpan.FromSeconds(15),
                    ConnectTimeout = TimeSpan.FromSeconds(10),
                },
            })
            : null;
        var client = new AgentClient(options.InProcessTransport ?? channel!.CreateCallInvoker());

        var (session, refused) = await RegisterAsync(client, stoppingToken);
        if (session is null)
        {
            return refused ?? new RunnerExit(RunnerExitReason.Stopped, "stopped before registering");
        }

        using (session)
        {
            registered.TrySetResult(session.RunnerId);
            // Heartbeats and cancellations go on while draining: the running jobs keep their leases and can be cancelled.
            using var stopWatching = new CancellationTokenSource();
            var heartbeats = HeartbeatLoopAsync(session, stopWatching.Token);
            var cancellations = CancellationLoopAsync(session, stopWatching.Token);

            await AcquireLoopAsync(session, session.StopAcquiring);
            await DrainAsync(session);

            await stopWatching.CancelAsync();
            await Task.WhenAll(heartbeats, cancellations);
            return session.Fatal ?? (session.DrainRequested && !stoppingToken.IsCancellationRequested
                ? new RunnerExit(RunnerExitReason.Drained, "drained at the registry's request: every job finished")
                : new RunnerExit(RunnerExitReason.Stopped, "stopped after draining"));
        }
    }

    private async Task<(Session? Session, RunnerExit? Refused)> RegisterAsync(AgentClient client, CancellationToken stoppingToken)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(60));
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var token = string.IsNullOrWhiteSpace(options.Token) ? await options.TokenSource!(stoppingToken) : options.Token;
                var request = new RegisterRunnerRequest
                {
                    RegistrationToken = token,
                    Name = options.Name,
                    Capacity = options.Capacity,
                    Executor = options.Executor,
                    Version = options.Version,
                };
                request.Labels.AddRange(options.Labels);
                var response = await client.RegisterAsync(request, deadline: Deadline(CallTimeout),
                    cancellationToken: stoppingToken);
                logger.LogInformation(
                    "Registered with {Url} as runner {Name} ({RunnerId}): labels [{Labels}], capacity {Capacity}, executor {Executor}",
                    RegistryAddress, options.Name, response.RunnerId, string.Join(",", options.Labels), options.Capacity,
                    options.Executor);
                return (new Session(client, response, options.Capacity, stoppingToken), null);
            }
            catch (Exception ex) when (stoppingToken.IsCancellationRequested && ex is OperationCanceledException or RpcException)
            {
                break;
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.Unauthenticated or StatusCode.PermissionDenied
                                              or StatusCode.InvalidArgument or StatusCode.FailedPrecondition)
            {
                var message = $"Runner-Registry at {RegistryAddress} refused to register runner '{options.Name}': {ex.Status.Detail}";
                logger.LogCritical("{Message}", message);
                return (null, new RunnerExit(RunnerExitReason.RegistrationRefused, message));
            }
            catch (Exception ex)
            {
                var delay = backoff.Next();
                logger.LogWarning("Cannot register with {Url} yet ({Reason}); retrying in {Delay:0.0} s",
                    RegistryAddress, Describe(ex), delay.TotalSeconds);
                await Task.Delay(delay, time, stoppingToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }

        return (null, null);
    }

    private async Task HeartbeatLoopAsync(Session session, CancellationToken stop)
    {
        var failures = 0;
        // Heartbeats go on while draining (they keep the running jobs' leases); only a rejected credential ends them early.
        while (!stop.IsCancellationRequested && session.Fatal is null)
        {
            // A little early rather than late, and not in step with other runners.
            var interval = session.HeartbeatInterval * (0.8 + (Random.Shared.NextDouble() * 0.2));
            await Task.Delay(interval, time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (stop.IsCancellationRequested)
            {
                break;
            }

            var request = new HeartbeatRequest();
            request.Running.AddRange(running.Values.Select(j => new JobRef { JobId = j.JobId.ToString(), Attempt = j.Attempt }));
            try
            {
                var response = await session.Client.HeartbeatAsync(request, session.Headers,
                    Deadline(Max(session.HeartbeatInterval * 2, TimeSpan.FromSeconds(5))), stop);
                if (failures > 0)
                {
                    logger.LogInformation("Heartbeats reach the registry again after {Failures} failure(s)", failures);
                    failures = 0;
                }

                // Normally AwaitCancellations has said so already; this catches what it missed (e.g. while it failed).
                StopJobsTheRegistryNamed(response.Cancel);

                DrainIfAsked(session, response.Drain);
            }
            catch (Exception ex) when (stop.IsCancellationRequested && ex is OperationCanceledException or RpcException)
            {
                break;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unauthenticated)
            {
                Fail(session, ex);
                break;
            }
            catch (RpcException ex)
            {
                failures++;
                if (failures == 1)
                {
                    logger.LogWarning("Heartbeat failed ({Reason}); retrying every {Interval}", Describe(ex), session.HeartbeatInterval);
                }
            }
        }
    }

    /// <summary>
    /// How long a job runs before an AwaitCancellations call watches it. Most steps end sooner: watching every job from
    /// its start re-issued the call (and the registry's look at the jobs) twice per job. A cancel requested in a job's
    /// first moments still reaches the runner at most this much later, when the job comes under watch.
    /// </summary>
    private static readonly TimeSpan WatchJobsAfter = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// While jobs run, holds one AwaitCancellations long poll naming those that have run for
    /// <see cref="WatchJobsAfter"/>; when that set changes (a job comes under watch, ends or is being stopped) the
    /// outstanding call is cancelled and a new one issued. The jobs an answer names are killed and reported.
    /// </summary>
    private async Task CancellationLoopAsync(Session session, CancellationToken stop)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        var wait = TimeSpan.FromSeconds(options.AcquireWaitSeconds);
        while (!stop.IsCancellationRequested && session.Fatal is null)
        {
            // Taken before looking at the jobs, so a change in between re-issues the call.
            var changed = watchedJobsChanged.Next;
            var (watched, nextDue) = JobsToWatch();
            if (watched.Count == 0)
            {
                await WhenChangedOrDueAsync(changed, nextDue, stop);
                continue;
            }

            var request = new AwaitCancellationsRequest { WaitSeconds = options.AcquireWaitSeconds };
            request.Running.AddRange(watched.Select(j => new JobRef { JobId = j.JobId.ToString(), Attempt = j.Attempt }));
            using var call = CancellationTokenSource.CreateLinkedTokenSource(stop);
            try
            {
                var pending = session.Client.AwaitCancellationsAsync(request, session.Headers, Deadline(wait + CallTimeout),
                    call.Token).ResponseAsync;
                while (!pending.IsCompleted)
                {
                    var waiting = WhenChangedOrDueAsync(changed, nextDue, call.Token);
                    if (await Task.WhenAny(pending, waiting) == pending)
                    {
                        break;
                    }

                    changed = watchedJobsChanged.Next;
                    (var now, nextDue) = JobsToWatch();
                    if (!now.Select(j => j.JobId).SequenceEqual(watched.Select(j => j.JobId)))
                    {
                        await call.CancelAsync(); // a job to watch came or went: ask again about the new set
                        break;
                    }
                }

                AwaitCancellationsResponse response;
                try
                {
                    response = await pending;
                }
                catch (Exception ex) when (ex is RpcException { StatusCode: StatusCode.Cancelled } or OperationCanceledException
                                           && call.IsCancellationRequested && !stop.IsCancellationRequested)
                {
                    continue; // the jobs to watch changed: ask again about the new set
                }

                backoff.Reset();
                StopJobsTheRegistryNamed(response.Cancel);
            }
            catch (Exception ex) when (stop.IsCancellationRequested && ex is OperationCanceledException or RpcException)
            {
                break;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unauthenticated)
            {
                Fail(session, ex);
                break;
            }
            catch (RpcException ex)
            {
                var delay = backoff.Next();
                logger.LogWarning("Waiting for cancellations failed ({Reason}); retrying in {Delay:0.0} s (heartbeats still carry them)",
                    Describe(ex), delay.TotalSeconds);
                await Task.Delay(delay, time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    /// <summary>The jobs AwaitCancellations watches now (in a stable order), and when the next running job comes
    /// under watch (null when none is waiting for that).</summary>
    private (List<RunningJob> Watched, TimeSpan? NextDue) JobsToWatch()
    {
        var watched = new List<RunningJob>();
        TimeSpan? nextDue = null;
        foreach (var job in running.Values)
        {
            if (!job.Watched)
            {
                continue;
            }

            var left = WatchJobsAfter - time.GetElapsedTime(job.LeaseReceivedAt);
            if (left <= TimeSpan.Zero)
            {
                watched.Add(job);
            }
            else if (nextDue is null || left < nextDue)
            {
                nextDue = left;
            }
        }

        watched.Sort((a, b) => a.JobId.CompareTo(b.JobId));
        return (watched, nextDue);
    }

    /// <summary>Completes when the jobs changed, when <paramref name="due"/> has passed (if given), or when
    /// <paramref name="cancellation"/> is cancelled; never faults.</summary>
    private async Task WhenChangedOrDueAsync(Task changed, TimeSpan? due, CancellationToken cancellation)
    {
        if (due is not { } delay)
        {
            await changed.WaitAsync(cancellation).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            return;
        }

        await changed.WaitAsync(delay, time, cancellation).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    /// <summary>
    /// Kills the jobs the registry named (cancelled, or no longer this runner's — the answer does not say which) and
    /// reports them: the registry ends a cancelled job cancelled and refuses the report of a lease that is not this
    /// runner's any more, so reporting is right in both cases.
    /// </summary>
    private void StopJobsTheRegistryNamed(IEnumerable<JobRef> jobs)
    {
        foreach (var named in jobs)
        {
            if (Guid.TryParse(named.JobId, out var jobId) && running.TryGetValue(jobId, out var job)
                                                            && job.Attempt == named.Attempt && job.Watched
                                                            && job.Stop(CancelledError, report: true, byRegistry: true))
            {
                logger.LogWarning("Stopping job {JobId} attempt {Attempt}: the registry cancelled it (or no longer leases it to this runner)",
                    jobId, named.Attempt);
            }
        }
    }

    private async Task AcquireLoopAsync(Session session, CancellationToken stop)
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await session.Slots.WaitAsync(stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            var slotTaken = false;
            try
            {
                var response = await session.Client.AcquireJobAsync(
                    new AcquireJobRequest { WaitSeconds = options.AcquireWaitSeconds }, session.Headers,
                    Deadline(TimeSpan.FromSeconds(options.AcquireWaitSeconds) + CallTimeout), stop);
                backoff.Reset();
                if (response.Job is { } lease)
                {
                    StartJob(session, lease);
                    slotTaken = true;
                }

                DrainIfAsked(session, response.Drain);
            }
            catch (Exception ex) when (stop.IsCancellationRequested && ex is OperationCanceledException or RpcException)
            {
                break;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unauthenticated)
            {
                Fail(session, ex);
                break;
            }
            catch (RpcException ex)
            {
                var delay = backoff.Next();
                logger.LogWarning("Asking for a job failed ({Reason}); retrying in {Delay:0.0} s", Describe(ex), delay.TotalSeconds);
                await Task.Delay(delay, time, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            finally
            {
                if (!slotTaken)
                {
                    session.Slots.Release();
                }
            }
        }
    }

    private void StartJob(Session session, JobLease lease)
    {
        var job = new RunningJob(Guid.Parse(lease.JobId), lease.Attempt, watchedJobsChanged) { LeaseReceivedAt = time.GetTimestamp() };
        running[job.JobId] = job;
        watchedJobsChanged.Fire();
        logger.LogInformation("Leased job {JobId} attempt {Attempt}: step '{Step}' of execution {ExecutionId}",
            job.JobId, job.Attempt, lease.StepName, lease.ExecutionId);
        job.Completion = Task.Run(() => RunJobAsync(session, lease, job));
    }

    private async Task RunJobAsync(Session session, JobLease lease, RunningJob job)
    {
        var logs = new JobLogSender(lease.Attempt, batch => SendLogsAsync(session, lease, job, batch), time);
        JobLease? next = null;
        logs.Start();
        try
        {
            JobRunResult result;
            Duration? unreportedStart = null;
            if (job.StopToken.IsCancellationRequested)
            {
                // Stopped before it ran (e.g. cancelled right after the lease): nothing to kill, only to report.
                result = new JobRunResult(NotRunExitCode, new Dictionary<string, string>(), "", "");
            }
            else
            {
                var startedAfterLease = Duration.FromTimeSpan(time.GetElapsedTime(job.LeaseReceivedAt));
                var run = RunExecutorAsync(lease, job, logs);
                // The start is reported only once the job has run for StartReportDelay: a job that ends sooner is
                // reported once, by its completion, which carries its start. On short steps the separate report (a
                // transaction in the registry and one in Execution, racing the job's end) cost more than the step.
                // A refused start stops the job.
                if (await Task.WhenAny(run, Task.Delay(StartReportDelay, time)) != run)
                {
                    var reported = await ReportAsync(session, job, "report the start of",
                        ct => session.Client.ReportJobStartedAsync(
                            new ReportJobStartedRequest { JobId = lease.JobId, Attempt = lease.Attempt, StartedAfterLease = startedAfterLease },
                            session.Headers, Deadline(CallTimeout), ct).ResponseAsync);
                    if (!reported)
                    {
                        job.Stop("the registry refused the start of the job", report: false);
                        await run;
                        return;
                    }
                }
                else
                {
                    unreportedStart = startedAfterLease;
                }

                result = await run;
            }

            job.MarkFinishing();
            // Every line is sent before the job's end is reported: followers of the log see it complete.
            await logs.CompleteAsync();

            if (job.StopReason is { } reason)
            {
                if (!job.ReportAfterStop)
                {
                    logger.LogWarning("Job {JobId} attempt {Attempt} stopped: {Reason}", job.JobId, job.Attempt, reason);
                    return;
                }

                result = result with { Error = reason };
            }

            logger.LogInformation("Job {JobId} attempt {Attempt} ended with exit code {ExitCode}{Error}",
                job.JobId, job.Attempt, result.ExitCode, result.Error.Length > 0 ? ": " + result.Error : "");
            var complete = new CompleteJobRequest
            {
                JobId = lease.JobId,
                Attempt = lease.Attempt,
                ExitCode = result.ExitCode,
                Error = result.Error,
                OutputTail = result.OutputTail,
                StartedAfterLease = unreportedStart,
            };
            foreach (var (key, value) in result.Outputs)
            {
                complete.Outputs[key] = value;
            }

            // While the runner takes jobs, the completion also asks for the next one: the slot goes straight to it.
            complete.AcquireNext = !session.StopAcquiring.IsCancellationRequested;
            CompleteJobResponse? completed = null;
            await ReportAsync(session, job, "complete", async ct =>
                completed = await session.Client.CompleteJobAsync(complete, session.Headers, Deadline(CallTimeout), ct));
            if (completed is not null)
            {
                DrainIfAsked(session, completed.Drain);
                next = completed.Next;
            }
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Running job {JobId} attempt {Attempt} failed in the runner", job.JobId, job.Attempt);
        }
        finally
        {
            await logs.CompleteAsync();
            if (logs.Dropped > 0)
            {
                logger.LogWarning("{Dropped} log line(s) of job {JobId} attempt {Attempt} were not sent", logs.Dropped,
                    job.JobId, job.Attempt);
            }

            running.TryRemove(job.JobId, out _);
            watchedJobsChanged.Fire();
            job.Dispose();
            if (next is not null)
            {
                StartJob(session, next); // it keeps this job's slot
            }
            else
            {
                session.Slots.Release();
            }
        }
    }

    private async Task<JobRunResult> RunExecutorAsync(JobLease lease, RunningJob job, IJobLogSink logs)
    {
        try
        {
            return await executor.RunAsync(ToRunnerJob(lease), logs, job.StopToken);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "The executor failed on job {JobId} attempt {Attempt}", job.JobId, job.Attempt);
            return new JobRunResult(NotRunExitCode, new Dictionary<string, string>(),
                $"the runner failed to run the job: {ex.Message}", "");
        }
    }

    /// <summary>Sends one batch of a job's log lines (idempotent by their sequence, so retrying is safe). A refusal
    /// stops the job's logs only: whether the job goes on is for its reports and cancellations to decide.</summary>
    private Task<bool> SendLogsAsync(Session session, JobLease lease, RunningJob job, IReadOnlyList<LogLine> batch)
    {
        var request = new AppendJobLogsRequest { JobId = lease.JobId, Attempt = lease.Attempt };
        request.Lines.AddRange(batch);
        return ReportAsync(session, job, "send the logs of",
            ct => session.Client.AppendJobLogsAsync(request, session.Headers, Deadline(CallTimeout), ct).ResponseAsync,
            stopJobWhenRefused: false);
    }

    /// <summary>Sends a report about a job, retrying transient failures with jittered backoff.</summary>
    /// <returns>false when the report was refused or given up (the job is no longer this runner's to report).</returns>
    private async Task<bool> ReportAsync(Session session, RunningJob job, string what, Func<CancellationToken, Task> call,
        bool stopJobWhenRefused = true)
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10));
        var giveUpAt = time.GetUtcNow() + ReportGiveUpAfter;
        while (true)
        {
            if (job.StopReason is not null && !job.ReportAfterStop)
            {
                return false;
            }

            try
            {
                await call(session.HardStop);
                return true;
            }
            catch (Exception ex) when (session.HardStop.IsCancellationRequested && ex is OperationCanceledException or RpcException)
            {
                logger.LogError("Gave up trying to {What} job {JobId} attempt {Attempt}: the runner is stopping", what, job.JobId, job.Attempt);
                return false;
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Unauthenticated)
            {
                Fail(session, ex);
                return false;
            }
            catch (RpcException ex) when (!IsTransient(ex.StatusCode))
            {
                if (job.StoppedByRegistry)
                {
                    // Expected when the registry took the job away (lease lapsed, job requeued): it is not ours to report.
                    logger.LogInformation("Job {JobId} attempt {Attempt} is no longer this runner's; its report was refused: {Reason}",
                        job.JobId, job.Attempt, Describe(ex));
                    return false;
                }

                logger.LogWarning("The registry refused to {What} job {JobId} attempt {Attempt}: {Reason}",
                    what, job.JobId, job.Attempt, Describe(ex));
                if (stopJobWhenRefused)
                {
                    job.Stop("the registry refused a report about the job", report: false);
                }

                return false;
            }
            catch (RpcException ex)
            {
                if (time.GetUtcNow() >= giveUpAt)
                {
                    logger.LogError("Gave up trying to {What} job {JobId} attempt {Attempt} after {Duration}: {Reason}",
                        what, job.JobId, job.Attempt, ReportGiveUpAfter, Describe(ex));
                    return false;
                }

                var delay = backoff.Next();
                logger.LogWarning("Could not {What} job {JobId} attempt {Attempt} ({Reason}); retrying in {Delay:0.0} s",
                    what, job.JobId, job.Attempt, Describe(ex), delay.TotalSeconds);
                await Task.Delay(delay, time, session.HardStop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private async Task DrainAsync(Session session)
    {
        var jobs = running.Values.ToList();
        if (jobs.Count > 0 && session.Fatal is null)
        {
            logger.LogInformation("Draining: waiting up to {Timeout} for {Count} running job(s) to finish",
                options.DrainTimeout, jobs.Count);
            try
            {
                // Until none runs: a completion sent before the drain began may have handed its slot to a next job.
                var deadline = time.GetUtcNow() + options.DrainTimeout;
                while (jobs.Count > 0)
                {
                    await Task.WhenAll(jobs.Select(j => j.Completion)).WaitAsync(Max(deadline - time.GetUtcNow(), TimeSpan.Zero), time);
                    jobs = running.Values.ToList();
                }
            }
            catch (TimeoutException)
            {
                logger.LogWarning("Drain timeout: stopping {Count} job(s) that are still running", RunningJobs);
                foreach (var job in running.Values)
                {
                    job.Stop("the runner shut down before the job finished (drain timeout)", report: true);
                }
            }
        }

        jobs = running.Values.ToList();
        if (jobs.Count == 0)
        {
            return;
        }

        session.HardStopAfter(StopGrace);
        try
        {
            await Task.WhenAll(jobs.Select(j => j.Completion)).WaitAsync(StopGrace + TimeSpan.FromSeconds(5), time);
        }
        catch (TimeoutException)
        {
            logger.LogError("{Count} job(s) did not stop in time", RunningJobs);
        }
    }

    private void DrainIfAsked(Session session, bool drain)
    {
        if (drain && session.RequestDrain())
        {
            logger.LogInformation("The registry asked this runner to drain: finishing running jobs, taking no new ones");
        }
    }

    private void Fail(Session session, RpcException ex)
    {
        var message = $"Runner-Registry at {RegistryAddress} rejected the credential of runner '{options.Name}' " +
                      $"({ex.Status.Detail}); another runner has probably registered with the same name";
        if (!session.TryFail(new RunnerExit(RunnerExitReason.CredentialRejected, message)))
        {
            return;
        }

        logger.LogCritical("{Message}", message);
        foreach (var job in running.Values)
        {
            job.Stop("the runner's credential was rejected", report: false);
        }
    }

    private static RunnerJob ToRunnerJob(JobLease lease) => new(
        Guid.Parse(lease.JobId),
        lease.Attempt,
        Guid.TryParse(lease.ExecutionId, out var executionId) ? executionId : Guid.Empty,
        lease.StepName,
        lease.StepAttempt,
        lease.Spec?.Command.ToArray() ?? [],
        lease.Spec?.Image ?? "",
        lease.Spec?.Env.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal) ?? [],
        lease.Spec?.InputJson ?? "")
    {
        Executor = lease.Executor,
        Resources = lease.Spec?.Resources is { } r
            ? new JobResourceLimits(r.CpuRequest, r.CpuLimit, r.MemoryRequest, r.MemoryLimit)
            : JobResourceLimits.None,
    };

    private static bool IsTransient(StatusCode code) => code is StatusCode.Unavailable or StatusCode.DeadlineExceeded
        or StatusCode.Internal or StatusCode.Unknown or StatusCode.ResourceExhausted or StatusCode.Aborted
        or StatusCode.Cancelled;

    private static string Describe(Exception ex) => ex switch
    {
        RpcException rpc => $"{rpc.StatusCode}: {rpc.Status.Detail}",
        _ => ex.Message,
    };

    private string RegistryAddress => options.Url?.ToString() ?? "this host (in process)";

    private DateTime Deadline(TimeSpan timeout) => time.GetUtcNow().UtcDateTime + timeout;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>One registration: its credential, intervals, capacity slots and how it may end.</summary>
    private sealed class Session : IDisposable
    {
        private readonly CancellationTokenSource ending = new();
        private readonly CancellationTokenSource hardStop = new();
        private readonly CancellationTokenSource stopAcquiring;
        private RunnerExit? fatal;
        private int drainRequested;

        /// <param name="stopping">the runner's stop (it then drains).</param>
        public Session(AgentClient client, RegisterRunnerResponse registration, int capacity, CancellationToken stopping)
        {
            Client = client;
            RunnerId = registration.RunnerId;
            Headers = new Metadata { { "authorization", "Bearer " + registration.Credential } };
            HeartbeatInterval = TimeSpan.FromSeconds(Math.Max(1, registration.HeartbeatIntervalSeconds));
            Slots = new SemaphoreSlim(capacity, capacity);
            stopAcquiring = CancellationTokenSource.CreateLinkedTokenSource(stopping, ending.Token);
        }

        public AgentClient Client { get; }
        public string RunnerId { get; }
        public Metadata Headers { get; }
        public TimeSpan HeartbeatInterval { get; }
        public SemaphoreSlim Slots { get; }

        /// <summary>Cancelled when the runner takes no more jobs: it is stopping, or <see cref="Ending"/>.</summary>
        public CancellationToken StopAcquiring => stopAcquiring.Token;

        /// <summary>Cancelled when the session cannot go on or the registry asked for a drain: stop acquiring.</summary>
        public CancellationToken Ending => ending.Token;

        /// <summary>Cancelled when even reports must stop (after the drain's grace period).</summary>
        public CancellationToken HardStop => hardStop.Token;

        public RunnerExit? Fatal => Volatile.Read(ref fatal);

        public bool TryFail(RunnerExit exit)
        {
            if (Interlocked.CompareExchange(ref fatal, exit, null) is not null)
            {
                return false;
            }

            ending.Cancel();
            return true;
        }

        public bool DrainRequested => Volatile.Read(ref drainRequested) == 1;

        public bool RequestDrain()
        {
            if (Interlocked.Exchange(ref drainRequested, 1) == 1)
            {
                return false;
            }

            ending.Cancel();
            return true;
        }

        public void HardStopAfter(TimeSpan delay) => hardStop.CancelAfter(delay);

        public void Dispose()
        {
            stopAcquiring.Dispose();
            ending.Dispose();
            hardStop.Dispose();
            Slots.Dispose();
        }
    }

    /// <summary>A job this runner holds, and how to stop it.</summary>
    private sealed class RunningJob(Guid jobId, int attempt, Pulse watchedJobsChanged) : IDisposable
    {
        private readonly CancellationTokenSource stop = new();
        private string? stopReason;
        private volatile bool finishing;

        public Guid JobId { get; } = jobId;
        public int Attempt { get; } = attempt;
        public Task Completion { get; set; } = Task.CompletedTask;

        /// <summary>When the lease reached this runner (<see cref="TimeProvider.GetTimestamp"/>).</summary>
        public long LeaseReceivedAt { get; init; }
        public CancellationToken StopToken => stop.Token;
        public string? StopReason => Volatile.Read(ref stopReason);

        /// <summary>Whether the result of a stopped job is still reported (true when the runner itself stopped it).</summary>
        public bool ReportAfterStop { get; private set; }

        /// <summary>Stopped because the registry said so (cancelled, or no longer this runner's).</summary>
        public bool StoppedByRegistry { get; private set; }

        /// <summary>Whether AwaitCancellations watches the job: it runs, and nothing is stopping or reporting it yet.</summary>
        public bool Watched => StopReason is null && !finishing;

        /// <returns>true when this was the first stop (the one whose reason and reporting count).</returns>
        public bool Stop(string reason, bool report, bool byRegistry = false)
        {
            var first = Interlocked.CompareExchange(ref stopReason, reason, null) is null;
            if (first)
            {
                ReportAfterStop = report;
                StoppedByRegistry = byRegistry;
                watchedJobsChanged.Fire();
            }

            try
            {
                stop.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // Already finished.
            }

            return first;
        }

        /// <summary>The executor is done with the job; only its report remains.</summary>
        public void MarkFinishing()
        {
            finishing = true;
            watchedJobsChanged.Fire();
        }

        public void Dispose() => stop.Dispose();
    }

    /// <summary>A broadcast wake-up: take <see cref="Next"/> before looking, then await it; a fire in between is never lost.</summary>
    private sealed class Pulse
    {
        private TaskCompletionSource current = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Next => Volatile.Read(ref current).Task;

        public void Fire() =>
            Interlocked.Exchange(ref current, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously))
                .TrySetResult();
    }
}
