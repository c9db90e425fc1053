using System.Text.Json;
using Platform.Execution.Core;

namespace Platform.Execution.Domain;

/// <summary>What an execution needs of its agent, copied at start so later edits of the agent do not change it.</summary>
/// <remarks>The init-only members came later: plans pinned before them read back with their defaults.</remarks>
public sealed record AgentSnapshot(
    Guid Id,
    string Name,
    IReadOnlyList<string> Command,
    string Image,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<string> RunnerLabels)
{
    /// <summary>The executor kind the agent names (empty: Runner-Registry chooses from the image).</summary>
    public string Executor { get; init; } = "";

    public JobResources Resources { get; init; } = JobResources.None;
}

/// <summary>What a job may use, as Kubernetes quantities; empty strings when not set.</summary>
public sealed record JobResources(string CpuRequest, string CpuLimit, string MemoryRequest, string MemoryLimit)
{
    public static readonly JobResources None = new("", "", "", "");
}

/// <remarks><see cref="With"/> is a JsonElement (immutable) because pinned plans are shared between threads.
/// The init-only members came later: plans pinned before them read back with their defaults.</remarks>
public sealed record PinnedStep(string Name, IReadOnlyList<string> DependsOn, AgentSnapshot Agent, JsonElement? With)
{
    /// <summary>"agent" or "approval".</summary>
    public string Type { get; init; } = "agent";
    public string? Condition { get; init; }
    public PinnedRetry? Retry { get; init; }
    public long TimeoutMs { get; init; }
    public bool ContinueOnFailure { get; init; }
    public PinnedCompensation? Compensation { get; init; }
}

public sealed record PinnedRetry(int MaxAttempts, long InitialMs, long MaxMs, double Multiplier, bool Jitter,
    IReadOnlyList<int> NonRetryableExitCodes);

public sealed record PinnedCompensation(AgentSnapshot Agent, JsonElement? With);

/// <summary>A workflow revision resolved to a DAG, as pinned by an execution at start.</summary>
public sealed record PinnedWorkflow(Guid WorkflowId, int Revision, string Name, bool Archived, IReadOnlyList<PinnedStep> Steps)
{
    /// <summary>Limit on the whole execution; 0 = none.</summary>
    public long TimeoutMs { get; init; }

    public ExecutionPlan ToPlan() =>
        new(Steps.Select(s => new PlannedStep(s.Name, s.DependsOn)
        {
            Kind = s.Type == "approval" ? StepKind.Approval : StepKind.Agent,
            Retry = s.Retry is { } r
                ? new RetryPolicy(r.MaxAttempts, TimeSpan.FromMilliseconds(r.InitialMs), TimeSpan.FromMilliseconds(r.MaxMs),
                    r.Multiplier, r.Jitter, r.NonRetryableExitCodes)
                : null,
            Timeout = s.TimeoutMs > 0 ? TimeSpan.FromMilliseconds(s.TimeoutMs) : null,
            ContinueOnFailure = s.ContinueOnFailure,
            HasCompensation = s.Compensation is not null,
            Condition = s.Condition,
        }).ToArray())
        {
            Timeout = TimeoutMs > 0 ? TimeSpan.FromMilliseconds(TimeoutMs) : null,
        };

    public PinnedStep? Find(string step)
    {
        foreach (var s in Steps)
        {
            if (s.Name == step)
            {
                return s;
            }
        }

        return null;
    }
}

/// <summary>Reads revisions from the Definitions context.</summary>
public interface IWorkflowCatalog
{
    /// <param name="revision">0 for the latest.</param>
    Task<PinnedWorkflow> ResolveAsync(Guid workflowId, int revision, CancellationToken cancellationToken);
}

/// <summary>One step attempt to run on a runner.</summary>
public sealed record JobRequest(
    Guid JobId,
    Guid ExecutionId,
    string StepName,
    int StepAttempt,
    IReadOnlyList<string> Command,
    string Image,
    IReadOnlyDictionary<string, string> Env,
    string InputJson,
    IReadOnlyList<string> RunnerLabels)
{
    public string Executor { get; init; } = "";

    public JobResources Resources { get; init; } = JobResources.None;
}

/// <summary>A job to stop on its runner (a cancelled execution, a timed-out attempt).</summary>
public sealed record JobCancellation(Guid JobId, Guid ExecutionId, string Reason);

/// <summary>Hands jobs to the Runner-Registry context. Idempotent by job id.</summary>
public interface IJobQueue
{
    Task EnqueueAsync(IReadOnlyList<JobRequest> jobs, CancellationToken cancellationToken);

    Task CancelAsync(IReadOnlyList<JobCancellation> cancellations, CancellationToken cancellationToken);

    /// <summary>A job's log lines after <paramref name="afterSequence"/>; with <paramref name="wait"/> a long poll.
    /// A job Runner-Registry does not know (yet) has no lines.</summary>
    Task<JobLog> GetLogAsync(Guid jobId, long afterSequence, int limit, TimeSpan wait, CancellationToken cancellationToken);

    /// <summary>For the queued ones of <paramref name="jobIds"/>: why no runner has taken them yet.</summary>
    Task<IReadOnlyDictionary<Guid, string>> GetQueueReasonsAsync(IReadOnlyList<Guid> jobIds, CancellationToken cancellationToken);

    /// <summary>The results of those of <paramref name="jobs"/> that have ended (for the reconciler).</summary>
    Task<IReadOnlyList<JobResult>> GetEndedJobsAsync(IReadOnlyList<JobOfStep> jobs, CancellationToken cancellationToken);
}

public sealed record JobLogLine(long Sequence, string Stream, string Text, DateTimeOffset Time);

/// <summary>Some of a job's log; <see cref="Complete"/>: the job ended and nothing follows these lines.</summary>
public sealed record JobLog(IReadOnlyList<JobLogLine> Lines, bool Complete);

/// <summary>The job that runs a step's attempt.</summary>
public sealed record JobOfStep(Guid JobId, string Step, int StepAttempt);

public enum JobResultKind
{
    Succeeded,
    Failed,
    Cancelled,
}

/// <summary>How a job ended, as Runner-Registry reports it.</summary>
public sealed record JobResult(
    Guid JobId,
    string Step,
    int StepAttempt,
    int JobAttempt,
    Guid? RunnerId,
    DateTimeOffset? StartedAt,
    JobResultKind Kind,
    int? ExitCode,
    IReadOnlyDictionary<string, string> Outputs,
    string? Error,
    string? OutputTail,
    DateTimeOffset FinishedAt);
