using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Platform.RunnerRegistry.Contracts;
using Platform.RunnerRegistry.Domain;
using Platform.RunnerRegistry.Persistence;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

/// <summary>
/// A job's start and end write their event to the outbox in the same statement as the change, filling in the values
/// only the statement knows. The relay publishes that copy when the immediate publish fails (or the process dies
/// first), so it must carry what the job row says. Its own registry: nothing else here wakes the relay, which would
/// publish and delete the rows these tests read (but for its periodic pass).
/// </summary>
public sealed class OutboxEventTests(RegistryFixture f) : IClassFixture<RegistryFixture>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web); // as the relay reads them

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the commit does not wait for its flush (a consumer in process commits next)
    public async Task The_outbox_copy_of_JobStarted_carries_the_job_execution_step_and_start_time(bool flushedLater)
    {
        var label = Unique("outbox-start");
        var jobId = await f.EnqueueAsync([label], stepName: "deploy");
        var runner = await f.RegisterAsync([label]);
        var lease = (await f.AcquireAsync(runner))!;
        var (id, runnerId, messageId) = (Guid.Parse(jobId), Guid.Parse(runner.Id), Guid.NewGuid());

        var row = await Store.StartAsync(runnerId, id, 1, TimeSpan.FromSeconds(30), startedAfterLease: null,
            JobStore.OutboxMessage.Of(messageId, new JobStarted(id, Guid.Empty, "", 0, 1, runnerId, default)), flushedLater, default);

        var job = await f.GetJobAsync(jobId);
        Assert.NotNull(row);
        Assert.Equal(new JobStarted(id, Guid.Parse(lease.ExecutionId), "deploy", 1, 1, runnerId, job.StartedAt.ToDateTimeOffset()),
            await OutboxCopyAsync<JobStarted>(messageId, e => e.JobId == id));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public async Task The_outbox_copy_of_JobFinished_carries_the_job_outcome_error_and_times(bool cancelRequested, bool flushedLater)
    {
        var label = Unique("outbox-finish");
        var jobId = await f.EnqueueAsync([label], stepName: "test");
        var runner = await f.RegisterAsync([label]);
        var lease = (await f.AcquireAsync(runner))!;
        var (id, runnerId, messageId) = (Guid.Parse(jobId), Guid.Parse(runner.Id), Guid.NewGuid());
        if (cancelRequested)
        {
            await f.CancelAsync("stopped by the user", jobId);
        }

        var result = new JobResult(3, new Dictionary<string, string> { ["k"] = "v" }, "exit 3", "last line\n");
        var row = await Store.FinishAsync(runnerId, id, 1, result, JobStore.OutboxMessage.Of(messageId,
                new JobFinished(id, Guid.Empty, "", 0, 1, runnerId, JobOutcome.Failed, 3, result.Outputs, null, "last line\n", null, default)),
            (int)JobOutcome.Cancelled, flushedLater, default);

        var job = await f.GetJobAsync(jobId);
        var copy = await OutboxCopyAsync<JobFinished>(messageId, e => e.JobId == id);
        Assert.NotNull(row);
        Assert.Equal(
            (id, Guid.Parse(lease.ExecutionId), "test", 1, 1, (Guid?)runnerId,
                cancelRequested ? JobOutcome.Cancelled : JobOutcome.Failed, (int?)3,
                cancelRequested ? "stopped by the user" : "exit 3", "last line\n", (DateTimeOffset?)null,
                job.FinishedAt.ToDateTimeOffset()),
            (copy.JobId, copy.ExecutionId, copy.StepName, copy.StepAttempt, copy.Attempt, copy.RunnerId, copy.Outcome,
                copy.ExitCode, copy.Error, copy.OutputTail, copy.StartedAt, copy.FinishedAt));
        Assert.Equal(new Dictionary<string, string> { ["k"] = "v" }, copy.Outputs);
    }

    private JobStore Store => f.Services.GetRequiredService<JobStore>();

    /// <summary>The row as the relay would read it — or, when the relay's periodic pass (every 30 s) already took
    /// it, the event the relay published (only the relay can have published one for this job: nothing else did).
    /// </summary>
    private async Task<T> OutboxCopyAsync<T>(Guid messageId, Func<T, bool> relayed)
    {
        await using var connection = new NpgsqlConnection(f.ConnectionString);
        var payload = await connection.QuerySingleOrDefaultAsync<string>(
            "SELECT payload::text FROM runners.outbox WHERE message_id = @messageId", new { messageId });
        return payload is not null
            ? JsonSerializer.Deserialize<T>(payload, Json)!
            : (await f.Events.WaitForAsync(relayed)).Message;
    }
}
