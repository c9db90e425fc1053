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
    string InputJson);

/// <summary>How a job ended, as reported to the registry.</summary>
public sealed record JobRunResult(int ExitCode, IReadOnlyDictionary<string, string> Outputs, string Error, string OutputTail)
{
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
