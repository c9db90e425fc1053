using Microsoft.Extensions.Logging;

namespace Platform.Runner.Executors;

public static class JobExecutors
{
    public const string Process = "process";
    public const string Docker = "docker";
    public const string Kubernetes = "kubernetes";

    public static readonly IReadOnlyList<string> Known = [Process, Docker, Kubernetes];

    /// <exception cref="RunnerConfigurationException">a kind is unknown, or none is given.</exception>
    public static void EnsureSupported(IReadOnlyList<string> kinds)
    {
        if (kinds.Count == 0)
        {
            throw new RunnerConfigurationException(
                $"{RunnerOptions.ExecutorVariable} must name at least one of '{Process}', '{Docker}' or '{Kubernetes}'");
        }

        foreach (var kind in kinds.Where(k => !Known.Contains(k)))
        {
            throw new RunnerConfigurationException(
                $"{RunnerOptions.ExecutorVariable} must be '{Process}', '{Docker}' or '{Kubernetes}', or several of them comma-separated (got '{kind}')");
        }
    }

    /// <summary>The executor of each kind the runner has; a job goes to the one of the kind its lease names.</summary>
    public static IJobExecutor Create(RunnerOptions options, ILoggerFactory loggers)
    {
        var kinds = options.ExecutorKinds;
        EnsureSupported(kinds);
        var executors = kinds.ToDictionary(k => k, k => k switch
        {
            Docker => (IJobExecutor)new DockerExecutor(options, loggers.CreateLogger<DockerExecutor>()),
            Kubernetes => new KubernetesExecutor(options, loggers.CreateLogger<KubernetesExecutor>()),
            _ => new ProcessExecutor(options, loggers.CreateLogger<ProcessExecutor>()),
        }, StringComparer.Ordinal);
        return executors.Count == 1 ? executors.Values.Single() : new ExecutorByKind(executors, kinds[0]);
    }

    /// <summary>Routes each job to the executor of the kind its lease names (the first kind when it names none: a
    /// registry that predates executor kinds).</summary>
    private sealed class ExecutorByKind(IReadOnlyDictionary<string, IJobExecutor> executors, string fallback) : IJobExecutor
    {
        public Task<JobRunResult> RunAsync(RunnerJob job, IJobLogSink log, CancellationToken stop) =>
            executors.TryGetValue(job.Executor.Length > 0 ? job.Executor : fallback, out var executor)
                ? executor.RunAsync(job, log, stop)
                : Task.FromResult(JobRunResult.NotStarted($"this runner has no '{job.Executor}' executor"));
    }
}
