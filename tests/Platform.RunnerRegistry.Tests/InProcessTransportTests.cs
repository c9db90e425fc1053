using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Protos.Runners.V1;
using Platform.Runner;
using Platform.Runner.Executors;
using RunnerAgent = Platform.Runner.RunnerAgent;
using static Platform.RunnerRegistry.Tests.RegistryDriver;
using AgentClient = Platform.Protos.Runners.V1.RunnerAgent.RunnerAgentClient;

namespace Platform.RunnerRegistry.Tests;

/// <summary>
/// The runner protocol served in process (the Standalone host's embedded runner): the same answers as the gRPC
/// endpoint — credentials, fencing refusals, deadlines — and a real agent runs jobs over it.
/// </summary>
public sealed class InProcessTransportTests(RegistryFixture f) : IClassFixture<RegistryFixture>
{
    private AgentClient InProcess() => new(RunnerRegistryModule.InProcessRunnerTransport(f.Services));

    [Fact]
    public async Task A_runner_agent_on_the_in_process_transport_runs_jobs_and_reports_them()
    {
        var label = Unique("in-process");
        var options = new RunnerOptions
        {
            InProcessTransport = RunnerRegistryModule.InProcessRunnerTransport(f.Services),
            Token = await f.CreateTokenAsync(),
            Name = Unique("embedded"),
            Labels = [label],
            Capacity = 2,
        };
        await using var agent = new RunningAgent(new RunnerAgent(options, JobExecutors.Create(options, NullLoggerFactory.Instance),
            NullLogger<RunnerAgent>.Instance));
        var first = await f.EnqueueAsync([label], ["sh", "-c", "echo out=1 >> \"$PLATFORM_OUTPUTS\"; echo line"]);
        var second = await f.EnqueueAsync([label], ["sh", "-c", "exit 4"]);

        var succeeded = await f.WaitForJobAsync(first, j => j.FinishedAt is not null);
        var failed = await f.WaitForJobAsync(second, j => j.FinishedAt is not null);

        Assert.Equal((JobState.Succeeded, 0, "1", "line\n"), (succeeded.State, succeeded.ExitCode, succeeded.Outputs["out"], succeeded.OutputTail));
        Assert.Equal((JobState.Failed, 4), (failed.State, failed.ExitCode));
        Assert.Equal(await agent.Agent.Registered, succeeded.RunnerId);
        Assert.NotNull(succeeded.StartedAt);
    }

    [Fact]
    public async Task Refusals_have_the_same_status_as_over_grpc()
    {
        var label = Unique("in-process-refusal");
        var runner = await f.RegisterAsync([label]);
        var stranger = await f.RegisterAsync([label]);
        var jobId = await f.EnqueueAsync([label]);
        var lease = await InProcess().AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 5 }, runner.Headers);
        Assert.Equal(jobId, lease.Job?.JobId);

        // Someone else's job, a bad credential, a malformed job id: each refused as the gRPC endpoint refuses it.
        var calls = new Func<AgentClient, Task>[]
        {
            c => c.CompleteJobAsync(new CompleteJobRequest { JobId = jobId, Attempt = lease.Job!.Attempt }, stranger.Headers).ResponseAsync,
            c => c.HeartbeatAsync(new HeartbeatRequest(), new Metadata { { "authorization", "Bearer not-a-credential" } }).ResponseAsync,
            c => c.ReportJobStartedAsync(new ReportJobStartedRequest { JobId = "not-a-uuid", Attempt = 1 }, runner.Headers).ResponseAsync,
        };
        foreach (var call in calls)
        {
            var overGrpc = await RefusedAsync(() => call(f.Agent));
            var inProcess = await RefusedAsync(() => call(InProcess()));
            Assert.Equal((overGrpc.StatusCode, overGrpc.Status.Detail), (inProcess.StatusCode, inProcess.Status.Detail));
            Assert.NotEqual(StatusCode.Unknown, inProcess.StatusCode);
        }

        // The job is still the runner's to complete.
        await InProcess().CompleteJobAsync(new CompleteJobRequest { JobId = jobId, Attempt = lease.Job!.Attempt }, runner.Headers);
        Assert.Equal(JobState.Succeeded, (await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null)).State);
    }

    [Fact]
    public async Task A_call_whose_deadline_passes_ends_deadline_exceeded_and_a_cancelled_one_cancelled()
    {
        var runner = await f.RegisterAsync([Unique("in-process-idle")]);

        var late = await RefusedAsync(() => InProcess().AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 30 }, runner.Headers,
            deadline: DateTime.UtcNow.AddMilliseconds(300)).ResponseAsync);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        var cancelled = await RefusedAsync(() => InProcess().AcquireJobAsync(new AcquireJobRequest { WaitSeconds = 30 }, runner.Headers,
            cancellationToken: cancel.Token).ResponseAsync);

        Assert.Equal((StatusCode.DeadlineExceeded, StatusCode.Cancelled), (late.StatusCode, cancelled.StatusCode));
    }
}
