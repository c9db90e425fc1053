using System.Diagnostics;
using Grpc.Core;
using Platform.BuildingBlocks;
using Platform.Protos.Runners.V1;
using Platform.RunnerRegistry.Contracts;
using Xunit.Abstractions;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

public sealed class JobQueueTests(RegistryFixture f, ITestOutputHelper output) : IClassFixture<RegistryFixture>
{
    [Fact]
    public async Task A_job_enqueued_while_a_runner_waits_is_handed_to_its_long_poll_within_milliseconds()
    {
        var label = Unique("fast");
        var runner = await f.RegisterAsync([label], capacity: 100);
        await f.EnqueueAsync([label]); // warm up connections and plans
        Assert.NotNull(await f.AcquireAsync(runner));

        var latencies = new List<double>();
        for (var i = 0; i < 25; i++)
        {
            using var poll = f.Agent.AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 30 }, runner.Headers);
            await Task.Delay(30);
            Assert.False(poll.ResponseAsync.IsCompleted, "the long poll answered before any job was queued");

            var clock = Stopwatch.StartNew();
            var jobId = await f.EnqueueAsync([label]);
            var response = await poll.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(10));
            latencies.Add(clock.Elapsed.TotalMilliseconds);

            Assert.Equal(jobId, response.Job.JobId);
        }

        latencies.Sort();
        var median = latencies[latencies.Count / 2];
        var p95 = latencies[(int)(latencies.Count * 0.95)];
        output.WriteLine($"enqueue → lease at the waiting runner: median {median:0.0} ms, p95 {p95:0.0} ms, max {latencies[^1]:0.0} ms");
        Assert.True(median < 50, $"median dispatch latency {median:0.0} ms");
        Assert.True(latencies[^1] < 500, $"max dispatch latency {latencies[^1]:0.0} ms (the wait was 30 s)");
    }

    [Fact]
    public async Task A_job_queued_by_another_replica_wakes_the_long_poll_through_NOTIFY()
    {
        var label = Unique("notify");
        var runner = await f.RegisterAsync([label]);
        using var poll = f.Agent.AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 30 }, runner.Headers);
        await Task.Delay(100);

        var clock = Stopwatch.StartNew();
        var jobId = Guid.NewGuid();
        // What another replica's EnqueueJobs does: no in-process wake-up here, only the NOTIFY.
        await f.ExecuteSqlAsync("""
            INSERT INTO runners.jobs (id, execution_id, step_name, step_attempt, spec, labels)
            VALUES (@jobId, gen_random_uuid(), 'elsewhere', 1, '{"command":["true"]}', @labels);
            SELECT pg_notify('runners_jobs', '');
            """, new { jobId, labels = new[] { label } });
        var response = await poll.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(10));

        output.WriteLine($"NOTIFY → lease: {clock.Elapsed.TotalMilliseconds:0.0} ms");
        Assert.Equal(jobId.ToString(), response.Job.JobId);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task A_long_poll_without_a_job_answers_empty_when_its_wait_ends()
    {
        var runner = await f.RegisterAsync([Unique("empty")]);
        var clock = Stopwatch.StartNew();

        var lease = await f.AcquireAsync(runner, waitSeconds: 1);

        Assert.Null(lease);
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.9, 5);
    }

    [Fact]
    public async Task A_runner_takes_a_job_only_when_it_has_all_of_the_job_labels()
    {
        var label = Unique("os");
        var other = Unique("gpu");
        var runner = await f.RegisterAsync([label, "x64"], token: await f.CreateTokenAsync(["team-a"]));
        var needsGpu = await f.EnqueueAsync([label, other]);
        var fits = await f.EnqueueAsync([label, "team-a"]);

        var lease = await f.AcquireAsync(runner);
        var none = await f.AcquireAsync(await f.RegisterAsync([label, "x64", "team-a"], name: Unique("second")), waitSeconds: 1);
        var gpuRunner = await f.RegisterAsync([label, other, "more"]);
        var gpuLease = await f.AcquireAsync(gpuRunner);

        Assert.Equal(fits, lease?.JobId);
        Assert.Null(none);
        Assert.Equal(needsGpu, gpuLease?.JobId);
    }

    [Fact]
    public async Task A_runner_holding_as_many_jobs_as_its_capacity_gets_no_more_until_one_completes()
    {
        var label = Unique("cap");
        var runner = await f.RegisterAsync([label], capacity: 1);
        var first = await f.EnqueueAsync([label]);
        var second = await f.EnqueueAsync([label]);

        var lease = await f.AcquireAsync(runner);
        var refused = await f.AcquireAsync(runner, waitSeconds: 1);
        await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = first, Attempt = lease!.Attempt, ExitCode = 0 }, runner.Headers);
        var next = await f.AcquireAsync(runner);

        Assert.Equal(first, lease.JobId);
        Assert.Null(refused);
        Assert.Equal(second, next?.JobId);
    }

    [Fact]
    public async Task Jobs_are_leased_oldest_first_and_each_to_one_runner()
    {
        var label = Unique("order");
        var jobs = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            jobs.Add(await f.EnqueueAsync([label]));
        }

        var runners = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => f.RegisterAsync([label])));
        var leases = await Task.WhenAll(runners.Select(r => f.AcquireAsync(r)));

        Assert.Equal(jobs.Order(), leases.Select(l => l!.JobId).Order());
        var sequential = await f.RegisterAsync([label], capacity: 5);
        var more = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            more.Add(await f.EnqueueAsync([label]));
        }

        foreach (var expected in more)
        {
            Assert.Equal(expected, (await f.AcquireAsync(sequential))?.JobId);
        }
    }

    [Fact]
    public async Task Enqueueing_the_same_job_id_twice_keeps_the_first_job()
    {
        var label = Unique("idem");
        var jobId = await f.EnqueueAsync([label], ["echo", "first"]);
        await f.EnqueueAsync([label], ["echo", "second"], jobId: jobId);
        var runner = await f.RegisterAsync([label]);

        var lease = await f.AcquireAsync(runner);
        var again = await f.AcquireAsync(runner, waitSeconds: 1);
        await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = jobId, Attempt = 1, ExitCode = 0 }, runner.Headers);
        await f.EnqueueAsync([label], ["echo", "third"], jobId: jobId);

        Assert.Equal(["echo", "first"], lease!.Spec.Command);
        Assert.Null(again);
        Assert.Equal(JobState.Succeeded, (await f.GetJobAsync(jobId)).State);
    }

    [Fact]
    public async Task A_lease_carries_the_job_spec_and_attempt_1()
    {
        var label = Unique("spec");
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", "exit 0"], inputJson: """{"x":1}""",
            env: new() { ["MODE"] = "fast" }, stepName: "Run Tests");
        var runner = await f.RegisterAsync([label]);

        var lease = await f.AcquireAsync(runner);

        Assert.NotNull(lease);
        Assert.Equal((jobId, 1, "Run Tests", 1), (lease.JobId, lease.Attempt, lease.StepName, lease.StepAttempt));
        Assert.Equal(["sh", "-c", "exit 0"], lease.Spec.Command);
        Assert.Equal("""{"x":1}""", lease.Spec.InputJson);
        Assert.Equal("fast", lease.Spec.Env["MODE"]);
        Assert.Equal([label], lease.Spec.RunnerLabels);
        Assert.True(lease.LeaseExpiresAt.ToDateTimeOffset() > DateTimeOffset.UtcNow.AddSeconds(20));
        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Leased, 1, runner.Id), (job.State, job.Attempt, job.RunnerId));
    }

    [Fact]
    public async Task Reports_naming_the_wrong_attempt_or_from_another_runner_are_refused_and_change_nothing()
    {
        var label = Unique("fence");
        var jobId = await f.EnqueueAsync([label]);
        var holder = await f.RegisterAsync([label]);
        var stranger = await f.RegisterAsync([Unique("other")]);
        var lease = await f.AcquireAsync(holder);
        Assert.Equal(1, lease?.Attempt);

        var wrongAttemptStart = await RefusedAsync(() => f.Agent.ReportJobStartedAsync(
            new ReportJobStartedRequest { JobId = jobId, Attempt = 2 }, holder.Headers).ResponseAsync);
        var wrongAttemptComplete = await RefusedAsync(() => f.Agent.CompleteJobAsync(
            new CompleteJobRequest { JobId = jobId, Attempt = 2, ExitCode = 0 }, holder.Headers).ResponseAsync);
        var strangerComplete = await RefusedAsync(() => f.Agent.CompleteJobAsync(
            new CompleteJobRequest { JobId = jobId, Attempt = 1, ExitCode = 0 }, stranger.Headers).ResponseAsync);

        Assert.Equal(StatusCode.PermissionDenied, wrongAttemptStart.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, wrongAttemptComplete.StatusCode);
        Assert.Equal(StatusCode.PermissionDenied, strangerComplete.StatusCode);
        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Leased, 1, holder.Id), (job.State, job.Attempt, job.RunnerId));
        Assert.False(job.HasExitCode);
        Assert.Null(job.StartedAt);
    }

    [Fact]
    public async Task Reports_about_an_unknown_job_are_not_found()
    {
        var runner = await f.RegisterAsync([]);

        var error = await RefusedAsync(() => f.Agent.ReportJobStartedAsync(
            new ReportJobStartedRequest { JobId = Guid.NewGuid().ToString(), Attempt = 1 }, runner.Headers).ResponseAsync);

        Assert.Equal(StatusCode.NotFound, error.StatusCode);
    }

    [Fact]
    public async Task Started_and_completed_jobs_store_the_result_and_publish_JobStarted_and_JobFinished()
    {
        var label = Unique("done");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        var lease = (await f.AcquireAsync(runner))!;

        await f.Agent.ReportJobStartedAsync(new ReportJobStartedRequest { JobId = jobId, Attempt = 1 }, runner.Headers);
        await f.Agent.ReportJobStartedAsync(new ReportJobStartedRequest { JobId = jobId, Attempt = 1 }, runner.Headers);
        var running = await f.GetJobAsync(jobId);
        var complete = new CompleteJobRequest { JobId = jobId, Attempt = 1, ExitCode = 0, OutputTail = "all good\n" };
        complete.Outputs["version"] = "1.2.3";
        await f.Agent.CompleteJobAsync(complete, runner.Headers);
        var done = await f.GetJobAsync(jobId);

        Assert.Equal(JobState.Running, running.State);
        Assert.NotNull(running.StartedAt);
        Assert.Equal((JobState.Succeeded, 0, "1.2.3", "all good\n"), (done.State, done.ExitCode, done.Outputs["version"], done.OutputTail));
        Assert.NotNull(done.FinishedAt);

        var id = Guid.Parse(jobId);
        var (startedId, started) = await f.Events.WaitForAsync<JobStarted>(e => e.JobId == id);
        var (finishedId, finished) = await f.Events.WaitForAsync<JobFinished>(e => e.JobId == id);
        Assert.Equal(DeterministicGuid.Create(jobId, "1", "started"), startedId);
        Assert.Equal(DeterministicGuid.Create(jobId, "1", "finished"), finishedId);
        Assert.Equal((Guid.Parse(lease.ExecutionId), "build", 1, 1, Guid.Parse(runner.Id)),
            (started.ExecutionId, started.StepName, started.StepAttempt, started.Attempt, started.RunnerId));
        Assert.Equal((JobOutcome.Succeeded, 0, "1.2.3"), (finished.Outcome, finished.ExitCode, finished.Outputs["version"]));
        Assert.NotNull(finished.StartedAt);
    }

    [Fact]
    public async Task A_completion_that_carries_an_unreported_start_records_it_from_the_lease_and_publishes_it_with_the_end()
    {
        var label = Unique("start-with-end");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);
        await Task.Delay(400); // the job ran: began 250 ms after the lease, ended later

        await f.Agent.CompleteJobAsync(new CompleteJobRequest
        {
            JobId = jobId, Attempt = 1, ExitCode = 0,
            StartedAfterLease = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromMilliseconds(250)),
        }, runner.Headers);

        var (startedAfterLease, startedAt) = await StartOfAsync(jobId);
        var (_, finished) = await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(jobId));
        Assert.Equal(250, startedAfterLease, precision: 0);
        Assert.Equal(startedAt, finished.StartedAt);
        Assert.Equal(JobState.Succeeded, (await f.GetJobAsync(jobId)).State);
        Assert.Equal(0, f.Events.Count<JobStarted>(e => e.JobId == Guid.Parse(jobId))); // the end carried the start
    }

    [Fact]
    public async Task A_start_report_dates_the_start_from_the_lease_by_the_runners_delay()
    {
        var label = Unique("start-dated");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);
        await Task.Delay(100); // the runner reports a while after the job began, 40 ms after the lease

        await f.Agent.ReportJobStartedAsync(new ReportJobStartedRequest
        {
            JobId = jobId, Attempt = 1,
            StartedAfterLease = Google.Protobuf.WellKnownTypes.Duration.FromTimeSpan(TimeSpan.FromMilliseconds(40)),
        }, runner.Headers);

        var (startedAfterLease, startedAt) = await StartOfAsync(jobId);
        var (_, started) = await f.Events.WaitForAsync<JobStarted>(e => e.JobId == Guid.Parse(jobId));
        Assert.Equal(40, startedAfterLease, precision: 0);
        Assert.Equal(startedAt, (DateTimeOffset?)started.StartedAt);
        Assert.Equal(JobState.Running, (await f.GetJobAsync(jobId)).State);
    }

    /// <returns>How long after its lease the job started (ms), and when, as stored.</returns>
    private async Task<(double StartedAfterLease, DateTimeOffset? StartedAt)> StartOfAsync(string jobId)
    {
        await using var connection = new Npgsql.NpgsqlConnection(f.ConnectionString);
        var row = await Dapper.SqlMapper.QuerySingleAsync<(double, DateTime)>(connection,
            "SELECT EXTRACT(EPOCH FROM started_at - leased_at) * 1000, started_at FROM runners.jobs WHERE id = @id",
            new { id = Guid.Parse(jobId) });
        return (row.Item1, new DateTimeOffset(DateTime.SpecifyKind(row.Item2, DateTimeKind.Utc)));
    }

    [Fact]
    public async Task A_completion_that_asks_for_the_next_job_gets_its_lease_and_one_that_does_not_leaves_it_queued()
    {
        var label = Unique("acquire-next");
        var first = await f.EnqueueAsync([label]);
        var second = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        Assert.Equal(first, (await f.AcquireAsync(runner))!.JobId);

        var answer = await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = first, Attempt = 1, AcquireNext = true }, runner.Headers);
        var secondLeased = await f.GetJobAsync(second);
        var third = await f.EnqueueAsync([label]);
        var plain = await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = second, Attempt = 1 }, runner.Headers);
        var thirdAfter = await f.GetJobAsync(third);
        Assert.Equal(third, (await f.AcquireAsync(runner))!.JobId);
        var last = await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = third, Attempt = 1, AcquireNext = true },
            runner.Headers);

        Assert.Equal((second, 1), (answer.Next?.JobId, answer.Next?.Attempt));
        Assert.Equal((JobState.Leased, runner.Id), (secondLeased.State, secondLeased.RunnerId));
        Assert.Null(plain.Next);
        Assert.Equal(JobState.Queued, thirdAfter.State);
        Assert.Null(last.Next); // nothing queued for it: no lease, and no waiting
    }

    [Fact]
    public async Task A_non_zero_exit_code_fails_the_job()
    {
        var label = Unique("fail");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);

        await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = jobId, Attempt = 1, ExitCode = 2, Error = "boom" }, runner.Headers);

        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Failed, 2, "boom"), (job.State, job.ExitCode, job.Error));
        var (_, finished) = await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(jobId));
        Assert.Equal((JobOutcome.Failed, (int?)2, "boom"), (finished.Outcome, finished.ExitCode, finished.Error));
        Assert.Null(finished.StartedAt);
    }

    [Fact]
    public async Task A_repeated_identical_CompleteJob_succeeds_and_a_different_one_is_refused()
    {
        var label = Unique("again");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);
        var complete = new CompleteJobRequest { JobId = jobId, Attempt = 1, ExitCode = 0, OutputTail = "ok" };
        complete.Outputs["a"] = "1";

        await f.Agent.CompleteJobAsync(complete, runner.Headers);
        await f.Agent.CompleteJobAsync(complete, runner.Headers);
        var different = complete.Clone();
        different.ExitCode = 1;
        var error = await RefusedAsync(() => f.Agent.CompleteJobAsync(different, runner.Headers).ResponseAsync);

        Assert.Equal(StatusCode.FailedPrecondition, error.StatusCode);
        Assert.Equal((JobState.Succeeded, 0), ((await f.GetJobAsync(jobId)).State, (await f.GetJobAsync(jobId)).ExitCode));
    }

    [Fact]
    public async Task The_stored_output_tail_is_bounded_to_the_last_8_KiB()
    {
        var label = Unique("tail");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);
        await Task.Delay(400); // the job ran: began 250 ms after the lease, ended later

        await f.Agent.CompleteJobAsync(new CompleteJobRequest
        {
            JobId = jobId, Attempt = 1, ExitCode = 0, OutputTail = new string('a', 20_000) + "END",
        }, runner.Headers);

        var tail = (await f.GetJobAsync(jobId)).OutputTail;
        Assert.Equal(8 * 1024, tail.Length);
        Assert.EndsWith("END", tail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_heartbeat_names_the_jobs_the_runner_no_longer_holds()
    {
        var label = Unique("hb");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);
        var heartbeat = new HeartbeatRequest();
        heartbeat.Running.Add(new JobRef { JobId = jobId, Attempt = 1 });
        heartbeat.Running.Add(new JobRef { JobId = Guid.NewGuid().ToString(), Attempt = 1 });

        var response = await f.Agent.HeartbeatAsync(heartbeat, runner.Headers);

        Assert.Equal([heartbeat.Running[1]], response.Cancel);
        Assert.False(response.Drain);
    }

    [Fact]
    public async Task A_runner_registering_again_under_its_name_gets_its_jobs_back_at_once_with_a_new_attempt()
    {
        var label = Unique("restart");
        var name = Unique("embedded");
        var jobId = await f.EnqueueAsync([label]);
        var before = await f.RegisterAsync([label], name: name);
        await f.AcquireAsync(before);
        await f.Agent.ReportJobStartedAsync(new ReportJobStartedRequest { JobId = jobId, Attempt = 1 }, before.Headers);

        var after = await f.RegisterAsync([label], name: name);
        var requeued = await f.GetJobAsync(jobId);
        var clock = Stopwatch.StartNew();
        var lease = await f.AcquireAsync(after, waitSeconds: 5);

        Assert.Equal((JobState.Queued, ""), (requeued.State, requeued.RunnerId));
        Assert.Equal((jobId, 2), (lease?.JobId, lease?.Attempt));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), "the job waited for its old lease to lapse");
        var stale = await RefusedAsync(() => f.Agent.CompleteJobAsync(
            new CompleteJobRequest { JobId = jobId, Attempt = 1, ExitCode = 0 }, before.Headers).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, stale.StatusCode);
    }

    [Fact]
    public async Task EnqueueJobs_rejects_malformed_jobs_with_field_violations()
    {
        var request = new EnqueueJobsRequest();
        request.Jobs.Add(new JobToEnqueue { JobId = "nope", ExecutionId = Guid.NewGuid().ToString(), StepName = "", Spec = new JobSpec() });

        var error = await RefusedAsync(() => f.Registry.EnqueueJobsAsync(request).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("jobs[0].job_id", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("jobs[0].step_name", error.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("jobs[0].spec.command", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetJobs_leaves_out_unknown_ids()
    {
        var jobId = await f.EnqueueAsync([Unique("get")]);
        var request = new GetJobsRequest();
        request.JobIds.Add(Guid.NewGuid().ToString());
        request.JobIds.Add(jobId);

        var jobs = (await f.Registry.GetJobsAsync(request)).Jobs;

        var job = Assert.Single(jobs);
        Assert.Equal((jobId, JobState.Queued, 0), (job.JobId, job.State, job.Attempt));
    }
}
