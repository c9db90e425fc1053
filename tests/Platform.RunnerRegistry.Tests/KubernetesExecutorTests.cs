using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Platform.Protos.Runners.V1;
using Platform.Runner;
using Platform.Runner.Executors;
using static Platform.RunnerRegistry.Tests.RegistryDriver;

namespace Platform.RunnerRegistry.Tests;

/// <summary>The Kubernetes executor against <see cref="FakeKubernetesApi"/>: the requests it makes, and what it makes
/// of the answers.</summary>
public sealed class KubernetesExecutorTests : IAsyncLifetime
{
    private FakeKubernetesApi api = null!;
    private KubernetesExecutor executor = null!;

    public async Task InitializeAsync()
    {
        api = await FakeKubernetesApi.StartAsync();
        executor = new KubernetesExecutor(Options(api), NullLogger<KubernetesExecutor>.Instance);
    }

    public async Task DisposeAsync()
    {
        executor.Dispose();
        await api.DisposeAsync();
    }

    internal static RunnerOptions Options(FakeKubernetesApi api) => new()
    {
        Url = new Uri("http://127.0.0.1:1"),
        Token = "unused",
        Kubernetes = new KubernetesExecutorOptions
        {
            ApiServer = api.Address.ToString().TrimEnd('/'),
            Namespace = "ci-jobs",
            PollInterval = TimeSpan.FromMilliseconds(20),
            DeleteGracePeriod = TimeSpan.FromSeconds(5),
        },
    };

    private static RunnerJob Job(string step = "Build Image") =>
        new(Guid.NewGuid(), 2, Guid.NewGuid(), step, 1, ["sh", "-c", "make"], "registry.local/builder:1",
            new Dictionary<string, string> { ["MODE"] = "release" }, """{"version":"v1"}""")
        {
            Executor = "kubernetes",
            Resources = new JobResourceLimits("250m", "1", "128Mi", "256Mi"),
        };

    private List<FakeKubernetesApi.Request> Requests(string method) => api.Requests.Where(r => r.Method == method).ToList();

    [Fact]
    public async Task A_job_becomes_a_labelled_pod_whose_log_is_followed_and_whose_termination_message_is_its_outputs()
    {
        api.Script = new(["compiling", "linking"], TerminationMessage: "tag=v1\nsize=3\n");
        var job = Job();
        var log = new ConcurrentQueue<(JobOutputStream, string)>();

        var result = await executor.RunAsync(job, new Sink(log), CancellationToken.None);

        Assert.Equal((0, ""), (result.ExitCode, result.Error));
        Assert.Equal(new Dictionary<string, string> { ["tag"] = "v1", ["size"] = "3" }, result.Outputs);
        Assert.Equal([(JobOutputStream.Stdout, "compiling"), (JobOutputStream.Stdout, "linking")], log);

        var name = KubernetesExecutor.PodName(job);
        var create = Assert.Single(Requests("POST"));
        Assert.Equal("/api/v1/namespaces/ci-jobs/pods", create.Path);
        var pod = create.Body!;
        Assert.Equal(name, (string?)pod["metadata"]!["name"]);
        var labels = pod["metadata"]!["labels"]!;
        Assert.Equal(job.ExecutionId.ToString(), (string?)labels["platform.io/execution-id"]);
        Assert.Equal("Build-Image", (string?)labels["platform.io/step"]);
        Assert.Equal("1", (string?)labels["platform.io/step-attempt"]);
        Assert.Equal("2", (string?)labels["platform.io/job-attempt"]);
        Assert.Equal("Build Image", (string?)pod["metadata"]!["annotations"]!["platform.io/step-name"]);
        Assert.Equal("Never", (string?)pod["spec"]!["restartPolicy"]);
        var container = pod["spec"]!["containers"]![0]!;
        Assert.Equal("registry.local/builder:1", (string?)container["image"]);
        Assert.Equal(["sh", "-c", "make"], container["command"]!.AsArray().Select(c => (string)c!));
        var env = container["env"]!.AsArray().ToDictionary(e => (string)e!["name"]!, e => (string?)e!["value"]);
        Assert.Equal("release", env["MODE"]);
        Assert.Equal("""{"version":"v1"}""", env["PLATFORM_INPUT"]);
        Assert.Equal(KubernetesExecutor.OutputsPath, env["PLATFORM_OUTPUTS"]);
        Assert.Equal(KubernetesExecutor.OutputsPath, (string?)container["terminationMessagePath"]);
        Assert.Equal(("250m", "128Mi"), ((string?)container["resources"]!["requests"]!["cpu"], (string?)container["resources"]!["requests"]!["memory"]));
        Assert.Equal(("1", "256Mi"), ((string?)container["resources"]!["limits"]!["cpu"], (string?)container["resources"]!["limits"]!["memory"]));

        Assert.Contains(Requests("GET"), r => r.Path == $"/api/v1/namespaces/ci-jobs/pods/{name}");
        var follow = Assert.Single(Requests("GET"), r => r.Path.EndsWith("/log", StringComparison.Ordinal));
        Assert.Equal($"/api/v1/namespaces/ci-jobs/pods/{name}/log", follow.Path);
        Assert.Contains("container=job", follow.Query, StringComparison.Ordinal);
        Assert.Contains("follow=true", follow.Query, StringComparison.Ordinal);
        var delete = Assert.Single(Requests("DELETE"));
        Assert.Equal($"/api/v1/namespaces/ci-jobs/pods/{name}", delete.Path);
    }

