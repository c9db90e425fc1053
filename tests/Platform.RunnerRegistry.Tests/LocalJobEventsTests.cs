using Dapper;
using Npgsql;
using Platform.Protos.Runners.V1;
using Platform.RunnerRegistry.Contracts;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

/// <summary>
/// Job events handed to a consumer in the registry's own process (the Standalone host's Execution) instead of the bus:
/// applied before the runner hears back, their outbox rows forgotten after; and when that consumer fails, the runner is
/// still answered and the relay publishes the event from its outbox row.
/// </summary>
public sealed class LocalJobEventsTests(LocalConsumerRegistryFixture f) : IClassFixture<LocalConsumerRegistryFixture>
{
    [Fact]
    public async Task A_job_start_and_end_reach_the_local_consumer_before_the_runner_is_answered_and_leave_no_outbox_row()
    {
        var label = Unique("local");
        var jobId = await f.EnqueueAsync([label], stepName: "deploy");
        var runner = await f.RegisterAsync([label]);
        var lease = (await f.AcquireAsync(runner))!;

        await f.Agent.ReportJobStartedAsync(new ReportJobStartedRequest { JobId = jobId, Attempt = lease.Attempt }, runner.Headers);
        Assert.Equal(1, f.Local.Events.Count<JobStarted>(e => e.JobId == Guid.Parse(jobId) && e.StepName == "deploy"));

        await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = jobId, Attempt = lease.Attempt, ExitCode = 3, Error = "exit 3" },
            runner.Headers);
        Assert.Equal(1, f.Local.Events.Count<JobFinished>(e => e.JobId == Guid.Parse(jobId))); // before the answer
        var (messageId, finished) = await f.Local.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(jobId));
        Assert.Equal((Guid.Parse(lease.ExecutionId), "deploy", JobOutcome.Failed, (int?)3, "exit 3"),
            (finished.ExecutionId, finished.StepName, finished.Outcome, finished.ExitCode, finished.Error));
        await WaitUntilAsync(async () => await OutboxRowsAsync(messageId!.Value) == 0, "the delivered event's outbox row is forgotten");
        Assert.Equal(0, f.Events.Count<JobFinished>(e => e.JobId == Guid.Parse(jobId)));
    }

    [Fact]
    public async Task When_the_local_consumer_fails_the_runner_is_still_answered_and_the_relay_publishes_the_end()
    {
        var label = Unique("local-failing");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        var lease = (await f.AcquireAsync(runner))!;

        f.Local.Failing = true;
        try
        {
            await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = jobId, Attempt = lease.Attempt, ExitCode = 0 }, runner.Headers);
        }
        finally
        {
            f.Local.Failing = false;
        }

        Assert.Equal(JobState.Succeeded, (await f.GetJobAsync(jobId)).State);
        var (_, published) = await f.Events.WaitForAsync<JobFinished>(e => e.JobId == Guid.Parse(jobId));
        Assert.Equal(JobOutcome.Succeeded, published.Outcome);
        Assert.Equal(0, f.Local.Events.Count<JobFinished>(e => e.JobId == Guid.Parse(jobId)));
    }

    private async Task<long> OutboxRowsAsync(Guid messageId)
    {
        await using var connection = new NpgsqlConnection(f.ConnectionString);
        return await connection.ExecuteScalarAsync<long>("SELECT count(*) FROM runners.outbox WHERE message_id = @messageId",
            new { messageId });
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"not within 10 s: {what}");
            await Task.Delay(20);
        }
    }
}
