using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Platform.BuildingBlocks.Errors;
using Platform.Execution.Domain;
using Platform.Protos.Definitions.V1;
using Platform.Protos.Runners.V1;

namespace Platform.Execution.Grpc;

/// <summary>Reads revisions from Definitions over gRPC and maps them into the Execution context's own types.</summary>
internal sealed class GrpcWorkflowCatalog(Definitions.DefinitionsClient client) : IWorkflowCatalog
{
    public async Task<PinnedWorkflow> ResolveAsync(Guid workflowId, int revision, CancellationToken cancellationToken)
    {
        ResolvedWorkflowRevision resolved;
        try
        {
            resolved = await client.ResolveWorkflowRevisionAsync(
                new ResolveWorkflowRevisionRequest { WorkflowId = workflowId.ToString(), Revision = revision },
                cancellationToken: cancellationToken);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            throw revision == 0
                ? new NotFoundException("workflow", workflowId.ToString())
                : new NotFoundException("workflow revision", $"{workflowId}/{revision}");
        }

        return new PinnedWorkflow(
            Guid.Parse(resolved.WorkflowId),
            resolved.Revision,
            resolved.Name,
            resolved.Archived,
            resolved.Steps.Select(s => new PinnedStep(s.Name, s.DependsOn.ToArray(), Snapshot(s.Agent), Json(s.With))
            {
                Type = string.IsNullOrEmpty(s.Type) ? "agent" : s.Type,
                Condition = string.IsNullOrEmpty(s.If) ? null : s.If,
                Retry = s.Retry is { } r
                    ? new PinnedRetry(r.MaxAttempts, r.InitialMs, r.MaxMs, r.Multiplier, r.Jitter, r.NonRetryableExitCodes.ToArray())
                    : null,
                TimeoutMs = s.TimeoutMs,
                ContinueOnFailure = s.ContinueOnFailure,
                Compensation = s.Compensate is { } c ? new PinnedCompensation(Snapshot(c.Agent), Json(c.With)) : null,
            }).ToArray())
        {
            TimeoutMs = resolved.TimeoutMs,
        };
    }

    private static AgentSnapshot Snapshot(Agent? agent) => new(
        Guid.TryParse(agent?.Id, out var agentId) ? agentId : Guid.Empty,
        agent?.Name ?? "",
        agent?.Command.ToArray() ?? [],
        agent?.Image ?? "",
        agent?.Env.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal) ?? [],
        agent?.RunnerLabels.ToArray() ?? [])
    {
        Executor = agent?.Executor ?? "",
        Resources = agent?.Resources is { } r
            ? new JobResources(r.CpuRequest, r.CpuLimit, r.MemoryRequest, r.MemoryLimit)
            : JobResources.None,
    };

    private static JsonElement? Json(Google.Protobuf.WellKnownTypes.Struct? value) =>
        value is { Fields.Count: > 0 } ? JsonSerializer.Deserialize<JsonElement>(JsonFormatter.Default.Format(value)) : null;
}

/// <summary>Enqueues jobs in Runner-Registry over gRPC.</summary>
public sealed class GrpcJobQueue(Protos.Runners.V1.RunnerRegistry.RunnerRegistryClient client) : IJobQueue
{
    public async Task EnqueueAsync(IReadOnlyList<JobRequest> jobs, CancellationToken cancellationToken) =>
        await client.EnqueueJobsAsync(ToEnqueueRequest(jobs), cancellationToken: cancellationToken);

    /// <summary>The jobs as Runner-Registry's API takes them (also used in process by the Standalone host).</summary>
    public static EnqueueJobsRequest ToEnqueueRequest(IReadOnlyList<JobRequest> jobs)
    {
        var request = new EnqueueJobsRequest();
        foreach (var job in jobs)
        {
            var spec = new JobSpec
            {
                Image = job.Image,
                InputJson = job.InputJson,
                Executor = job.Executor,
                Resources = new Resources
                {
                    CpuRequest = job.Resources.CpuRequest,
                    CpuLimit = job.Resources.CpuLimit,
                    MemoryRequest = job.Resources.MemoryRequest,
                    MemoryLimit = job.Resources.MemoryLimit,
                },
            };
            spec.Command.AddRange(job.Command);
            foreach (var (key, value) in job.Env)
            {
                spec.Env[key] = value;
            }
            spec.RunnerLabels.AddRange(job.RunnerLabels);
            request.Jobs.Add(new JobToEnqueue
            {
                JobId = job.JobId.ToString(),
                ExecutionId = job.ExecutionId.ToString(),
                StepName = job.StepName,
                StepAttempt = job.StepAttempt,
                Spec = spec,
            });
        }

        return request;
    }

