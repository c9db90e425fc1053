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

    /// <summary>The runner's own variables a job sees; nothing else of the runner's environment reaches a job.</summary>
    public static readonly IReadOnlyList<string> DefaultInheritedEnvironment = ["PATH", "HOME", "LANG", "TMPDIR"];

    /// <summary>gRPC address of Runner-Registry (<c>PLATFORM_URL</c>), e.g. <c>http://127.0.0.1:8081</c>.</summary>
    public Uri? Url { get; init; }

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

    /// <summary><c>PLATFORM_RUNNER_EXECUTOR</c>: <c>process</c> (default), <c>docker</c>, <c>kubernetes</c>.</summary>
    public string Executor { get; init; } = "process";

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
        };
        options.Validate();
        return options;
    }

    /// <exception cref="RunnerConfigurationException">the options cannot work.</exception>
    public void Validate()
    {
        if (Url is null)
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

        Executors.JobExecutors.EnsureSupported(Executor);
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

/// <summary>The runner is configured in a way it cannot work with; the message says what to change.</summary>
public sealed class RunnerConfigurationException(string message) : Exception(message);
