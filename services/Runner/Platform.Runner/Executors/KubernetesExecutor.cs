using System.Buffers;
using System.Globalization;
using System.Net;
using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Platform.Runner.Executors;

/// <summary>
/// Runs the job as a pod (restart policy Never) in the configured namespace, one per step attempt, labelled with its
/// execution, step, job and attempt. The agent's command (argv) replaces the image's entrypoint, its env and the
/// <c>PLATFORM_*</c> variables are the container's environment, and its resources are the container's requests and
/// limits. Outputs come back through the container's termination message: <c>PLATFORM_OUTPUTS</c> names the file the
/// kubelet reads it from (at most 4 KiB). The pod's log is followed while it runs. The pod is deleted when the job
/// ends, and at once when it is stopped (cancel, timeout, drain).
/// </summary>
/// <remarks>The API calls it makes: POST and GET <c>/api/v1/namespaces/{ns}/pods[/{name}]</c>, GET
/// <c>.../pods/{name}/log?container=job&amp;follow=true</c>, DELETE <c>.../pods/{name}</c>.</remarks>
public sealed class KubernetesExecutor : IJobExecutor, IDisposable
{
    public const string ContainerName = "job";

    /// <summary>Where the kubelet takes the termination message from; the job writes its outputs there.</summary>
    public const string OutputsPath = "/dev/termination-log";

    public const string ExecutionIdLabel = "platform.io/execution-id";
    public const string JobIdLabel = "platform.io/job-id";
    public const string StepLabel = "platform.io/step";
    public const string StepAttemptLabel = "platform.io/step-attempt";
    public const string JobAttemptLabel = "platform.io/job-attempt";
    public const string StepNameAnnotation = "platform.io/step-name";

    /// <summary>Waiting reasons that mean the container will not start without someone changing something.</summary>
    private static readonly HashSet<string> FatalWaitingReasons = new(StringComparer.Ordinal)
    {
        "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "CreateContainerConfigError", "CreateContainerError",
    };

    private static readonly TimeSpan CleanupTimeout = TimeSpan.FromSeconds(30);

    private readonly KubernetesExecutorOptions options;
    private readonly ILogger<KubernetesExecutor> logger;
    private readonly Kubernetes client;

    public KubernetesExecutor(RunnerOptions options, ILogger<KubernetesExecutor> logger)
    {
        this.options = options.Kubernetes;
        this.logger = logger;
        client = new Kubernetes(Configuration(this.options));
    }

    /// <summary>An explicit API server (no credentials: a local proxy), else the pod's service account when the runner
    /// runs in a cluster, else the kubeconfig.</summary>
    private static KubernetesClientConfiguration Configuration(KubernetesExecutorOptions options)
    {
        if (!string.IsNullOrWhiteSpace(options.ApiServer))
        {
            return new KubernetesClientConfiguration { Host = options.ApiServer };
        }

        try
        {
            return KubernetesClientConfiguration.IsInCluster()
                ? KubernetesClientConfiguration.InClusterConfig()
                : KubernetesClientConfiguration.BuildConfigFromConfigFile(options.Kubeconfig);
        }
        catch (Exception ex) when (ex is k8s.Exceptions.KubeConfigException or IOException)
        {
            throw new RunnerConfigurationException(
                $"the kubernetes executor found no cluster: not in a pod, and no usable kubeconfig ({options.Kubeconfig ?? "~/.kube/config"}: {ex.Message}); set {RunnerOptions.KubeconfigVariable} or {RunnerOptions.KubernetesApiServerVariable}");
        }
    }

    public void Dispose() => client.Dispose();

