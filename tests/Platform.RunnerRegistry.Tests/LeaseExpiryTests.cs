using System.Diagnostics;
using Grpc.Core;
using Platform.Protos.Runners.V1;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

/// <summary>Against a registry with 2-second leases and 1-second heartbeats.</summary>
public sealed class LeaseExpiryTests(ShortLeaseRegistryFixture f) : IClassFixture<ShortLeaseRegistryFixture>
{
    [Fact]
    public async Task A_lapsed_lease_requeues_the_job_and_its_next_lease_is_attempt_2()
    {
        var label = Unique("lapse");
        var jobId = await f.EnqueueAsync([label]);
        var silent = await f.RegisterAsync([label]);
        var lease = await f.AcquireAsync(silent);
        await f.Agent.ReportJobStartedAsync(new ReportJobStartedRequest { JobId = jobId, Attempt = 1 }, silent.Headers);
        var clock = Stopwatch.StartNew();

        var requeued = await f.WaitForJobAsync(jobId, j => j.State == JobState.Queued, TimeSpan.FromSeconds(10));
        var lapsedAfter = clock.Elapsed;
        var next = await f.AcquireAsync(await f.RegisterAsync([label]));

        Assert.Equal(1, lease?.Attempt);
        Assert.InRange(lapsedAfter.TotalSeconds, 1, 5);
        Assert.Equal((1, "", false), (requeued.Attempt, requeued.RunnerId, requeued.StartedAt is not null));
        Assert.Equal((jobId, 2), (next?.JobId, next?.Attempt));
    }

    [Fact]
    public async Task Reports_of_a_lapsed_lease_are_refused_and_its_heartbeat_says_cancel()
    {
        var label = Unique("stale");
        var jobId = await f.EnqueueAsync([label]);
        var slow = await f.RegisterAsync([label]);
        await f.AcquireAsync(slow);
        await f.WaitForJobAsync(jobId, j => j.State == JobState.Queued, TimeSpan.FromSeconds(10));
        var fast = await f.RegisterAsync([label]);
        await f.AcquireAsync(fast);

        var heartbeat = new HeartbeatRequest();
        heartbeat.Running.Add(new JobRef { JobId = jobId, Attempt = 1 });
        var answer = await f.Agent.HeartbeatAsync(heartbeat, slow.Headers);
        var refused = await RefusedAsync(() => f.Agent.CompleteJobAsync(
            new CompleteJobRequest { JobId = jobId, Attempt = 1, ExitCode = 0 }, slow.Headers).ResponseAsync);

        Assert.Equal([heartbeat.Running[0]], answer.Cancel);
        Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Leased, 2, fast.Id), (job.State, job.Attempt, job.RunnerId));
    }

    [Fact]
    public async Task Heartbeats_naming_a_job_keep_its_lease_alive()
    {
        var label = Unique("alive");
        var jobId = await f.EnqueueAsync([label]);
        var runner = await f.RegisterAsync([label]);
        await f.AcquireAsync(runner);
        var heartbeat = new HeartbeatRequest();
        heartbeat.Running.Add(new JobRef { JobId = jobId, Attempt = 1 });

        for (var i = 0; i < 8; i++)
        {
            var answer = await f.Agent.HeartbeatAsync(heartbeat, runner.Headers);
            Assert.Empty(answer.Cancel);
            await Task.Delay(500);
        }

        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Leased, 1), (job.State, job.Attempt));
    }

    [Fact]
    public async Task A_runner_is_offline_after_three_missed_heartbeats_and_online_again_after_one()
    {
        var runner = await f.RegisterAsync([]);
        var fresh = await f.Registry.GetRunnerAsync(new GetRunnerRequest { Id = runner.Id });

        await Task.Delay(TimeSpan.FromSeconds(3.5));
        var silent = await f.Registry.GetRunnerAsync(new GetRunnerRequest { Id = runner.Id });
        await f.Agent.HeartbeatAsync(new HeartbeatRequest(), runner.Headers);
        var back = await f.Registry.GetRunnerAsync(new GetRunnerRequest { Id = runner.Id });

        Assert.Equal(RunnerState.Online, fresh.State);
        Assert.Equal(RunnerState.Offline, silent.State);
        Assert.Equal(RunnerState.Online, back.State);
        Assert.True(back.LastHeartbeatAt.ToDateTimeOffset() > silent.LastHeartbeatAt.ToDateTimeOffset());
    }
}
