using System.Globalization;
using System.Reflection;

namespace Platform.Runner;

/// <summary>
/// How a runner is configured: by environment (DESIGN.md §8), or in code when a host embeds a runner.
/// </summary>
public sealed class RunnerOptions
{
    public const string UrlVariable = "PLATFORM_URL";
    public const string TokenVariable = "PLATFORM_RUNNER_TOKEN";
    public const string NameVariable = "PLATFORM_RUNNER_NAME";
    public const string LabelsVariable = "PLATFORM_RUNNER_LABELS";
    public const string CapacityVariable = "PLATFORM_RUNNER_CAPACITY";
    public const string ExecutorVariable = "PLATFORM_RUNNER_EXECUTOR";
    public const string DrainTimeoutVariable = "PLATFORM_RUNNER_DRAIN_TIMEOUT";
    public const string WorkDirectoryVariable = "PLATFORM_RUNNER_WORK_DIR";
    public const string DockerHostVariable = "PLATFORM_DOCKER_HOST";
    public const string DockerApiVersionVariable = "DOCKER_API_VERSION";
    public const string DockerPullVariable = "PLATFORM_DOCKER_PULL";
    public const string DockerStopTimeoutVariable = "PLATFORM_DOCKER_STOP_TIMEOUT";
    public const string DockerNetworkVariable = "PLATFORM_DOCKER_NETWORK";
    public const string KubernetesNamespaceVariable = "PLATFORM_K8S_NAMESPACE";
    public const string KubernetesApiServerVariable = "PLATFORM_K8S_API_SERVER";
    public const string KubeconfigVariable = "KUBECONFIG";
    public const string KubernetesServiceAccountVariable = "PLATFORM_K8S_SERVICE_ACCOUNT";

    /// <summary>The runner's own variables a job sees; nothing else of the runner's environment reaches a job.</summary>
    public static readonly IReadOnlyList<string> DefaultInheritedEnvironment = ["PATH", "HOME", "LANG", "TMPDIR"];

    /// <summary>gRPC address of Runner-Registry (<c>PLATFORM_URL</c>), e.g. <c>http://127.0.0.1:8081</c>.</summary>
    public Uri? Url { get; init; }

    /// <summary>For a runner inside the host that serves Runner-Registry (the Standalone host): its calls go straight to
    /// the registry's handlers through this invoker instead of over a channel to <see cref="Url"/>.</summary>
    public Grpc.Core.CallInvoker? InProcessTransport { get; init; }

    /// <summary>Registration token (<c>PLATFORM_RUNNER_TOKEN</c>).</summary>
    public string? Token { get; init; }

    /// <summary>Where an embedded runner gets a registration token when <see cref="Token"/> is not set (asked again
    /// for every registration attempt, so a single-use token is fine).</summary>
    public Func<CancellationToken, Task<string>>? TokenSource { get; init; }

    /// <summary><c>PLATFORM_RUNNER_NAME</c>, default the machine name. Registering a name again replaces the runner
    /// registered with it (its jobs are requeued at once).</summary>
    public string Name { get; init; } = Environment.MachineName;

    /// <summary><c>PLATFORM_RUNNER_LABELS</c>, comma-separated.</summary>
    public IReadOnlyList<string> Labels { get; init; } = [];

    /// <summary><c>PLATFORM_RUNNER_CAPACITY</c>: jobs run at the same time (default 1).</summary>
    public int Capacity { get; init; } = 1;

    /// <summary><c>PLATFORM_RUNNER_EXECUTOR</c>: <c>process</c> (default), <c>docker</c>, <c>kubernetes</c>, or several
    /// of them comma-separated (in order of preference for a job that more than one could run).</summary>
    public string Executor { get; init; } = "process";

    /// <summary><see cref="Executor"/> as a list of kinds.</summary>
    public IReadOnlyList<string> ExecutorKinds =>
        Executor.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(k => k.ToLowerInvariant()).Distinct().ToArray();

    /// <summary>Settings of the Docker executor.</summary>
    public DockerExecutorOptions Docker { get; init; } = new();

    /// <summary>Settings of the Kubernetes executor.</summary>
    public KubernetesExecutorOptions Kubernetes { get; init; } = new();

    public string Version { get; init; } = DefaultVersion;

    /// <summary><c>PLATFORM_RUNNER_DRAIN_TIMEOUT</c> (seconds, default 300): how long a stopping runner lets its
    /// running jobs finish before it stops them and reports them failed.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long one long poll (AcquireJob, AwaitCancellations) may be held by the server (seconds, at most 60).</summary>
    public int AcquireWaitSeconds { get; init; } = 30;

