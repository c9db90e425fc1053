using Grpc.Core;
using Microsoft.Extensions.Options;
using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.Protos.Runners.V1;
using Platform.RunnerRegistry.Application;
using Platform.RunnerRegistry.Domain;
using Platform.RunnerRegistry.Persistence;

namespace Platform.RunnerRegistry.Grpc;

/// <summary>Operators' and Execution's side of Runner-Registry (REST through JSON transcoding where the proto says).</summary>
internal sealed class RunnerRegistryService(
    RegistrationTokenIssuer issuer,
    RunnerStore runners,
    RunnerRegistration registration,
    JobQueue queue,
    JobLogs logs,
    IOptions<RunnerRegistryOptions> options,
    TimeProvider time) : Protos.Runners.V1.RunnerRegistry.RunnerRegistryBase
{
    public override async Task<RegistrationToken> CreateRegistrationToken(CreateRegistrationTokenRequest request,
        ServerCallContext context)
    {
        if (request.ExpiresIn < 0)
        {
            throw new ValidationFailedException("expires_in", "must not be negative");
        }

        var expiresIn = request.ExpiresIn == 0 ? RegistrationTokenSnapshot.DefaultLifetime : TimeSpan.FromSeconds(request.ExpiresIn);
        var issued = await issuer.CreateAsync(request.Labels, expiresIn, request.SingleUse, context.CancellationToken);
        return new RegistrationToken
        {
            Token = issued.Token,
            ExpiresAt = issued.ExpiresAt.ToTimestamp(),
            SingleUse = issued.SingleUse,
        };
    }

    public override async Task<ListRunnersResponse> ListRunners(ListRunnersRequest request, ServerCallContext context)
    {
        var size = Paging.Size(request.PageSize);
        var offset = Paging.Offset(request.PageToken);
        var page = await runners.ListAsync(size, offset, context.CancellationToken);
        var now = time.GetUtcNow();
        var response = new ListRunnersResponse { NextPageToken = Paging.NextToken(offset, size, page.Count) };
        response.Runners.AddRange(page.Select(r => r.ToProto(now, options.Value.HeartbeatInterval)));
        return response;
    }

    public override async Task<Runner> GetRunner(GetRunnerRequest request, ServerCallContext context)
    {
        var id = Ids.Parse(request.Id, "runner");
        var runner = await runners.GetAsync(id, context.CancellationToken)
                     ?? throw new NotFoundException("runner", request.Id);
        return runner.ToProto(time.GetUtcNow(), options.Value.HeartbeatInterval);
    }

    public override async Task<Runner> DrainRunner(DrainRunnerRequest request, ServerCallContext context)
    {
        var id = Ids.Parse(request.Id, "runner");
        if (!await registration.DrainAsync(id, context.CancellationToken))
        {
            throw new NotFoundException("runner", request.Id);
        }

        return await GetRunner(new GetRunnerRequest { Id = request.Id }, context);
    }

    public override async Task<RevokeRunnerResponse> RevokeRunner(RevokeRunnerRequest request, ServerCallContext context)
    {
        var id = Ids.Parse(request.Id, "runner");
        var requeued = await registration.RevokeAsync(id, context.CancellationToken)
                       ?? throw new NotFoundException("runner", request.Id);
        return new RevokeRunnerResponse { RequeuedJobs = requeued };
    }

    public override async Task<EnqueueJobsResponse> EnqueueJobs(EnqueueJobsRequest request, ServerCallContext context)
    {
        await queue.EnqueueAsync(request.ToNewJobs(), context.CancellationToken);
        return new EnqueueJobsResponse();
    }

    /// <summary>The longest cancel reason kept (the rest is cut): it becomes the job's error.</summary>
    public const int MaxReasonLength = 1000;

    /// <summary>The longest GetJobLogs may be held (a longer wait_seconds means this).</summary>
    private const int MaxLogWaitSeconds = 60;

    public override async Task<CancelJobsResponse> CancelJobs(CancelJobsRequest request, ServerCallContext context)
    {
        var ids = JobIds(request.JobIds);
        var reason = string.IsNullOrWhiteSpace(request.Reason) ? "cancelled" : request.Reason.Trim();
        if (reason.Length > MaxReasonLength)
        {
            reason = reason[..MaxReasonLength];
        }

        await queue.CancelAsync(ids, reason, context.CancellationToken);
        return new CancelJobsResponse();
    }

    public override async Task<GetJobsResponse> GetJobs(GetJobsRequest request, ServerCallContext context)
    {
        var ids = JobIds(request.JobIds);
        var response = new GetJobsResponse();
        if (ids.Length > 0)
        {
            response.Jobs.AddRange((await queue.GetJobsAsync(ids, context.CancellationToken)).Select(j => j.ToProto()));
        }

        return response;
    }

    public override async Task<GetJobLogsResponse> GetJobLogs(GetJobLogsRequest request, ServerCallContext context)
    {
        var violations = new List<FieldViolation>();
        if (!Guid.TryParse(request.JobId, out var jobId))
        {
            violations.Add(new FieldViolation("job_id", "must be a UUID"));
        }

        if (request.AfterSequence < 0)
        {
            violations.Add(new FieldViolation("after_sequence", "must not be negative"));
        }

        if (request.Limit < 0)
        {
            violations.Add(new FieldViolation("limit", "must not be negative"));
        }

        if (request.WaitSeconds < 0)
        {
            violations.Add(new FieldViolation("wait_seconds", "must not be negative"));
        }

        if (violations.Count > 0)
        {
            throw new ValidationFailedException(violations);
        }

        // 0 means the default; more than the maximum means the maximum (as the other long polls do).
        var limit = request.Limit == 0 ? JobLogLimits.DefaultReadLimit : Math.Min(request.Limit, JobLogLimits.MaxReadLimit);
        var wait = TimeSpan.FromSeconds(Math.Min(request.WaitSeconds, MaxLogWaitSeconds));
        var page = await logs.ReadAsync(jobId, request.AfterSequence, limit, wait, context.CancellationToken);
        var response = new GetJobLogsResponse { Complete = page.Complete };
        response.Lines.AddRange(page.Lines.Select(l => l.ToProto()));
        return response;
    }

    private static Guid[] JobIds(IEnumerable<string> ids) => ids.Select((id, i) => Guid.TryParse(id, out var g)
        ? g
        : throw new ValidationFailedException($"job_ids[{i}]", "must be a UUID")).ToArray();
}
