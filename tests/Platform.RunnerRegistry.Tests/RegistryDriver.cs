using Grpc.Core;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Protos.Runners.V1;
using Platform.Runner;
using Platform.Runner.Executors;
using RunnerAgent = Platform.Runner.RunnerAgent;

namespace Platform.RunnerRegistry.Tests;

/// <summary>A runner as the protocol sees it: its id and the credential its calls carry.</summary>
public sealed record TestRunner(string Id, string Name, Metadata Headers);

/// <summary>Short-hands for talking to the registry the way runners and Execution do.</summary>
public static class RegistryDriver
{
    public static string Unique(string prefix) => $"{prefix}-{Guid.NewGuid().ToString("N")[..8]}";

    public static async Task<string> CreateTokenAsync(this RegistryFixture f, string[]? labels = null, int expiresIn = 0,
        bool singleUse = false)
    {
        var request = new CreateRegistrationTokenRequest { ExpiresIn = expiresIn, SingleUse = singleUse };
        request.Labels.AddRange(labels ?? []);
        return (await f.Registry.CreateRegistrationTokenAsync(request)).Token;
    }

    public static async Task<TestRunner> RegisterAsync(this RegistryFixture f, string[] labels, int capacity = 1,
        string? name = null, string? token = null, string executor = "")
    {
        token ??= await f.CreateTokenAsync();
        name ??= Unique("runner");
        var request = new RegisterRunnerRequest
        {
            RegistrationToken = token, Name = name, Capacity = capacity, Version = "test", Executor = executor,
        };
        request.Labels.AddRange(labels);
        var response = await f.Agent.RegisterAsync(request);
        return new TestRunner(response.RunnerId, name, new Metadata { { "authorization", "Bearer " + response.Credential } });
    }

    public static async Task<string> EnqueueAsync(this RegistryFixture f, string[] labels, string[]? command = null,
        string? jobId = null, string inputJson = "{}", Dictionary<string, string>? env = null, string stepName = "build",
        string image = "", string executor = "", string? executionId = null)
    {
        jobId ??= Guid.NewGuid().ToString();
        var spec = new JobSpec { InputJson = inputJson, Image = image, Executor = executor };
        spec.Command.AddRange(command ?? (image.Length > 0 ? [] : ["true"]));
        spec.RunnerLabels.AddRange(labels);
        foreach (var (key, value) in env ?? [])
        {
            spec.Env[key] = value;
        }

        var request = new EnqueueJobsRequest();
        request.Jobs.Add(new JobToEnqueue
        {
            JobId = jobId,
            ExecutionId = executionId ?? Guid.NewGuid().ToString(),
            StepName = stepName,
            StepAttempt = 1,
            Spec = spec,
        });
        await f.Registry.EnqueueJobsAsync(request);
        return jobId;
    }

    public static async Task<JobLease?> AcquireAsync(this RegistryFixture f, TestRunner runner, int waitSeconds = 1)
    {
        var response = await f.Agent.AcquireJobAsync(new AcquireJobRequest { WaitSeconds = waitSeconds }, runner.Headers);
        return response.Job;
    }

    public static async Task<JobInfo> GetJobAsync(this RegistryFixture f, string jobId)
    {
        var request = new GetJobsRequest();
        request.JobIds.Add(jobId);
        return (await f.Registry.GetJobsAsync(request)).Jobs.Single();
    }

    public static async Task<JobInfo> WaitForJobAsync(this RegistryFixture f, string jobId, Func<JobInfo, bool> condition,
        TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (true)
        {
            var job = await f.GetJobAsync(jobId);
            if (condition(job))
            {
                return job;
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"job {jobId} is {job.State} at attempt {job.Attempt}; gave up waiting");
            }

            await Task.Delay(25);
        }
    }

    public static async Task CancelAsync(this RegistryFixture f, string reason, params string[] jobIds)
    {
        var request = new CancelJobsRequest { Reason = reason };
        request.JobIds.AddRange(jobIds);
        await f.Registry.CancelJobsAsync(request);
    }

    public static AsyncUnaryCall<AwaitCancellationsResponse> AwaitCancellations(this RegistryFixture f, TestRunner runner,
        int waitSeconds, params JobRef[] running)
    {
        var request = new AwaitCancellationsRequest { WaitSeconds = waitSeconds };
        request.Running.AddRange(running);
        return f.Agent.AwaitCancellationsAsync(request, runner.Headers);
    }

    public static async Task AppendLogsAsync(this RegistryFixture f, TestRunner runner, string jobId, int attempt,
        params (long Sequence, string Stream, string Text)[] lines)
    {
        var request = new AppendJobLogsRequest { JobId = jobId, Attempt = attempt };
        request.Lines.AddRange(lines.Select(l => new LogLine
        {
            Attempt = attempt,
            Sequence = l.Sequence,
            Stream = l.Stream,
            Text = l.Text,
            Time = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTime(DateTime.UtcNow),
        }));
        await f.Agent.AppendJobLogsAsync(request, runner.Headers);
    }

    public static Task<GetJobLogsResponse> GetLogsAsync(this RegistryFixture f, string jobId, long afterSequence = 0,
        int waitSeconds = 0, int limit = 0) =>
        f.Registry.GetJobLogsAsync(new GetJobLogsRequest
        {
            JobId = jobId, AfterSequence = afterSequence, WaitSeconds = waitSeconds, Limit = limit,
        }).ResponseAsync;

    public static JobRef Ref(string jobId, int attempt) => new() { JobId = jobId, Attempt = attempt };

    public static Task<RpcException> RefusedAsync(Func<Task> call) => Assert.ThrowsAsync<RpcException>(call);

    /// <summary>A real runner agent (Platform.Runner) against the fixture's registry.</summary>
    public static RunningAgent StartAgent(this RegistryFixture f, string[] labels, string? token = null, string? name = null,
        int capacity = 1, TimeSpan? drainTimeout = null, string executor = "process",
        KubernetesExecutorOptions? kubernetes = null)
    {
        var options = new RunnerOptions
        {
            Url = f.Address,
            Token = token ?? f.CreateTokenAsync().GetAwaiter().GetResult(),
            Name = name ?? Unique("agent"),
            Labels = labels,
            Capacity = capacity,
            DrainTimeout = drainTimeout ?? TimeSpan.FromSeconds(30),
            Executor = executor,
            Docker = new DockerExecutorOptions { StopTimeout = TimeSpan.FromSeconds(1), PullPolicy = ImagePullPolicy.Never },
            Kubernetes = kubernetes ?? new KubernetesExecutorOptions(),
        };
        var agent = new RunnerAgent(options, JobExecutors.Create(options, NullLoggerFactory.Instance),
            NullLogger<RunnerAgent>.Instance);
        return new RunningAgent(agent);
    }
}

/// <summary>An agent running in the background; disposing stops it (and waits for its drain).</summary>
public sealed class RunningAgent : IAsyncDisposable
{
    private readonly CancellationTokenSource stop = new();

    public RunningAgent(RunnerAgent agent)
    {
        Agent = agent;
        Run = Task.Run(() => agent.RunAsync(stop.Token));
    }

    public RunnerAgent Agent { get; }
    public Task<RunnerExit> Run { get; }

    public async Task<RunnerExit> StopAsync()
    {
        await stop.CancelAsync();
        return await Run.WaitAsync(TimeSpan.FromSeconds(60));
    }

    public async ValueTask DisposeAsync()
    {
        if (!Run.IsCompleted)
        {
            await StopAsync();
        }

        stop.Dispose();
    }
}