    /// <summary><c>PLATFORM_RUNNER_WORK_DIR</c>: where each job gets a fresh directory (default: a temp directory).</summary>
    public string? WorkDirectory { get; init; }

    public IReadOnlyList<string> InheritedEnvironment { get; init; } = DefaultInheritedEnvironment;

    /// <summary>When the agent cannot go on (registration refused, credential rejected), stop the host (default).</summary>
    public bool StopHostOnFatal { get; init; } = true;

    /// <summary>Stop the host once a drain the registry asked for is done: true for the runner program (it exits 0);
    /// false by default, so a host that embeds a runner (the Standalone host) keeps running without it.</summary>
    public bool StopHostWhenDrained { get; init; }

    public string EffectiveWorkDirectory =>
        string.IsNullOrWhiteSpace(WorkDirectory) ? Path.Combine(Path.GetTempPath(), "platform-runner") : WorkDirectory;

    public static string DefaultVersion { get; } =
        typeof(RunnerOptions).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            .Split('+')[0]
        ?? "0.0.0";

    /// <summary>Reads the options from the process environment.</summary>
    public static RunnerOptions FromEnvironment() => From(Environment.GetEnvironmentVariable);

    /// <summary>Reads the options from variables named as in DESIGN.md §8 and validates them.</summary>
    /// <exception cref="RunnerConfigurationException">a variable is missing or malformed.</exception>
    public static RunnerOptions From(Func<string, string?> variable)
    {
        var url = Value(variable, UrlVariable);
        Uri? parsedUrl = null;
        if (url is not null && (!Uri.TryCreate(url, UriKind.Absolute, out parsedUrl) || parsedUrl.Scheme is not ("http" or "https")))
        {
            throw new RunnerConfigurationException(
                $"{UrlVariable} must be an http(s) address of Runner-Registry's gRPC endpoint, e.g. http://127.0.0.1:8081 (got '{url}')");
        }

        var options = new RunnerOptions
        {
            Url = parsedUrl,
            Token = Value(variable, TokenVariable),
            Name = Value(variable, NameVariable) ?? Environment.MachineName,
            Labels = (Value(variable, LabelsVariable) ?? "")
                .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            Capacity = Number(variable, CapacityVariable, 1),
            Executor = Value(variable, ExecutorVariable)?.ToLowerInvariant() ?? "process",
            DrainTimeout = TimeSpan.FromSeconds(Number(variable, DrainTimeoutVariable, 300, minimum: 0)),
            WorkDirectory = Value(variable, WorkDirectoryVariable),
            StopHostWhenDrained = true,
            Docker = new DockerExecutorOptions
            {
                Endpoint = Value(variable, DockerHostVariable) ?? Value(variable, "DOCKER_HOST"),
                ApiVersion = Value(variable, DockerApiVersionVariable) ?? DockerExecutorOptions.DefaultApiVersion,
                PullPolicy = DockerExecutorOptions.ParsePullPolicy(Value(variable, DockerPullVariable)),
                StopTimeout = TimeSpan.FromSeconds(Number(variable, DockerStopTimeoutVariable, 10, minimum: 0)),
                Network = Value(variable, DockerNetworkVariable),
            },
            Kubernetes = new KubernetesExecutorOptions
            {
                Namespace = Value(variable, KubernetesNamespaceVariable) ?? "default",
                ApiServer = Value(variable, KubernetesApiServerVariable),
                Kubeconfig = Value(variable, KubeconfigVariable),
                ServiceAccount = Value(variable, KubernetesServiceAccountVariable),
            },
        };
        options.Validate();
        return options;
    }

    /// <exception cref="RunnerConfigurationException">the options cannot work.</exception>
    public void Validate()
    {
        if (Url is null && InProcessTransport is null)
        {
            throw new RunnerConfigurationException(
                $"{UrlVariable} is required: the gRPC address of Runner-Registry, e.g. http://127.0.0.1:8081");
        }

        if (string.IsNullOrWhiteSpace(Token) && TokenSource is null)
        {
            throw new RunnerConfigurationException(
                $"{TokenVariable} is required: create a registration token with POST /api/v1/runners/registration-tokens");
        }

        if (string.IsNullOrWhiteSpace(Name))
        {
            throw new RunnerConfigurationException($"{NameVariable} must not be empty");
        }

        if (Capacity < 1)
        {
            throw new RunnerConfigurationException($"{CapacityVariable} must be at least 1 (got {Capacity})");
        }

        if (AcquireWaitSeconds is < 1 or > 60)
        {
            throw new RunnerConfigurationException($"the acquire wait must be between 1 and 60 seconds (got {AcquireWaitSeconds})");
        }

        Executors.JobExecutors.EnsureSupported(ExecutorKinds);
    }

