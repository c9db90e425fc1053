using Platform.Execution.Core;
using Platform.Execution.Core.Tests.Scenarios;
using Platform.Execution.Domain;

namespace Platform.Execution.Temporal.Tests.Scenarios;

/// <summary>
/// A catalog plan as Definitions would pin it (each step an agent of its own name; a compensated step's compensation
/// the agent <c>undo-{step}</c>), so that the Temporal engine, which starts from a pinned revision, can run it.
/// <see cref="PinnedWorkflow.ToPlan"/> gives the catalog's plan back. Shared with the integration suite (linked).
/// </summary>
public static class ScenarioPins
{
    public static PinnedWorkflow Pin(ExecutionPlan plan, Guid workflowId) => new(workflowId, 1, "scenario", false, plan.Steps.Select(s =>
        new PinnedStep(s.Name, s.DependsOn, Agent(s.Name), null)
        {
            Type = s.Kind == StepKind.Approval ? "approval" : "agent",
            Retry = s.Retry is { } r
                ? new PinnedRetry(r.MaxAttempts, (long)r.Initial.TotalMilliseconds, (long)r.Max.TotalMilliseconds, r.Multiplier, r.Jitter, r.NonRetryableExitCodes)
                : null,
            TimeoutMs = s.Timeout is { } t ? (long)t.TotalMilliseconds : 0,
            ContinueOnFailure = s.ContinueOnFailure,
            Condition = s.Condition,
            Compensation = s.HasCompensation ? new PinnedCompensation(Agent("undo-" + s.Name), null) : null,
        }).ToArray())
    {
        TimeoutMs = plan.Timeout is { } timeout ? (long)timeout.TotalMilliseconds : 0,
    };

    /// <summary>The scenario's input as the workflow takes it (JSON text; none: an empty object).</summary>
    public static string InputJson(Scenario scenario) => scenario.Input is { } input ? input.GetRawText() : "{}";

    /// <summary>
    /// Can the Temporal engine be offered this event from outside at all? Job results, a user's requests and timers
    /// firing can; a catalog may also offer what only the core itself records (a <c>StepSkipped</c>), to show it is
    /// refused — such an event never reaches a Temporal workflow.
    /// </summary>
    public static bool ReachesTheWorkflow(ExecutionEvent e) =>
        e is StepStarted or StepSucceeded or StepFailed or StepCancelled or CompensationSucceeded or CompensationFailed
            or CancelRequested or SignalReceived or RetryRequested or TimerFired;

    public static AgentSnapshot Agent(string name) =>
        new(Guid.Empty, name, ["run", name], "", new Dictionary<string, string>(), []);
}
