using System.Diagnostics;
using Grpc.Core;
using Platform.BuildingBlocks;
using Platform.Protos.Runners.V1;
using Platform.Runner;
using Platform.RunnerRegistry.Contracts;
using Xunit.Abstractions;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

/// <summary>CancelJobs and AwaitCancellations against the protocol, and the real agent killing cancelled jobs. The
/// registry heartbeats every 5 s here, so a cancel that reaches the agent within a second came by AwaitCancellations.</summary>
public sealed class CancelJobsTests(RegistryFixture f, ITestOutputHelper output) : IClassFixture<RegistryFixture>
{
    private const string Reason = "cancelled: execution cancelled by user";

    [Fact]
    public async Task Cancelling_a_queued_job_ends_it_at_once_and_publishes_JobFinished_Cancelled()
    {
        var label = Unique("cancel-queued");
        var jobId = await f.EnqueueAsync([label]);

        await f.CancelAsync(Reason, jobId);

        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Cancelled, 0, "", Reason, false), (job.State, job.Attempt, job.RunnerId, job.Error, job.HasExitCode));
        Assert.NotNull(job.FinishedAt);
        var (messageId, finished) = await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(jobId));
        Assert.Equal(DeterministicGuid.Create(jobId, "0", "finished"), messageId);
        Assert.Equal((JobOutcome.Cancelled, (int?)null, Reason, (Guid?)null, (DateTimeOffset?)null),
            (finished.Outcome, finished.ExitCode, finished.Error, finished.RunnerId, finished.StartedAt));
        Assert.Null(await f.AcquireAsync(await f.RegisterAsync([label]), waitSeconds: 1));
    }

    [Fact]
    public async Task Cancelling_a_running_job_asks_its_runner_to_stop_and_its_report_ends_it_cancelled_keeping_exit_code_and_tail()
    {
        var label = Unique("cancel-held");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);
        await f.Agent.ReportJobStartedAsync(new ReportJobStartedRequest { JobId = jobId, Attempt = 1 }, runner.Headers);

        await f.CancelAsync(Reason, jobId);
        var requested = await f.GetJobAsync(jobId);
        var heartbeat = new HeartbeatRequest();
        heartbeat.Running.Add(Ref(jobId, 1));
        var beat = await f.Agent.HeartbeatAsync(heartbeat, runner.Headers);
        var complete = new CompleteJobRequest { JobId = jobId, Attempt = 1, ExitCode = 137, Error = "cancelled", OutputTail = "partial\n" };
        await f.Agent.CompleteJobAsync(complete, runner.Headers);
        await f.Agent.CompleteJobAsync(complete, runner.Headers); // a retried report is accepted

        Assert.Equal(JobState.Running, requested.State);
        Assert.Equal([Ref(jobId, 1)], beat.Cancel);
        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Cancelled, 137, "partial\n", Reason), (job.State, job.ExitCode, job.OutputTail, job.Error));
        var (_, finished) = await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(jobId));
        Assert.Equal((JobOutcome.Cancelled, (int?)137, Reason, "partial\n", Guid.Parse(runner.Id)),
            (finished.Outcome, finished.ExitCode, finished.Error, finished.OutputTail, finished.RunnerId));
        Assert.NotNull(finished.StartedAt);
    }

    [Fact]
    public async Task A_cancel_requested_job_ends_cancelled_even_when_its_process_exited_0()
    {
        var label = Unique("cancel-exit0");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);

        await f.CancelAsync(Reason, jobId);
        await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = jobId, Attempt = 1, ExitCode = 0 }, runner.Headers);

        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Cancelled, 0, Reason), (job.State, job.ExitCode, job.Error));
    }

    [Fact]
    public async Task CancelJobs_is_idempotent_keeps_the_first_reason_and_leaves_finished_and_unknown_jobs_alone()
    {
        var label = Unique("cancel-idem");
        var done = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label], capacity: 2);
        await f.AcquireAsync(runner);
        await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = done, Attempt = 1, ExitCode = 0 }, runner.Headers);
        var held = await f.EnqueueAsync([label]);
        await f.AcquireAsync(runner);
        var queued = await f.EnqueueAsync([Unique("nobody")]);
        var unknown = Guid.NewGuid().ToString();

        await f.CancelAsync("first", done, held, queued, unknown);
        await f.CancelAsync("second", queued, held, done, unknown, queued);
        await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = held, Attempt = 1, ExitCode = 1 }, runner.Headers);

        var finished = await f.GetJobAsync(done);
        Assert.Equal((JobState.Succeeded, 0, ""), (finished.State, finished.ExitCode, finished.Error));
        Assert.Equal((JobState.Cancelled, "first"), ((await f.GetJobAsync(queued)).State, (await f.GetJobAsync(queued)).Error));
        Assert.Equal((JobState.Cancelled, "first"), ((await f.GetJobAsync(held)).State, (await f.GetJobAsync(held)).Error));
        await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(held));
        await Task.Delay(300);
        Assert.Equal(1, f.Events.Count<JobFinished>(e => e.JobId == Guid.Parse(queued)));
        Assert.Equal(1, f.Events.Count<JobFinished>(e => e.JobId == Guid.Parse(done)));
        Assert.Equal(JobOutcome.Succeeded, (await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(done))).Message.Outcome);
    }

    [Fact]
    public async Task CancelJobs_rejects_ids_that_are_not_UUIDs()
    {
        var error = await RefusedAsync(() => f.CancelAsync(Reason, Guid.NewGuid().ToString(), "nope"));

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("job_ids[1]", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_cancel_requested_job_of_a_replaced_runner_ends_cancelled_rather_than_being_requeued()
    {
        var label = Unique("cancel-replaced");
        var name = Unique("embedded");
        var jobId = await f.EnqueueAsync([label]);
        var before = await f.RegisterAsync([label], name: name);
        await f.AcquireAsync(before);
        await f.CancelAsync(Reason, jobId);

        var after = await f.RegisterAsync([label], name: name);

        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Cancelled, 1, before.Id, Reason), (job.State, job.Attempt, job.RunnerId, job.Error));
        var (_, finished) = await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(jobId));
        Assert.Equal((JobOutcome.Cancelled, (int?)null), (finished.Outcome, finished.ExitCode));
        Assert.Null(await f.AcquireAsync(after, waitSeconds: 1));
    }

    [Fact]
    public async Task AwaitCancellations_answers_at_once_with_the_jobs_the_runner_no_longer_holds()
    {
        var label = Unique("await-gone");
        var finished = await f.EnqueueAsync([label]);
        var wrongAttempt = await f.EnqueueAsync([label]);
        var held = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label], capacity: 3);
        for (var i = 0; i < 3; i++)
        {
            await f.AcquireAsync(runner);
        }

        await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = finished, Attempt = 1, ExitCode = 0 }, runner.Headers);
        var unknown = Guid.NewGuid().ToString();
        var clock = Stopwatch.StartNew();

        var answer = await f.AwaitCancellations(runner, 30, Ref(finished, 1), Ref(wrongAttempt, 2), Ref(held, 1), Ref(unknown, 1));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"answered after {clock.Elapsed}");
        Assert.Equal(new[] { Ref(finished, 1), Ref(wrongAttempt, 2), Ref(unknown, 1) }.OrderBy(r => r.JobId, StringComparer.Ordinal),
            answer.Cancel.OrderBy(r => r.JobId, StringComparer.Ordinal));
    }

    [Fact]
    public async Task AwaitCancellations_waits_while_the_jobs_are_held_and_answers_as_soon_as_one_is_cancelled()
    {
        var label = Unique("await-cancel");
        var jobId = await f.EnqueueAsync([label]);
        var other = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label], capacity: 2);
        await f.AcquireAsync(runner);
        await f.AcquireAsync(runner);
        using var poll = f.AwaitCancellations(runner, 30, Ref(jobId, 1), Ref(other, 1));
        await Task.Delay(300);
        Assert.False(poll.ResponseAsync.IsCompleted, "the long poll answered while every job was held");

        var clock = Stopwatch.StartNew();
        await f.CancelAsync(Reason, jobId);
        var answer = await poll.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(10));

        output.WriteLine($"CancelJobs → AwaitCancellations answer: {clock.Elapsed.TotalMilliseconds:0.0} ms");
        Assert.Equal([Ref(jobId, 1)], answer.Cancel);
        Assert.True(clock.Elapsed < TimeSpan.FromMilliseconds(500), $"answered {clock.Elapsed} after the cancel");
    }

    [Fact]
    public async Task AwaitCancellations_is_woken_by_a_cancel_another_replica_notifies()
    {
        var label = Unique("await-notify");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);
        using var poll = f.AwaitCancellations(runner, 30, Ref(jobId, 1));
        await Task.Delay(200);

        var clock = Stopwatch.StartNew();
        // What another replica's CancelJobs does: no in-process wake-up here, only the NOTIFY.
        await f.ExecuteSqlAsync("""
            UPDATE runners.jobs SET cancel_requested_at = now(), cancel_reason = 'elsewhere' WHERE id = @id;
            SELECT pg_notify('runners_cancel', '');
            """, new { id = Guid.Parse(jobId) });
        var answer = await poll.ResponseAsync.WaitAsync(TimeSpan.FromSeconds(10));

        output.WriteLine($"NOTIFY → AwaitCancellations answer: {clock.Elapsed.TotalMilliseconds:0.0} ms");
        Assert.Equal([Ref(jobId, 1)], answer.Cancel);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task AwaitCancellations_answers_empty_when_its_wait_ends()
    {
        var label = Unique("await-empty");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);
        var clock = Stopwatch.StartNew();

        var answer = await f.AwaitCancellations(runner, 1, Ref(jobId, 1));

        Assert.Empty(answer.Cancel);
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.9, 5);
    }

    [Fact]
    public async Task AwaitCancellations_requires_the_runner_credential()
    {
        var error = await RefusedAsync(() => f.Agent.AwaitCancellationsAsync(
            new AwaitCancellationsRequest { WaitSeconds = 1 }, new Metadata { { "authorization", "Bearer nope" } }).ResponseAsync);

        Assert.Equal(StatusCode.Unauthenticated, error.StatusCode);
    }

    [Fact]
    public async Task Cancelling_a_running_job_kills_its_process_tree_and_ends_it_cancelled_well_within_2_seconds()
    {
        var label = Unique("agent-cancel");
        await using var agent = f.StartAgent([label]);
        var runnerId = await agent.Agent.Registered;
        using var directory = new TempDirectory();
        var latencies = new List<double>();
        string? lastJob = null;
        for (var i = 0; i < 5; i++)
        {
            // A unique sleep duration marks this job's processes (the shell and its sleep) in /proc.
            var token = $"30.{Random.Shared.Next(100_000, 999_999)}";
            var marker = Path.Combine(directory.Path, $"marker-{i}");
            var jobId = await f.EnqueueAsync([label], ["sh", "-c", $"sleep {token}; touch \"$1\"", "sh", marker]);
            await f.WaitForJobAsync(jobId, j => j.State == JobState.Running);
            await Eventually(() => Processes.WithCommandLineContaining(token).Count >= 2, "the job's processes to start");

            var clock = Stopwatch.StartNew();
            await f.CancelAsync(Reason, jobId);
            var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null, TimeSpan.FromSeconds(10));
            latencies.Add(clock.Elapsed.TotalMilliseconds);

            Assert.Equal((JobState.Cancelled, Reason, 1), (job.State, job.Error, job.Attempt));
            Assert.Equal(137, job.ExitCode); // SIGKILL
            await Eventually(() => Processes.WithCommandLineContaining(token).Count == 0, "the job's processes to be gone");
            Assert.False(File.Exists(marker));
            lastJob = jobId;
        }

        output.WriteLine($"CancelJobs → job cancelled (process killed, reported): {string.Join(", ", latencies.Select(l => $"{l:0}"))} ms");
        Assert.All(latencies, l => Assert.True(l < 2000, $"a cancel took {l:0} ms"));
        Assert.True(latencies.Order().ElementAt(latencies.Count / 2) < 1000, "the median cancel took a second or more");
        var (_, finished) = await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(lastJob!));
        Assert.Equal((JobOutcome.Cancelled, (int?)137, Reason, Guid.Parse(runnerId)),
            (finished.Outcome, finished.ExitCode, finished.Error, finished.RunnerId));
        Assert.Equal(0, agent.Agent.RunningJobs);
    }

    [Fact]
    public async Task A_job_cancelled_as_it_starts_is_killed_within_a_second_though_young_jobs_are_not_watched_yet()
    {
        // The agent watches a job for cancels only once it has run for a moment (most steps are over sooner); a cancel
        // requested before that must still reach it soon after.
        var label = Unique("agent-cancel-young");
        await using var agent = f.StartAgent([label]);
        await agent.Agent.Registered;
        var latencies = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            var jobId = await f.EnqueueAsync([label], ["sleep", "30"]);
            await f.WaitForJobAsync(jobId, j => j.State == JobState.Running);
            var clock = Stopwatch.StartNew();
            await f.CancelAsync(Reason, jobId);
            var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null, TimeSpan.FromSeconds(10));
            latencies.Add(clock.Elapsed.TotalMilliseconds);
            Assert.Equal((JobState.Cancelled, 137), (job.State, job.ExitCode));
        }

        output.WriteLine($"cancel as the job starts → job cancelled: {string.Join(", ", latencies.Select(l => $"{l:0}"))} ms");
        Assert.All(latencies, l => Assert.True(l < 1000, $"a cancel took {l:0} ms"));
    }

    [Fact]
    public async Task Cancelling_one_of_two_running_jobs_stops_only_that_one()
    {
        var label = Unique("agent-cancel-one");
        await using var agent = f.StartAgent([label], capacity: 2);
        using var directory = new TempDirectory();
        var marker = Path.Combine(directory.Path, "marker");
        var doomed = await f.EnqueueAsync([label], ["sh", "-c", "sleep 1.5; touch \"$1\"", "sh", marker]);
        var kept = await f.EnqueueAsync([label], ["sh", "-c", "sleep 2; echo kept=yes >> \"$PLATFORM_OUTPUTS\""]);
        await f.WaitForJobAsync(doomed, j => j.State == JobState.Running);
        await f.WaitForJobAsync(kept, j => j.State == JobState.Running);
        var clock = Stopwatch.StartNew();

        await f.CancelAsync(Reason, doomed);
        var cancelled = await f.WaitForJobAsync(doomed, j => j.FinishedAt is not null, TimeSpan.FromSeconds(2));
        var cancelledAfter = clock.Elapsed;
        var finished = await f.WaitForJobAsync(kept, j => j.FinishedAt is not null, TimeSpan.FromSeconds(10));
        while (clock.Elapsed < TimeSpan.FromSeconds(2))
        {
            await Task.Delay(50); // past the moment the cancelled job would have written its marker
        }

        Assert.Equal(JobState.Cancelled, cancelled.State);
        Assert.True(cancelledAfter < TimeSpan.FromSeconds(1), $"cancelled after {cancelledAfter}");
        Assert.Equal((JobState.Succeeded, "yes"), (finished.State, finished.Outputs["kept"]));
        Assert.False(File.Exists(marker), "the cancelled job ran on");
    }

    [Fact]
    public async Task A_draining_agent_still_kills_and_reports_a_job_cancelled_meanwhile()
    {
        var label = Unique("agent-cancel-drain");
        var agent = f.StartAgent([label], drainTimeout: TimeSpan.FromSeconds(60));
        var jobId = await f.EnqueueAsync([label], ["sleep", "30"]);
        await f.WaitForJobAsync(jobId, j => j.State == JobState.Running);
        var stopping = agent.StopAsync();
        await Task.Delay(300);
        Assert.False(stopping.IsCompleted, "the agent stopped without waiting for its job");

        var clock = Stopwatch.StartNew();
        await f.CancelAsync(Reason, jobId);
        var exit = await stopping.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(2), $"stopped {clock.Elapsed} after the cancel");
        Assert.Equal((RunnerExitReason.Stopped, 0), (exit.Reason, exit.ExitCode));
        Assert.Equal((JobState.Cancelled, Reason), ((await f.GetJobAsync(jobId)).State, (await f.GetJobAsync(jobId)).Error));
        await agent.DisposeAsync();
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"gave up waiting for {what}");
            }

            await Task.Delay(10);
        }
    }
}

