using System.Collections.Concurrent;
using Platform.Execution.Domain;
using Temporalio.Common;
using Temporalio.Exceptions;
using Temporalio.Worker;
using Temporalio.Worker.Interceptors;
using Temporalio.Workflows;

namespace Platform.Execution.Temporal.Tests.Replay;

/// <summary>
/// Replays built histories of <see cref="ExecutionWorkflow"/> in process (no server), each bounded in time (a
/// malformed history hangs rather than fails), with <see cref="Recorder"/> watching what the workflow does: replay
/// itself compares only the kind and order of commands, so the values (the jobs, the delays, the outcome) are asserted
/// on what the recorder saw.
/// </summary>
public static class Replays
{
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    /// <summary>Replays the history; throws what the replay throws (<see cref="WorkflowNondeterminismException"/> for a
    /// history the workflow does not produce).</summary>
    public static async Task<Recorder> ReplayAsync(WorkflowHistory history)
    {
        var recorder = new Recorder();
        var replayer = new WorkflowReplayer(new WorkflowReplayerOptions
        {
            Interceptors = [recorder],
        }.AddWorkflow<ExecutionWorkflow>());
        await replayer.ReplayWorkflowAsync(history).WaitAsync(Bound);
        return recorder;
    }
}

/// <summary>A worker interceptor that records the activities the workflow schedules (with their arguments), the
/// timers it starts, and how its run ended.</summary>
public sealed class Recorder : IWorkerInterceptor
{
    private readonly ConcurrentQueue<(string Activity, object? Argument)> activities = new();
    private readonly ConcurrentQueue<(TimeSpan Delay, string? Summary)> timers = new();

    public IReadOnlyList<(string Activity, object? Argument)> Activities => activities.ToArray();

    public IReadOnlyList<(TimeSpan Delay, string? Summary)> Timers => timers.ToArray();

    /// <summary>The jobs handed to <c>EnqueueJobs</c>, call by call.</summary>
    public IReadOnlyList<IReadOnlyList<JobRequest>> Enqueued =>
        Activities.Where(a => a.Activity == ExecutionActivities.EnqueueJobsName).Select(a => (IReadOnlyList<JobRequest>)a.Argument!).ToList();

    /// <summary>The cancellations handed to <c>CancelJobs</c>, call by call.</summary>
    public IReadOnlyList<IReadOnlyList<JobCancellation>> Cancelled =>
        Activities.Where(a => a.Activity == ExecutionActivities.CancelJobsName).Select(a => (IReadOnlyList<JobCancellation>)a.Argument!).ToList();

    /// <summary>What the workflow handed to the read model (<c>RecordDecision</c>), call by call.</summary>
    public IReadOnlyList<DecisionRecord> Decisions =>
        Activities.Where(a => a.Activity == ExecutionActivities.RecordDecisionName).Select(a => (DecisionRecord)a.Argument!).ToList();

    /// <summary>The activities on Runner-Registry (enqueue, cancel), in order: what the replay tests pin.</summary>
    public IReadOnlyList<string> JobQueueCalls =>
        Activities.Where(a => a.Activity != ExecutionActivities.RecordDecisionName).Select(a => a.Activity).ToList();

    /// <summary>The workflow's result, once it returned.</summary>
    public ExecutionOutcome? Outcome { get; private set; }

    /// <summary>The argument of the next run, when the workflow continued as new.</summary>
    public ExecutionWorkflowInput? ContinuedWith { get; private set; }

    public WorkflowInboundInterceptor InterceptWorkflow(WorkflowInboundInterceptor nextInterceptor) => new Inbound(nextInterceptor, this);

    private sealed class Inbound(WorkflowInboundInterceptor next, Recorder recorder) : WorkflowInboundInterceptor(next)
    {
        public override void Init(WorkflowOutboundInterceptor outbound) => base.Init(new Outbound(outbound, recorder));

        public override async Task<object?> ExecuteWorkflowAsync(ExecuteWorkflowInput input)
        {
            var result = await base.ExecuteWorkflowAsync(input);
            recorder.Outcome = result as ExecutionOutcome;
            return result;
        }
    }

    private sealed class Outbound(WorkflowOutboundInterceptor next, Recorder recorder) : WorkflowOutboundInterceptor(next)
    {
        public override Task<TResult> ScheduleActivityAsync<TResult>(ScheduleActivityInput input)
        {
            recorder.activities.Enqueue((input.Activity, input.Args.SingleOrDefault()));
            return base.ScheduleActivityAsync<TResult>(input);
        }

        public override Task DelayAsync(DelayAsyncInput input)
        {
            recorder.timers.Enqueue((input.Delay, input.Summary));
            return base.DelayAsync(input);
        }

        public override ContinueAsNewException CreateContinueAsNewException(CreateContinueAsNewExceptionInput input)
        {
            recorder.ContinuedWith = input.Args.SingleOrDefault() as ExecutionWorkflowInput;
            return base.CreateContinueAsNewException(input);
        }
    }
}
