using Platform.Execution.Core;
using Temporalio.Worker.Interceptors;

namespace Platform.Execution.Temporal.IntegrationTests;

using Workflow = Temporalio.Workflows.Workflow;

/// <summary>
/// A worker interceptor (test only) that lets a test decide when the core's durable timers fire, so that a scenario's
/// script (a timer fires between two job results) plays in its order without waiting the scenario's 30 s or 1 h: a
/// timer the workflow starts for a core timer id (its summary) waits, deterministically, until the test fires it with
/// <see cref="FireSignal"/>. Everything else — signals, queries, activities, continue-as-new, the workflow's own
/// timer cancellations — is the real thing on the real server.
/// </summary>
public sealed class TimerControl : IWorkerInterceptor
{
    /// <summary>
    /// The test's "fire this timer" message: the workflow's <c>Signal</c> signal with this prefix before the timer id
    /// as the name. Taken by the interceptor; the workflow never sees it.
    /// </summary>
    public const string FirePrefix = "__test-fire-timer:";

    public static ApprovalSignal FireSignal(string timerId) => new(FirePrefix + timerId, new Dictionary<string, string>());

    public WorkflowInboundInterceptor InterceptWorkflow(WorkflowInboundInterceptor nextInterceptor) => new Inbound(nextInterceptor);

    private sealed class Inbound(WorkflowInboundInterceptor next) : WorkflowInboundInterceptor(next)
    {
        private readonly HashSet<string> fired = new(StringComparer.Ordinal);

        public override void Init(WorkflowOutboundInterceptor outbound) => base.Init(new Outbound(outbound, fired));

        public override Task HandleSignalAsync(HandleSignalInput input)
        {
            if (input.Signal == ExecutionWorkflow.ApprovalSignalName
                && input.Args.Length == 1
                && input.Args[0] is ApprovalSignal { Name: { } name }
                && name.StartsWith(FirePrefix, StringComparison.Ordinal))
            {
                fired.Add(name[FirePrefix.Length..]);
                return Task.CompletedTask;
            }

            return base.HandleSignalAsync(input);
        }
    }

    private sealed class Outbound(WorkflowOutboundInterceptor next, HashSet<string> fired) : WorkflowOutboundInterceptor(next)
    {
        public override async Task DelayAsync(DelayAsyncInput input)
        {
            if (input.Summary is not { } timerId || !TimerIds.TryParse(timerId, out _, out _, out _))
            {
                await base.DelayAsync(input);
                return;
            }

            await Workflow.WaitConditionAsync(() => fired.Contains(timerId), input.CancellationToken ?? Workflow.CancellationToken);
            fired.Remove(timerId);
        }
    }
}