/// <summary>Against a registry with 2-second leases and 1-second heartbeats.</summary>
public sealed class CancelLeaseExpiryTests(ShortLeaseRegistryFixture f) : IClassFixture<ShortLeaseRegistryFixture>
{
    [Fact]
    public async Task A_lapsed_lease_of_a_cancel_requested_job_ends_it_cancelled_rather_than_requeuing_it()
    {
        var label = Unique("cancel-lapse");
        var jobId = await f.EnqueueAsync([label]);
        var silent = await f.RegisterAsync([label]);
        await f.AcquireAsync(silent);
        await f.Agent.ReportJobStartedAsync(new ReportJobStartedRequest { JobId = jobId, Attempt = 1 }, silent.Headers);
        await f.CancelAsync("timed out after 1s", jobId);

        var job = await f.WaitForJobAsync(jobId, j => j.State != JobState.Running, TimeSpan.FromSeconds(10));
        var late = new CompleteJobRequest { JobId = jobId, Attempt = 1, ExitCode = 0 };
        await f.Agent.CompleteJobAsync(late, silent.Headers); // accepted, changes nothing

        Assert.Equal((JobState.Cancelled, 1, silent.Id, "timed out after 1s", false),
            (job.State, job.Attempt, job.RunnerId, job.Error, job.HasExitCode));
        var (_, finished) = await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(jobId));
        Assert.Equal((JobOutcome.Cancelled, (int?)null, "timed out after 1s", Guid.Parse(silent.Id)),
            (finished.Outcome, finished.ExitCode, finished.Error, finished.RunnerId));
        Assert.NotNull(finished.StartedAt);
        Assert.Null(await f.AcquireAsync(await f.RegisterAsync([label]), waitSeconds: 1));
        var after = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Cancelled, false), (after.State, after.HasExitCode));
    }

    [Fact]
    public async Task A_lapsed_lease_wakes_the_runners_AwaitCancellations()
    {
        var label = Unique("await-lapse");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);
        var clock = Stopwatch.StartNew();

        var answer = await f.AwaitCancellations(runner, 30, Ref(jobId, 1)).ResponseAsync.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal([Ref(jobId, 1)], answer.Cancel);
        Assert.InRange(clock.Elapsed.TotalSeconds, 1, 5);
        Assert.Equal(JobState.Queued, (await f.GetJobAsync(jobId)).State);
    }
}

/// <summary>Live processes seen in /proc (Linux).</summary>
internal static class Processes
{
    public static IReadOnlyList<int> WithCommandLineContaining(string token)
    {
        var pids = new List<int>();
        foreach (var directory in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            try
            {
                // A zombie's cmdline is empty: it no longer counts.
                if (File.ReadAllText(Path.Combine(directory, "cmdline")).Contains(token, StringComparison.Ordinal))
                {
                    pids.Add(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // Gone in the meantime.
            }
        }

        return pids;
    }
}

internal sealed class TempDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("platform-cancel-").FullName;

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort.
        }
    }
}
