using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Platform.Protos.Runners.V1;
using Platform.Runner;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

/// <summary>Executor kinds in job selection, fairness among executions, drain and revoke.</summary>
public sealed class RunnerControlTests(RegistryFixture f) : IClassFixture<RegistryFixture>
{
    [Fact]
    public async Task A_job_with_an_image_goes_only_to_a_docker_or_kubernetes_runner_and_a_command_only_to_a_process_runner()
    {
        var label = Unique("kinds");
        var process = await f.RegisterAsync([label]);
        var docker = await f.RegisterAsync([label], executor: "docker");
        var container = await f.EnqueueAsync([label], ["sh", "-c", "true"], image: "busybox:1");

        Assert.Null(await f.AcquireAsync(process, waitSeconds: 1));
        var leased = await f.AcquireAsync(docker);
        Assert.Equal((container, "docker"), (leased?.JobId, leased?.Executor));

        var plain = await f.EnqueueAsync([label], ["true"]);
        var otherDocker = await f.RegisterAsync([label], executor: "docker");
        Assert.Null(await f.AcquireAsync(otherDocker, waitSeconds: 1));
        var processLease = await f.AcquireAsync(process);
        Assert.Equal((plain, "process"), (processLease?.JobId, processLease?.Executor));
    }

    [Fact]
    public async Task An_agent_naming_its_executor_kind_is_leased_only_to_a_runner_with_that_kind_which_the_lease_names()
    {
        var label = Unique("explicit");
        var docker = await f.RegisterAsync([label], executor: "docker");
        var both = await f.RegisterAsync([label], executor: "docker,kubernetes");
        var jobId = await f.EnqueueAsync([label], image: "busybox:1", executor: "kubernetes");

        Assert.Null(await f.AcquireAsync(docker, waitSeconds: 1));
        var lease = await f.AcquireAsync(both);

        Assert.Equal((jobId, "kubernetes"), (lease?.JobId, lease?.Executor));
    }

    [Fact]
    public async Task A_queued_job_no_runner_can_run_says_which_executor_kind_it_needs()
    {
        var label = Unique("reason");
        await f.RegisterAsync([label]);
        var jobId = await f.EnqueueAsync([label], image: "busybox:1");

        var job = await f.GetJobAsync(jobId);

        Assert.Equal($"no online runner with labels [{label}] has executor docker or kubernetes (1 online runner has other executors)",
            job.QueueReason);
    }