    public async Task CancelAsync(IReadOnlyList<JobCancellation> cancellations, CancellationToken cancellationToken)
    {
        // One call per reason (in practice: per execution and cause).
        foreach (var group in cancellations.GroupBy(c => c.Reason, StringComparer.Ordinal))
        {
            var request = new CancelJobsRequest { Reason = group.Key };
            request.JobIds.AddRange(group.Select(c => c.JobId.ToString()));
            await client.CancelJobsAsync(request, cancellationToken: cancellationToken);
        }
    }

    public async Task<IReadOnlyDictionary<Guid, string>> GetQueueReasonsAsync(IReadOnlyList<Guid> jobIds, CancellationToken cancellationToken)
    {
        var request = new GetJobsRequest();
        request.JobIds.AddRange(jobIds.Select(id => id.ToString()));
        var response = await client.GetJobsAsync(request, cancellationToken: cancellationToken);
        return response.Jobs
            .Where(j => j.State == JobState.Queued && j.QueueReason.Length > 0)
            .ToDictionary(j => Guid.Parse(j.JobId), j => j.QueueReason);
    }

    public async Task<JobLog> GetLogAsync(Guid jobId, long afterSequence, int limit, TimeSpan wait, CancellationToken cancellationToken)
    {
        try
        {
            var response = await client.GetJobLogsAsync(new GetJobLogsRequest
            {
                JobId = jobId.ToString(),
                AfterSequence = afterSequence,
                Limit = limit,
                WaitSeconds = (int)wait.TotalSeconds,
            }, cancellationToken: cancellationToken);
            return new JobLog(
                response.Lines.Select(l => new JobLogLine(l.Sequence, l.Stream, l.Text, l.Time?.ToDateTimeOffset() ?? default)).ToList(),
                response.Complete);
        }
        catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound)
        {
            // Dispatched but not enqueued yet: no line so far.
            return new JobLog([], false);
        }
    }

    public async Task<IReadOnlyList<JobResult>> GetEndedJobsAsync(IReadOnlyList<JobOfStep> jobs, CancellationToken cancellationToken)
    {
        var request = new GetJobsRequest();
        request.JobIds.AddRange(jobs.Select(j => j.JobId.ToString()));
        var response = await client.GetJobsAsync(request, cancellationToken: cancellationToken);
        var byId = jobs.ToDictionary(j => j.JobId);
        var results = new List<JobResult>();
        foreach (var job in response.Jobs)
        {
            JobResultKind? kind = job.State switch
            {
                JobState.Succeeded => JobResultKind.Succeeded,
                JobState.Failed => JobResultKind.Failed,
                JobState.Cancelled => JobResultKind.Cancelled,
                _ => null,
            };
            if (kind is null || !Guid.TryParse(job.JobId, out var id) || !byId.TryGetValue(id, out var step))
            {
                continue;
            }

            results.Add(new JobResult(
                id,
                step.Step,
                step.StepAttempt,
                job.Attempt,
                Guid.TryParse(job.RunnerId, out var runner) ? runner : null,
                job.StartedAt?.ToDateTimeOffset(),
                kind.Value,
                job.HasExitCode ? job.ExitCode : null,
                job.Outputs.ToDictionary(o => o.Key, o => o.Value, StringComparer.Ordinal),
                string.IsNullOrEmpty(job.Error) ? null : job.Error,
                job.OutputTail,
                job.FinishedAt?.ToDateTimeOffset() ?? DateTimeOffset.UtcNow));
        }

        return results;
    }
}