    public async Task<JobRunResult> RunAsync(RunnerJob job, IJobLogSink log, CancellationToken stop)
    {
        if (string.IsNullOrWhiteSpace(job.Image))
        {
            return JobRunResult.NotStarted("the job has no image: the kubernetes executor runs the agent's image in a pod");
        }

        var name = PodName(job);
        try
        {
            await client.CoreV1.CreateNamespacedPodAsync(Pod(job, name), options.Namespace, cancellationToken: stop);
        }
        catch (HttpOperationException ex)
        {
            return JobRunResult.NotStarted($"cannot create pod {options.Namespace}/{name}: {Describe(ex)}");
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return new JobRunResult(RunnerAgent.NotRunExitCode, new Dictionary<string, string>(), JobRunResult.StoppedError, "");
        }

        logger.LogDebug("Job {JobId} attempt {Attempt} runs in pod {Namespace}/{Pod}", job.JobId, job.Attempt, options.Namespace, name);
        var tail = new OutputTailBuffer();
        try
        {
            return await RunPodAsync(name, tail, log, stop);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return new JobRunResult(RunnerAgent.NotRunExitCode, new Dictionary<string, string>(), JobRunResult.StoppedError,
                tail.ToString());
        }
        catch (HttpOperationException ex)
        {
            return new JobRunResult(RunnerAgent.NotRunExitCode, new Dictionary<string, string>(),
                $"lost track of pod {options.Namespace}/{name}: {Describe(ex)}", tail.ToString());
        }
        finally
        {
            await DeleteAsync(name, job, stopped: stop.IsCancellationRequested);
        }
    }

    private async Task<JobRunResult> RunPodAsync(string name, OutputTailBuffer tail, IJobLogSink log, CancellationToken stop)
    {
        // Until the container runs (or already ended): the log cannot be followed before.
        var startBy = DateTimeOffset.UtcNow + options.StartTimeout;
        while (true)
        {
            var pod = await client.CoreV1.ReadNamespacedPodAsync(name, options.Namespace, cancellationToken: stop);
            var state = JobContainer(pod)?.State;
            if (state?.Running is not null || state?.Terminated is not null || pod.Status?.Phase is "Succeeded" or "Failed")
            {
                break;
            }

            if (state?.Waiting is { Reason: { } reason } waiting && FatalWaitingReasons.Contains(reason))
            {
                return JobRunResult.NotStarted($"pod {options.Namespace}/{name} cannot start: {reason}: {waiting.Message}");
            }

            if (DateTimeOffset.UtcNow > startBy)
            {
                return JobRunResult.NotStarted(
                    $"pod {options.Namespace}/{name} did not start within {options.StartTimeout} (phase {pod.Status?.Phase})");
            }

            await Task.Delay(options.PollInterval, stop);
        }

        await FollowLogAsync(name, tail, log, stop);

        // The log ends when the container does; its status can lag a moment behind.
        while (true)
        {
            var pod = await client.CoreV1.ReadNamespacedPodAsync(name, options.Namespace, cancellationToken: stop);
            if (JobContainer(pod)?.State?.Terminated is { } terminated)
            {
                var error = terminated.ExitCode == 0 || string.IsNullOrEmpty(terminated.Reason) || terminated.Reason == "Error"
                    ? ""
                    : $"the container ended: {terminated.Reason}";
                return new JobRunResult(terminated.ExitCode, OutputsFile.Parse(terminated.Message ?? ""), error, tail.ToString());
            }

            await Task.Delay(options.PollInterval, stop);
        }
    }