    [Fact]
    public async Task A_failing_pod_reports_its_exit_code_and_is_deleted()
    {
        api.Script = new(["boom"], ExitCode: 3);

        var result = await executor.RunAsync(Job(), NullJobLogSink.Instance, CancellationToken.None);

        Assert.Equal((3, "boom\n"), (result.ExitCode, result.OutputTail));
        Assert.Single(Requests("DELETE"));
    }

    [Fact]
    public async Task Stopping_a_job_deletes_its_pod_with_the_grace_period_at_once()
    {
        api.Script = new(["started"], RunUntilDeleted: true);
        using var stop = new CancellationTokenSource();
        var run = executor.RunAsync(Job(), NullJobLogSink.Instance, stop.Token);
        await DockerExecutorTests.WaitUntilAsync(() => Task.FromResult(api.Requests.Any(r => r.Path.EndsWith("/log", StringComparison.Ordinal))));

        var clock = Stopwatch.StartNew();
        await stop.CancelAsync();
        var result = await run.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.InRange(clock.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(3));
        Assert.Equal(JobRunResult.StoppedError, result.Error);
        var delete = Assert.Single(Requests("DELETE"));
        Assert.Equal(5, (int?)delete.Body?["gracePeriodSeconds"]);
    }

    [Fact]
    public async Task A_pod_whose_image_cannot_be_pulled_fails_the_job_and_is_deleted()
    {
        api.Script = new([], WaitingReason: "ErrImagePull");

        var result = await executor.RunAsync(Job(), NullJobLogSink.Instance, CancellationToken.None);

        Assert.Equal(JobRunResult.CannotStartExitCode, result.ExitCode);
        Assert.Contains("cannot start: ErrImagePull", result.Error, StringComparison.Ordinal);
        Assert.Single(Requests("DELETE"));
    }

    [Fact]
    public void Without_a_cluster_or_a_kubeconfig_the_executor_is_a_clear_configuration_error()
    {
        var options = new RunnerOptions
        {
            Url = new Uri("http://127.0.0.1:1"),
            Token = "unused",
            Kubernetes = new KubernetesExecutorOptions { Kubeconfig = "/nonexistent/kubeconfig" },
        };

        var error = Assert.Throws<RunnerConfigurationException>(() => new KubernetesExecutor(options, NullLogger<KubernetesExecutor>.Instance));

        Assert.StartsWith("the kubernetes executor found no cluster: not in a pod, and no usable kubeconfig (/nonexistent/kubeconfig",
            error.Message, StringComparison.Ordinal);
    }

    private sealed class Sink(ConcurrentQueue<(JobOutputStream, string)> lines) : IJobLogSink
    {
        public void WriteLine(JobOutputStream stream, string text) => lines.Enqueue((stream, text));
    }
}

/// <summary>A kubernetes runner (the real agent) against a registry and the fake API: the job's pod log is stored as
/// the job's log and its outputs reported.</summary>
public sealed class KubernetesRunnerTests(RegistryFixture f) : IClassFixture<RegistryFixture>
{
    [Fact]
    public async Task A_kubernetes_runner_runs_an_image_job_as_a_pod_and_reports_its_log_and_outputs()
    {
        await using var api = await FakeKubernetesApi.StartAsync();
        api.Script = new(["deploying"], TerminationMessage: "url=https://app.example\n");
        var label = Unique("k8s");
        await using var agent = f.StartAgent([label], executor: "kubernetes", kubernetes: KubernetesExecutorTests.Options(api).Kubernetes);
        var jobId = await f.EnqueueAsync([label], image: "registry.local/deployer:2");

        var job = await f.WaitForJobAsync(jobId, j => j.FinishedAt is not null);

        Assert.Equal((JobState.Succeeded, "https://app.example"), (job.State, job.Outputs["url"]));
        Assert.Equal(["deploying"], (await f.GetLogsAsync(jobId)).Lines.Select(l => l.Text));
        var pod = Assert.Single(api.Requests, r => r.Method == "POST").Body!;
        Assert.Equal(jobId, (string?)pod["metadata"]!["labels"]!["platform.io/job-id"]);
        Assert.Null(pod["spec"]!["containers"]![0]!["command"]); // no command: the image's own entrypoint
        Assert.Single(api.Requests, r => r.Method == "DELETE");
    }
}
