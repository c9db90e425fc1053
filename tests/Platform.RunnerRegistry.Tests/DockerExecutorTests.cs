using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Protos.Runners.V1;
using Platform.Runner;
using Platform.Runner.Executors;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

/// <summary>The Docker executor against the real local engine, with an image built here (<see cref="DockerTestImage"/>).</summary>
public sealed class DockerExecutorTests : IAsyncLifetime
{
    private readonly DockerExecutor executor = new(Options(ImagePullPolicy.Never), NullLogger<DockerExecutor>.Instance);

    public Task InitializeAsync() => DockerTestImage.EnsureBuiltAsync();

    public Task DisposeAsync()
    {
        executor.Dispose();
        return Task.CompletedTask;
    }

    private static RunnerOptions Options(ImagePullPolicy pull) => new()
    {
        Url = new Uri("http://127.0.0.1:1"),
        Token = "unused",
        Name = Unique("docker-test"),
        Docker = new DockerExecutorOptions { PullPolicy = pull, StopTimeout = TimeSpan.FromSeconds(1) },
    };

    private static RunnerJob Job(string[] command, string image = DockerTestImage.Name,
        Dictionary<string, string>? env = null, string input = "{}") =>
        new(Guid.NewGuid(), 1, Guid.NewGuid(), "build", 1, command, image, env ?? [], input) { Executor = "docker" };

    [Fact]
    public async Task A_job_runs_in_a_container_of_its_image_with_env_input_outputs_and_logs()
    {
        var log = new RecordingLog();
        var job = Job(["sh", "-c", """
            echo "hello from $PLATFORM_STEP"
            echo "oops" >&2
            echo "input=$PLATFORM_INPUT" >> "$PLATFORM_OUTPUTS"
            echo "greeting=$GREETING" >> "$PLATFORM_OUTPUTS"
            """], env: new() { ["GREETING"] = "hi there" }, input: """{"version":"v1"}""");

        var result = await executor.RunAsync(job, log, CancellationToken.None);

        Assert.Equal((0, ""), (result.ExitCode, result.Error));
        Assert.Equal("""{"version":"v1"}""", result.Outputs["input"]);
        Assert.Equal("hi there", result.Outputs["greeting"]);
        Assert.Contains((JobOutputStream.Stdout, "hello from build"), log.Lines);
        Assert.Contains((JobOutputStream.Stderr, "oops"), log.Lines);
        Assert.Contains("hello from build", result.OutputTail, StringComparison.Ordinal);
        Assert.Empty(await DockerTestImage.ContainersOfJobAsync(job.JobId));
    }

    [Fact]
    public async Task A_failing_container_reports_its_exit_code_and_is_removed()
    {
        var job = Job(["sh", "-c", "echo broken >&2; exit 3"]);

        var result = await executor.RunAsync(job, NullJobLogSink.Instance, CancellationToken.None);

        Assert.Equal((3, "broken\n"), (result.ExitCode, result.OutputTail));
        Assert.Empty(await DockerTestImage.ContainersOfJobAsync(job.JobId));
    }

    [Fact]
    public async Task Stopping_a_job_stops_its_container_and_removes_it()
    {
        var job = Job(["sleep", "300"]);
        using var stop = new CancellationTokenSource();
        var run = executor.RunAsync(job, NullJobLogSink.Instance, stop.Token);
        await WaitUntilAsync(async () => (await DockerTestImage.ContainersOfJobAsync(job.JobId)).Any(c => c.State == "running"));

        var clock = Stopwatch.StartNew();
        await stop.CancelAsync();
        var result = await run.WaitAsync(TimeSpan.FromSeconds(30));

        // SIGTERM is ignored by sleep as PID 1: the engine kills it after the 1 s stop timeout.
        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(10));
        Assert.Equal(JobRunResult.StoppedError, result.Error);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Empty(await DockerTestImage.ContainersOfJobAsync(job.JobId));
    }

    [Fact]
    public async Task A_missing_image_with_pull_policy_never_fails_the_job_without_a_container()
    {
        var job = Job(["true"], image: "platform-test/absent:1");

        var result = await executor.RunAsync(job, NullJobLogSink.Instance, CancellationToken.None);

        Assert.Equal(JobRunResult.CannotStartExitCode, result.ExitCode);
        Assert.Equal("image 'platform-test/absent:1' is not present on the Docker engine and the pull policy is 'never'", result.Error);
        Assert.Empty(await DockerTestImage.ContainersOfJobAsync(job.JobId));
    }

    [Fact]
    public async Task A_missing_image_with_pull_policy_if_not_present_is_pulled_and_a_failed_pull_says_why()
    {
        using var pulling = new DockerExecutor(Options(ImagePullPolicy.IfNotPresent), NullLogger<DockerExecutor>.Instance);
        var job = Job(["true"], image: "127.0.0.1:1/platform-test/absent:1");

        var result = await pulling.RunAsync(job, NullJobLogSink.Instance, CancellationToken.None);

        Assert.Equal(JobRunResult.CannotStartExitCode, result.ExitCode);
        Assert.StartsWith("cannot pull image '127.0.0.1:1/platform-test/absent:1': ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_with_a_memory_limit_runs_with_it()
    {
        var job = Job(["sh", "-c", "echo limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes) >> $PLATFORM_OUTPUTS"])
            with { Resources = new JobResourceLimits("", "500m", "", "64Mi") };

        var result = await executor.RunAsync(job, NullJobLogSink.Instance, CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal((64 * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture), result.Outputs["limit"]);
    }

    [Fact]
    public async Task A_runner_starting_again_removes_the_containers_it_left_when_it_was_killed()
    {
        var name = Unique("killed-runner");
        var leftoverJob = Guid.NewGuid();
        using (var docker = DockerTestImage.Client())
        {
            var leftover = await docker.Containers.CreateContainerAsync(new Docker.DotNet.Models.CreateContainerParameters
            {
                Image = DockerTestImage.Name,
                Entrypoint = ["sleep", "300"],
                Labels = new Dictionary<string, string>
                {
                    [DockerExecutor.RunnerLabel] = name, [DockerExecutor.JobIdLabel] = leftoverJob.ToString(),
                },
            });
            await docker.Containers.StartContainerAsync(leftover.ID, new Docker.DotNet.Models.ContainerStartParameters());
        }

        var options = Options(ImagePullPolicy.Never);
        using var restarted = new DockerExecutor(new RunnerOptions
        {
            Url = options.Url, Token = options.Token, Name = name, Docker = options.Docker,
        }, NullLogger<DockerExecutor>.Instance);
        var result = await restarted.RunAsync(Job(["true"]), NullJobLogSink.Instance, CancellationToken.None);

        Assert.Equal(0, result.ExitCode);
        Assert.Empty(await DockerTestImage.ContainersOfJobAsync(leftoverJob));
    }

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("gave up waiting");
            }

            await Task.Delay(50);
        }
    }

    private sealed class RecordingLog : IJobLogSink
    {
        public ConcurrentQueue<(JobOutputStream, string)> Lines { get; } = new();

        public void WriteLine(JobOutputStream stream, string text) => Lines.Enqueue((stream, text));
    }
}

