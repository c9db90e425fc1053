using Grpc.Core;
using Microsoft.Extensions.Options;
using Platform.BuildingBlocks.Errors;
using Platform.Protos.Runners.V1;
using Platform.RunnerRegistry.Application;
using Platform.RunnerRegistry.Domain;

namespace Platform.RunnerRegistry.Grpc;

/// <summary>The protocol runner agents speak. Calls but Register are authenticated by <see cref="RunnerCredentialInterceptor"/>.</summary>
internal sealed class RunnerAgentService(
    RunnerRegistration registration, JobQueue queue, JobLogs logs, IOptions<RunnerRegistryOptions> options)
    : Protos.Runners.V1.RunnerAgent.RunnerAgentBase
{
    public override async Task<RegisterRunnerResponse> Register(RegisterRunnerRequest request, ServerCallContext context)
    {
        var registered = await registration.RegisterAsync(new RunnerRegistrationRequest(
            request.RegistrationToken, request.Name, request.Labels, request.Capacity, request.Executor, request.Version),
            context.CancellationToken);
        return new RegisterRunnerResponse
        {
            RunnerId = registered.RunnerId.ToString(),
            Credential = registered.Credential,
            HeartbeatIntervalSeconds = options.Value.HeartbeatIntervalSeconds,
            LeaseTimeoutSeconds = options.Value.LeaseTimeoutSeconds,
        };
    }

    public override async Task<HeartbeatResponse> Heartbeat(HeartbeatRequest request, ServerCallContext context)
    {
        var runner = RunnerCredentialInterceptor.RunnerOf(context);
        var running = request.Running.Select((j, i) => j.ToKey($"running[{i}].job_id")).ToList();
        var (cancel, drain) = await queue.HeartbeatAsync(runner, running, context.CancellationToken);
        var response = new HeartbeatResponse { Drain = drain };
        response.Cancel.AddRange(cancel.Select(c => c.ToProto()));
        return response;
    }

    public override async Task<AcquireJobResponse> AcquireJob(AcquireJobRequest request, ServerCallContext context)
    {
        var runner = RunnerCredentialInterceptor.RunnerOf(context);
        var outcome = await queue.AcquireAsync(runner, WaitOf(request.WaitSeconds), context.CancellationToken);
        return new AcquireJobResponse { Job = outcome.Lease?.ToProto(), Drain = outcome.Drain };
    }

    public override async Task<ReportJobResponse> ReportJobStarted(ReportJobStartedRequest request, ServerCallContext context)
    {
        var runner = RunnerCredentialInterceptor.RunnerOf(context);
        await queue.ReportStartedAsync(runner, JobId(request.JobId), request.Attempt, context.CancellationToken,
            StartedAfterLease(request.StartedAfterLease));
        return new ReportJobResponse();
    }

    public override async Task<CompleteJobResponse> CompleteJob(CompleteJobRequest request, ServerCallContext context)
    {
        var runner = RunnerCredentialInterceptor.RunnerOf(context);
        var result = new JobResult(request.ExitCode,
            request.Outputs.ToDictionary(o => o.Key, o => o.Value, StringComparer.Ordinal), request.Error, request.OutputTail)
        {
            StartedAfterLease = StartedAfterLease(request.StartedAfterLease),
        };
        if (!request.AcquireNext)
        {
            await queue.CompleteAsync(runner, JobId(request.JobId), request.Attempt, result, context.CancellationToken);
            return new CompleteJobResponse();
        }

        var next = await queue.CompleteAndAcquireNextAsync(runner, JobId(request.JobId), request.Attempt, result,
            context.CancellationToken);
        return new CompleteJobResponse { Next = next.Lease?.ToProto(), Drain = next.Drain };
    }

    public override async Task<AwaitCancellationsResponse> AwaitCancellations(AwaitCancellationsRequest request,
        ServerCallContext context)
    {
        var runner = RunnerCredentialInterceptor.RunnerOf(context);
        var running = request.Running.Select((j, i) => j.ToKey($"running[{i}].job_id")).ToList();
        var wait = WaitOf(request.WaitSeconds);
        var cancel = await queue.AwaitCancellationsAsync(runner, running, wait, context.CancellationToken);
        var response = new AwaitCancellationsResponse();
        response.Cancel.AddRange(cancel.Select(c => c.ToProto()));
        return response;
    }

    public override async Task<AppendJobLogsResponse> AppendJobLogs(AppendJobLogsRequest request, ServerCallContext context)
    {
        var runner = RunnerCredentialInterceptor.RunnerOf(context);
        var jobId = JobId(request.JobId);
        var lines = request.ToNewLogLines();
        await logs.AppendAsync(runner, jobId, request.Attempt, lines, context.CancellationToken);
        return new AppendJobLogsResponse();
    }

    /// <summary>How long a long poll may be held: 0 means the default, more than the maximum means the maximum.</summary>
    private static TimeSpan WaitOf(int waitSeconds) => waitSeconds switch
    {
        < 0 => throw new ValidationFailedException("wait_seconds", "must not be negative"),
        0 => JobQueue.DefaultWait,
        _ => TimeSpan.FromSeconds(Math.Min(waitSeconds, JobQueue.MaxWait.TotalSeconds)),
    };

    private static Guid JobId(string value) =>
        Guid.TryParse(value, out var id) ? id : throw new NotFoundException("job", value);

    /// <summary>A negative or absurd delay is treated as unknown rather than refused: it only dates the start.</summary>
    private static TimeSpan? StartedAfterLease(Google.Protobuf.WellKnownTypes.Duration? value) =>
        value?.ToTimeSpan() is { } delay && delay >= TimeSpan.Zero && delay < TimeSpan.FromDays(1) ? delay : null;
}