    private async Task FollowLogAsync(string name, OutputTailBuffer tail, IJobLogSink log, CancellationToken stop)
    {
        // Kubernetes merges stdout and stderr into one log: every line is reported as stdout.
        var lines = new OutputLineSplitter(JobOutputStream.Stdout, log);
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            await using var stream = await client.CoreV1.ReadNamespacedPodLogAsync(name, options.Namespace,
                container: ContainerName, follow: true, cancellationToken: stop);
            int read;
            while ((read = await stream.ReadAsync(buffer, stop)) > 0)
            {
                tail.Append(buffer.AsSpan(0, read));
                lines.Append(buffer.AsSpan(0, read));
            }
        }
        catch (IOException ex)
        {
            logger.LogDebug("The log of pod {Pod} broke off: {Reason}", name, ex.Message);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            lines.Complete();
        }
    }

    private async Task DeleteAsync(string name, RunnerJob job, bool stopped)
    {
        try
        {
            using var timeout = new CancellationTokenSource(CleanupTimeout);
            // A stopped job's pod gets the grace period; a finished one has nothing left to stop.
            var grace = stopped ? (long)options.DeleteGracePeriod.TotalSeconds : 0;
            await client.CoreV1.DeleteNamespacedPodAsync(name, options.Namespace,
                new V1DeleteOptions { GracePeriodSeconds = grace, PropagationPolicy = "Background" },
                cancellationToken: timeout.Token);
        }
        catch (HttpOperationException ex) when (ex.Response.StatusCode == HttpStatusCode.NotFound)
        {
            // Already gone.
        }
        catch (Exception ex) when (ex is HttpOperationException or HttpRequestException or OperationCanceledException)
        {
            logger.LogWarning("Could not delete pod {Namespace}/{Pod} of job {JobId}: {Reason}", options.Namespace, name,
                job.JobId, ex.Message);
        }
    }

    private V1Pod Pod(RunnerJob job, string name)
    {
        var env = job.Env.Concat(JobEnvironment.Platform(job, OutputsPath))
            .Select(e => new V1EnvVar { Name = e.Key, Value = e.Value }).ToList();
        var container = new V1Container
        {
            Name = ContainerName,
            Image = job.Image,
            Env = env,
            TerminationMessagePath = OutputsPath,
            TerminationMessagePolicy = "File",
            Resources = Resources(job.Resources),
        };
        if (job.Command.Count > 0)
        {
            container.Command = [.. job.Command];
        }

        return new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = options.Namespace,
                Labels = new Dictionary<string, string>
                {
                    [ExecutionIdLabel] = job.ExecutionId.ToString(),
                    [JobIdLabel] = job.JobId.ToString(),
                    [StepLabel] = LabelValue(job.StepName),
                    [StepAttemptLabel] = job.StepAttempt.ToString(CultureInfo.InvariantCulture),
                    [JobAttemptLabel] = job.Attempt.ToString(CultureInfo.InvariantCulture),
                },
                Annotations = new Dictionary<string, string> { [StepNameAnnotation] = job.StepName },
            },
            Spec = new V1PodSpec
            {
                RestartPolicy = "Never",
                ServiceAccountName = options.ServiceAccount,
                Containers = [container],
            },
        };
    }

    private static V1ResourceRequirements? Resources(JobResourceLimits resources)
    {
        var requests = Quantities(("cpu", resources.CpuRequest), ("memory", resources.MemoryRequest));
        var limits = Quantities(("cpu", resources.CpuLimit), ("memory", resources.MemoryLimit));
        return requests is null && limits is null ? null : new V1ResourceRequirements { Requests = requests, Limits = limits };
    }

    private static Dictionary<string, ResourceQuantity>? Quantities(params (string Name, string Value)[] quantities)
    {
        var set = quantities.Where(q => q.Value.Length > 0).ToDictionary(q => q.Name, q => new ResourceQuantity(q.Value));
        return set.Count == 0 ? null : set;
    }

    private static V1ContainerStatus? JobContainer(V1Pod pod) =>
        pod.Status?.ContainerStatuses?.FirstOrDefault(c => c.Name == ContainerName);

    /// <summary>One name per job attempt (so a retried create finds its own pod).</summary>
    public static string PodName(RunnerJob job) => $"platform-{job.JobId:N}-{job.Attempt}";

    /// <summary>A step name as a label value: at most 63 of [A-Za-z0-9-_.], starting and ending alphanumeric (the full
    /// name is in an annotation).</summary>
    public static string LabelValue(string text)
    {
        var value = new StringBuilder(Math.Min(text.Length, 63));
        foreach (var c in text)
        {
            value.Append(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' ? c : '-');
            if (value.Length == 63)
            {
                break;
            }
        }

        return value.ToString().Trim('-', '_', '.');
    }

    private static string Describe(HttpOperationException ex) =>
        $"{(int)ex.Response.StatusCode} {ex.Response.StatusCode}: {ex.Response.Content}";
}
