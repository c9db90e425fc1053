namespace Platform.Runner.Executors;

/// <summary>One step attempt as the runner runs it (mapped from the registry's lease at the edge).</summary>
public sealed record RunnerJob(
    Guid JobId,
    int Attempt,
    Guid ExecutionId,
    string StepName,
    int StepAttempt,
    IReadOnlyList<string> Command,
    string Image,
    IReadOnlyDictionary<string, string> Env,
    string InputJson)
{
    /// <summary>The executor kind the registry leased the job for (one of the runner's).</summary>
    public string Executor { get; init; } = "";

    public JobResourceLimits Resources { get; init; } = JobResourceLimits.None;
}

/// <summary>Kubernetes quantities ("500m", "256Mi"); empty when not set.</summary>
public sealed record JobResourceLimits(string CpuRequest, string CpuLimit, string MemoryRequest, string MemoryLimit)
{
    public static readonly JobResourceLimits None = new("", "", "", "");
}

/// <summary>How a job ended, as reported to the registry.</summary>
public sealed record JobRunResult(int ExitCode, IReadOnlyDictionary<string, string> Outputs, string Error, string OutputTail)
{
    /// <summary>The error of a job the runner stopped (cancelled, timed out, drained).</summary>
    public const string StoppedError = "the job was stopped";

    /// <summary>The exit code of a command that could not be started (as a shell reports a missing command).</summary>
    public const int CannotStartExitCode = 127;

    public static JobRunResult NotStarted(string error) =>
        new(CannotStartExitCode, new Dictionary<string, string>(), error, "");
}

/// <summary>Runs a job to its end. Cancelling the token stops the job (its whole process tree, container or pod)
/// and still returns a result.</summary>
public interface IJobExecutor
{
    Task<JobRunResult> RunAsync(RunnerJob job, CancellationToken stop) => RunAsync(job, NullJobLogSink.Instance, stop);

    /// <summary>Runs the job, handing its stdout and stderr to <paramref name="log"/> line by line as they arrive
    /// (every line before the method returns).</summary>
    Task<JobRunResult> RunAsync(RunnerJob job, IJobLogSink log, CancellationToken stop);
}
