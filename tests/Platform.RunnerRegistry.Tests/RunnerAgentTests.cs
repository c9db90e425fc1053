using System.Diagnostics;
using Platform.Protos.Runners.V1;
using Platform.Runner;
using Platform.RunnerRegistry.Contracts;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

/// <summary>The real agent (Platform.Runner with the process executor) against a registry with 2-second leases, so
/// its heartbeats must keep the leases of longer jobs alive.</summary>
public sealed class RunnerAgentTests(ShortLeaseRegistryFixture f) : IClassFixture<ShortLeaseRegistryFixture>
{
    [Fact]
    public async Task The_agent_runs_a_job_and_reports_exit_code_outputs_and_output_tail()
    {
        var label = Unique("agent");
        await using var agent = f.StartAgent([label]);
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", """
            echo "hello from $PLATFORM_STEP"
            echo "greeting=hi $(echo "$PLATFORM_INPUT")" >> "$PLATFORM_OUTPUTS"
            """], inputJson: """{"who":"you"}""");

        var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null);

        Assert.Equal((JobState.Succeeded, 0), (job.State, job.ExitCode));
        Assert.Equal("""hi {"who":"you"}""", job.Outputs["greeting"]);
        Assert.Equal("hello from build\n", job.OutputTail);
        Assert.Equal(await agent.Agent.Registered, job.RunnerId);
    }

    [Fact]
    public async Task A_job_that_ends_at_once_is_reported_only_by_its_end_and_a_longer_one_is_reported_started_while_it_runs()
    {
        var label = Unique("agent-start-report");
        await using var agent = f.StartAgent([label]);
        var quick = await f.EnqueueAsync([label], ["true"]);
        var quickJob = await f.WaitForJobAsync(quick, j => j.FinishedAt is not null);
        var slow = await f.EnqueueAsync([label], ["sleep", "1"]);

        var running = await f.WaitForJobAsync(slow, j => j.State == JobState.Running);
        var (_, started) = await f.Events.WaitForAsync<JobStarted>(e => e.JobId == Guid.Parse(slow));
        var (_, quickFinished) = await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(quick));

        Assert.Equal(JobState.Succeeded, quickJob.State);
        Assert.NotNull(quickJob.StartedAt);
        Assert.NotNull(quickFinished.StartedAt); // the end carried the start
        Assert.Equal(0, f.Events.Count<JobStarted>(e => e.JobId == Guid.Parse(quick)));
        Assert.Null(running.FinishedAt);
        Assert.Equal(Guid.Parse(await agent.Agent.Registered), started.RunnerId);
    }

    [Fact]
    public async Task The_agent_reports_a_failing_command_with_its_exit_code()
    {
        var label = Unique("agent-fail");
        await using var agent = f.StartAgent([label]);
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", "echo broken >&2; exit 3"]);

        var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null);

        Assert.Equal((JobState.Failed, 3, "broken\n"), (job.State, job.ExitCode, job.OutputTail));
    }

    [Fact]
    public async Task The_agent_reports_a_command_that_cannot_start()
    {
        var label = Unique("agent-missing");
        await using var agent = f.StartAgent([label]);
        var jobId = await f.EnqueueAsync([label], ["/nonexistent/tool", "run"]);

        var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null);

        Assert.Equal((JobState.Failed, 127), (job.State, job.ExitCode));
        Assert.StartsWith("cannot start '/nonexistent/tool': ", job.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_agent_keeps_the_lease_of_a_job_longer_than_the_lease_timeout()
    {
        var label = Unique("agent-long");
        await using var agent = f.StartAgent([label]);
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", "sleep 4; echo done=yes >> \"$PLATFORM_OUTPUTS\""]);

        var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null, TimeSpan.FromSeconds(20));

        Assert.Equal((JobState.Succeeded, 1, "yes"), (job.State, job.Attempt, job.Outputs["done"]));
    }

    [Fact]
    public async Task The_agent_runs_up_to_its_capacity_of_jobs_at_once()
    {
        var label = Unique("agent-cap");
        await using var agent = f.StartAgent([label], capacity: 2);
        var jobs = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            jobs.Add(await f.EnqueueAsync([label], ["sleep", "1"]));
        }

        var clock = Stopwatch.StartNew();
        var peak = 0;
        while (!(await Task.WhenAll(jobs.Select(j => f.GetJobAsync(j)))).All(j => j.FinishedAt is not null))
        {
            peak = Math.Max(peak, agent.Agent.RunningJobs);
            Assert.True(agent.Agent.RunningJobs <= 2);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "the jobs did not finish");
            await Task.Delay(20);
        }

        Assert.Equal(2, peak);
        Assert.InRange(clock.Elapsed.TotalSeconds, 1.9, 10);
    }

    [Fact]
    public async Task A_stopping_agent_takes_no_new_job_and_lets_the_running_one_finish()
    {
        var label = Unique("agent-drain");
        var agent = f.StartAgent([label]);
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", "sleep 1.5; echo drained=yes >> \"$PLATFORM_OUTPUTS\""]);
        await f.WaitForJobAsync(jobId, j => j.State == JobState.Running);

        var exit = await agent.StopAsync();
        var queuedAfterStop = await f.EnqueueAsync([label]);

        Assert.Equal((RunnerExitReason.Stopped, 0), (exit.Reason, exit.ExitCode));
        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Succeeded, "yes"), (job.State, job.Outputs["drained"]));
        await Task.Delay(300);
        Assert.Equal(JobState.Queued, (await f.GetJobAsync(queuedAfterStop)).State);
        await agent.DisposeAsync();
    }

    [Fact]
    public async Task A_job_stopped_by_the_drain_timeout_is_reported_failed()
    {
        var label = Unique("agent-drain-timeout");
        var agent = f.StartAgent([label], drainTimeout: TimeSpan.FromMilliseconds(500));
        var jobId = await f.EnqueueAsync([label], ["sleep", "60"]);
        await f.WaitForJobAsync(jobId, j => j.State == JobState.Running);

        var clock = Stopwatch.StartNew();
        var exit = await agent.StopAsync();

        Assert.Equal(RunnerExitReason.Stopped, exit.Reason);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
        var job = await f.GetJobAsync(jobId);
        Assert.Equal(JobState.Failed, job.State);
        Assert.Contains("drain timeout", job.Error, StringComparison.Ordinal);
        await agent.DisposeAsync();
    }

    [Fact]
    public async Task The_agent_kills_a_job_the_registry_no_longer_leases_to_it()
    {
        var label = Unique("agent-cancel");
        await using var agent = f.StartAgent([label]);
        var jobId = await f.EnqueueAsync([label], ["sleep", "60"]);
        await f.WaitForJobAsync(jobId, j => j.State == JobState.Running);

        // As if the job had been cancelled: the next heartbeat tells the agent it no longer holds it.
        await f.ExecuteSqlAsync("UPDATE runners.jobs SET state = 'cancelled', finished_at = now() WHERE id = @id",
            new { id = Guid.Parse(jobId) });

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (agent.Agent.RunningJobs > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }

        Assert.Equal(0, agent.Agent.RunningJobs);
        Assert.Equal(JobState.Cancelled, (await f.GetJobAsync(jobId)).State);
    }

    [Fact]
    public async Task A_restarted_agent_registering_its_name_again_runs_the_jobs_its_predecessor_held_at_once()
    {
        var label = Unique("agent-restart");
        var name = Unique("embedded");
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", "echo run=$PLATFORM_JOB_ATTEMPT >> \"$PLATFORM_OUTPUTS\""]);
        // The predecessor leased the job and died without a word.
        var predecessor = await f.RegisterAsync([label], name: name);
        await f.AcquireAsync(predecessor);
        await f.Agent.ReportJobStartedAsync(new ReportJobStartedRequest { JobId = jobId, Attempt = 1 }, predecessor.Headers);

        await using var agent = f.StartAgent([label], name: name);
        var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null);

        Assert.Equal((JobState.Succeeded, 2, "2"), (job.State, job.Attempt, job.Outputs["run"]));
    }
}