    [Fact]
    public async Task Runners_list_their_executor_kinds_and_registration_refuses_unknown_kinds()
    {
        var runner = await f.RegisterAsync([Unique("list")], executor: "docker, kubernetes");

        var view = await f.Registry.GetRunnerAsync(new GetRunnerRequest { Id = runner.Id });
        var refused = await RefusedAsync(() => f.RegisterAsync([], executor: "docker,vm"));

        Assert.Equal(["docker", "kubernetes"], view.Executors);
        Assert.Equal("docker,kubernetes", view.Executor);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("'vm' is not an executor kind", refused.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Enqueueing_a_job_whose_executor_kind_cannot_run_it_is_refused_with_field_violations()
    {
        var refused = await RefusedAsync(() => f.EnqueueAsync(["x"], ["true"], executor: "docker"));
        var unknown = await RefusedAsync(() => f.EnqueueAsync(["x"], ["true"], executor: "vm"));

        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("jobs[0].spec.image", refused.Status.Detail, StringComparison.Ordinal);
        Assert.Contains("jobs[0].spec.executor", unknown.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_execution_with_500_queued_jobs_does_not_starve_one_enqueued_after_it()
    {
        var label = Unique("fair");
        var big = Guid.NewGuid().ToString();
        var request = new EnqueueJobsRequest();
        for (var i = 0; i < 500; i++)
        {
            var spec = new JobSpec { InputJson = "{}" };
            spec.Command.Add("true");
            spec.RunnerLabels.Add(label);
            request.Jobs.Add(new JobToEnqueue
            {
                JobId = Guid.NewGuid().ToString(), ExecutionId = big, StepName = $"shard-{i}", StepAttempt = 1, Spec = spec,
            });
        }

        await f.Registry.EnqueueJobsAsync(request);
        var small = await f.EnqueueAsync([label], stepName: "lonely");
        var runner = await f.RegisterAsync([label], capacity: 10);

        var firstLeases = new List<JobLease>();
        for (var i = 0; i < 3; i++)
        {
            firstLeases.Add((await f.AcquireAsync(runner))!);
        }

        Assert.Contains(small, firstLeases.Select(l => l.JobId));
        Assert.Equal(2, firstLeases.Count(l => l.ExecutionId == big));
    }

    [Fact]
    public async Task A_job_only_the_latest_waiting_runner_can_take_reaches_it_at_once_past_the_waiters_woken_first()
    {
        var label = Unique("handoff");
        var others = new List<Task<AcquireJobResponse>>();
        for (var i = 0; i < 3; i++)
        {
            var other = await f.RegisterAsync([label]);
            others.Add(f.Agent.AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 20 }, other.Headers).ResponseAsync);
        }

        var gpu = await f.RegisterAsync([label, "gpu"]);
        await Task.Delay(300); // the three plain runners wait longest: they are woken first
        var waiting = f.Agent.AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 20 }, gpu.Headers).ResponseAsync;
        await Task.Delay(300);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var jobId = await f.EnqueueAsync([label, "gpu"]);
        var lease = (await waiting.WaitAsync(TimeSpan.FromSeconds(20))).Job;

        Assert.Equal(jobId, lease?.JobId);
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(2));
        var plain = await f.EnqueueAsync([label]);
        var served = await Task.WhenAny(others).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(plain, (await served).Job?.JobId);
    }

    [Fact]
    public async Task A_drained_runner_gets_no_new_job_is_told_so_and_still_completes_the_one_it_runs()
    {
        var label = Unique("drain");
        var runner = await f.RegisterAsync([label]);
        var running = await f.EnqueueAsync([label]);
        var lease = (await f.AcquireAsync(runner))!;
        var waiting = f.Agent.AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 30 }, runner.Headers).ResponseAsync;
        var queued = await f.EnqueueAsync([label]);

        var drained = await f.Registry.DrainRunnerAsync(new DrainRunnerRequest { Id = runner.Id });
        var answer = await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        var heartbeat = await f.Agent.HeartbeatAsync(new HeartbeatRequest { Running = { Ref(running, lease.Attempt) } }, runner.Headers);
        await f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = running, Attempt = lease.Attempt }, runner.Headers);

        Assert.Equal(RunnerState.Draining, drained.State);
        Assert.True(answer.Drain);
        Assert.Null(answer.Job);
        Assert.True(heartbeat.Drain);
        Assert.Empty(heartbeat.Cancel);
        Assert.Equal(JobState.Succeeded, (await f.GetJobAsync(running)).State);
        Assert.Equal(JobState.Queued, (await f.GetJobAsync(queued)).State);
        Assert.Equal($"no online runner with labels [{label}]", (await f.GetJobAsync(queued)).QueueReason);
    }

    [Fact]
    public async Task A_drained_agent_finishes_its_job_and_exits_cleanly()
    {
        var label = Unique("drain-agent");
        await using var agent = f.StartAgent([label]);
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", "sleep 1; echo done=yes >> \"$PLATFORM_OUTPUTS\""]);
        await f.WaitForJobAsync(jobId, j => j.State == JobState.Running);

        await f.Registry.DrainRunnerAsync(new DrainRunnerRequest { Id = await agent.Agent.Registered });
        var exit = await agent.Run.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal((RunnerExitReason.Drained, 0), (exit.Reason, exit.ExitCode));
        var job = await f.GetJobAsync(jobId);
        Assert.Equal((JobState.Succeeded, "yes"), (job.State, job.Outputs["done"]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_drained_runner_stops_its_host_only_when_it_is_the_runner_program(bool stopHostWhenDrained)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddRunnerAgent(new RunnerOptions
        {
            Url = f.Address,
            Token = await f.CreateTokenAsync(),
            Name = Unique("hosted"),
            StopHostWhenDrained = stopHostWhenDrained,
        });
        using var host = builder.Build();
        await host.StartAsync();
        var agent = host.Services.GetRequiredService<Platform.Runner.RunnerAgent>();

        await f.Registry.DrainRunnerAsync(new DrainRunnerRequest { Id = await agent.Registered.WaitAsync(TimeSpan.FromSeconds(30)) });
        var exit = await agent.Completion.WaitAsync(TimeSpan.FromSeconds(30));
        await Task.Delay(200);

        Assert.Equal(RunnerExitReason.Drained, exit.Reason);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        Assert.Equal(stopHostWhenDrained, lifetime.ApplicationStopping.IsCancellationRequested);
        await host.StopAsync();
    }

    [Fact]
    public async Task A_revoked_runner_is_cut_off_at_once_and_its_job_runs_again_elsewhere_as_a_new_attempt()
    {
        var label = Unique("revoke");
        var revoked = await f.RegisterAsync([label]);
        var other = await f.RegisterAsync([label]);
        var jobId = await f.EnqueueAsync([label]);
        var lease = (await f.AcquireAsync(revoked))!;

        var response = await f.Registry.RevokeRunnerAsync(new RevokeRunnerRequest { Id = revoked.Id });

        Assert.Equal(1, response.RequeuedJobs);
        var calls = new Func<Task>[]
        {
            () => f.Agent.HeartbeatAsync(new HeartbeatRequest(), revoked.Headers).ResponseAsync,
            () => f.Agent.AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 1 }, revoked.Headers).ResponseAsync,
            () => f.Agent.CompleteJobAsync(new CompleteJobRequest { JobId = jobId, Attempt = lease.Attempt }, revoked.Headers).ResponseAsync,
        };
        foreach (var call in calls)
        {
            Assert.Equal(StatusCode.Unauthenticated, (await RefusedAsync(call)).StatusCode);
        }

        var again = await f.AcquireAsync(other);
        Assert.Equal((jobId, lease.Attempt + 1), (again?.JobId, again?.Attempt));
        var gone = await RefusedAsync(() => f.Registry.GetRunnerAsync(new GetRunnerRequest { Id = revoked.Id }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
        var listed = (await f.Registry.ListRunnersAsync(new ListRunnersRequest { PageSize = 500 })).Runners;
        Assert.DoesNotContain(listed, r => r.Id == revoked.Id);
    }

    [Fact]
    public async Task Draining_or_revoking_an_unknown_runner_is_not_found()
    {
        var id = Guid.NewGuid().ToString();

        var drain = await RefusedAsync(() => f.Registry.DrainRunnerAsync(new DrainRunnerRequest { Id = id }).ResponseAsync);
        var revoke = await RefusedAsync(() => f.Registry.RevokeRunnerAsync(new RevokeRunnerRequest { Id = id }).ResponseAsync);

        Assert.Equal((StatusCode.NotFound, StatusCode.NotFound), (drain.StatusCode, revoke.StatusCode));
    }
}