    private static string? Value(Func<string, string?> variable, string name) =>
        variable(name) is { } value && !string.IsNullOrWhiteSpace(value) ? value.Trim() : null;

    private static int Number(Func<string, string?> variable, string name, int fallback, int minimum = 1)
    {
        var value = Value(variable, name);
        if (value is null)
        {
            return fallback;
        }

        return int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= minimum
            ? number
            : throw new RunnerConfigurationException($"{name} must be a whole number of at least {minimum} (got '{value}')");
    }
}

/// <summary>When the Docker executor pulls a job's image.</summary>
public enum ImagePullPolicy
{
    /// <summary>Only when the engine does not have the image (default).</summary>
    IfNotPresent,

    /// <summary>Before every job.</summary>
    Always,

    /// <summary>Never: a missing image fails the job.</summary>
    Never,
}

/// <summary>The Docker executor's settings (environment: <c>PLATFORM_DOCKER_*</c>, <c>DOCKER_API_VERSION</c>).</summary>
public sealed class DockerExecutorOptions
{
    /// <summary>Engine API 1.41 is Docker 20.10's, which later engines still serve.</summary>
    public const string DefaultApiVersion = "1.41";

    /// <summary>The engine (<c>PLATFORM_DOCKER_HOST</c>, else <c>DOCKER_HOST</c>, else the local socket).</summary>
    public string? Endpoint { get; init; }

    public string ApiVersion { get; init; } = DefaultApiVersion;

    /// <summary><c>PLATFORM_DOCKER_PULL</c>: <c>if-not-present</c> (default), <c>always</c>, <c>never</c>.</summary>
    public ImagePullPolicy PullPolicy { get; init; } = ImagePullPolicy.IfNotPresent;

    /// <summary><c>PLATFORM_DOCKER_STOP_TIMEOUT</c> (seconds, default 10): how long a stopped job's container gets after
    /// SIGTERM before it is killed.</summary>
    public TimeSpan StopTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary><c>PLATFORM_DOCKER_NETWORK</c>: the network the containers join (default: the engine's default bridge).</summary>
    public string? Network { get; init; }

    public static ImagePullPolicy ParsePullPolicy(string? value) => value?.ToLowerInvariant() switch
    {
        null or "if-not-present" or "ifnotpresent" => ImagePullPolicy.IfNotPresent,
        "always" => ImagePullPolicy.Always,
        "never" => ImagePullPolicy.Never,
        _ => throw new RunnerConfigurationException(
            $"{RunnerOptions.DockerPullVariable} must be 'always', 'if-not-present' or 'never' (got '{value}')"),
    };
}

/// <summary>The Kubernetes executor's settings (environment: <c>PLATFORM_K8S_*</c>, <c>KUBECONFIG</c>).</summary>
public sealed class KubernetesExecutorOptions
{
    /// <summary><c>PLATFORM_K8S_NAMESPACE</c> (default <c>default</c>): where the job pods are created.</summary>
    public string Namespace { get; init; } = "default";

    /// <summary><c>PLATFORM_K8S_API_SERVER</c>: an API server address to use without credentials (a local proxy such as
    /// <c>kubectl proxy</c>); otherwise in-cluster credentials when running in a pod, else <see cref="Kubeconfig"/>.</summary>
    public string? ApiServer { get; init; }

    /// <summary><c>KUBECONFIG</c>: the kubeconfig file (default <c>~/.kube/config</c>) when not in a cluster.</summary>
    public string? Kubeconfig { get; init; }

    /// <summary><c>PLATFORM_K8S_SERVICE_ACCOUNT</c>: the service account the job pods run as (default: the namespace's).</summary>
    public string? ServiceAccount { get; init; }

    /// <summary>How often a job's pod is looked at while it starts and after its log ends.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The grace period a stopped job's pod gets when it is deleted.</summary>
    public TimeSpan DeleteGracePeriod { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a pod may stay pending (image pulls, scheduling) before the job fails.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>The runner is configured in a way it cannot work with; the message says what to change.</summary>
public sealed class RunnerConfigurationException(string message) : Exception(message);
