using System.Text.Json;
using Platform.Execution.Core;

namespace Platform.Execution.Domain;

/// <summary>What an execution needs of its agent, copied at start so later edits of the agent do not change it.</summary>
public sealed record AgentSnapshot(
    Guid Id,
    string Name,
    IReadOnlyList<string> Command,
    string Image,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<string> RunnerLabels);

/// <remarks><see cref="With"/> is a JsonElement (immutable) because pinned plans are shared between threads.</remarks>
public sealed record PinnedStep(string Name, IReadOnlyList<string> DependsOn, AgentSnapshot Agent, JsonElement? With);

/// <summary>A workflow revision resolved to a DAG, as pinned by an execution at start.</summary>
public sealed record PinnedWorkflow(Guid WorkflowId, int Revision, string Name, bool Archived, IReadOnlyList<PinnedStep> Steps)
{
    public ExecutionPlan ToPlan() =>
        new(Steps.Select(s => new PlannedStep(s.Name, s.DependsOn)).ToArray());

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
    IReadOnlyList<string> RunnerLabels);

/// <summary>Hands jobs to the Runner-Registry context. Idempotent by job id.</summary>
public interface IJobQueue
{
    Task EnqueueAsync(IReadOnlyList<JobRequest> jobs, CancellationToken cancellationToken);

    /// <summary>The results of those of <paramref name="jobs"/> that have ended (for the reconciler).</summary>
    Task<IReadOnlyList<JobResult>> GetEndedJobsAsync(IReadOnlyList<JobOfStep> jobs, CancellationToken cancellationToken);
}

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
