using Microsoft.Extensions.Logging;

namespace Platform.Runner.Executors;

public static class JobExecutors
{
    public const string Process = "process";
    public const string Docker = "docker";
    public const string Kubernetes = "kubernetes";

    /// <exception cref="RunnerConfigurationException">the executor is unknown or not available in this runner.</exception>
    public static void EnsureSupported(string executor)
    {
        switch (executor)
        {
            case Process:
                return;
            case Docker or Kubernetes:
                throw new RunnerConfigurationException(
                    $"{RunnerOptions.ExecutorVariable}={executor} is not available in this runner yet; use '{Process}'");
            default:
                throw new RunnerConfigurationException(
                    $"{RunnerOptions.ExecutorVariable} must be '{Process}', '{Docker}' or '{Kubernetes}' (got '{executor}')");
        }
    }

    public static IJobExecutor Create(RunnerOptions options, ILoggerFactory loggers)
    {
        EnsureSupported(options.Executor);
        return new ProcessExecutor(options, loggers.CreateLogger<ProcessExecutor>());
    }
}