/// <summary>The Docker executor inside the real agent, against a registry: logs stored, outputs reported, a timeout
/// (the cancel Execution sends when a step's attempt times out) stops the container.</summary>
public sealed class DockerRunnerTests(RegistryFixture f) : IClassFixture<RegistryFixture>, IAsyncLifetime
{
    public Task InitializeAsync() => DockerTestImage.EnsureBuiltAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_container_job_succeeds_with_its_outputs_and_its_log_is_stored()
    {
        var label = Unique("docker");
        await using var agent = f.StartAgent([label], executor: "docker");
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", "echo building; echo tag=v1 >> $PLATFORM_OUTPUTS"],
            image: DockerTestImage.Name);

        var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null, TimeSpan.FromSeconds(60));
        var logs = await f.GetLogsAsync(jobId);

        Assert.Equal((JobState.Succeeded, 0, "v1"), (job.State, job.ExitCode, job.Outputs["tag"]));
        Assert.Equal(["building"], logs.Lines.Select(l => l.Text));
        Assert.True(logs.Complete);
        Assert.Empty(await DockerTestImage.ContainersOfJobAsync(Guid.Parse(jobId)));
    }

    [Fact]
    public async Task A_timed_out_container_job_is_stopped_and_its_container_removed()
    {
        var label = Unique("docker-timeout");
        await using var agent = f.StartAgent([label], executor: "docker");
        var jobId = await f.EnqueueAsync([label], ["sh", "-c", "echo started; sleep 300"], image: DockerTestImage.Name);
        await f.WaitForJobAsync(jobId, j => j.State == JobState.Running, TimeSpan.FromSeconds(60));
        await DockerExecutorTests.WaitUntilAsync(async () => (await f.GetLogsAsync(jobId)).Lines.Count > 0);

        await f.CancelAsync("timed out after 1s", jobId);
        var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null, TimeSpan.FromSeconds(30));

        Assert.Equal((JobState.Cancelled, "timed out after 1s"), (job.State, job.Error));
        Assert.Empty(await DockerTestImage.ContainersOfJobAsync(Guid.Parse(jobId)));
        Assert.Equal("started", (await f.GetLogsAsync(jobId)).Lines.First().Text);
    }

    [Fact]
    public async Task A_runner_with_docker_and_process_runs_each_job_with_the_executor_it_needs()
    {
        var label = Unique("mixed");
        await using var agent = f.StartAgent([label], executor: "docker,process", capacity: 2);
        var inContainer = await f.EnqueueAsync([label], ["sh", "-c", "echo where=$(cat /proc/1/comm) >> $PLATFORM_OUTPUTS"],
            image: DockerTestImage.Name);
        var asProcess = await f.EnqueueAsync([label], ["sh", "-c", "echo where=process >> \"$PLATFORM_OUTPUTS\""]);

        var container = await f.WaitForJobAsync(inContainer, j => j.FinishedAt is not null, TimeSpan.FromSeconds(60));
        var process = await f.WaitForJobAsync(asProcess, j => j.FinishedAt is not null, TimeSpan.FromSeconds(60));

        Assert.Equal((JobState.Succeeded, "sh"), (container.State, container.Outputs["where"]));
        Assert.Equal((JobState.Succeeded, "process"), (process.State, process.Outputs["where"]));
    }
}
