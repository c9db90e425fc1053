using System.Globalization;
using Platform.BuildingBlocks;
using Platform.Execution.Contracts;
using Platform.Execution.Core;
using Platform.Execution.Domain;

namespace Platform.Execution.Engine;

/// <summary>The bus events an execution publishes, built the same way by every engine.</summary>
public static class ExecutionMessages
{
    public static Guid StartedMessageId(Guid executionId) => DeterministicGuid.Create(executionId.ToString(), "started");

    /// <summary>Per finish, not per execution: a retried execution finishes again, and that finish is news too.</summary>
    public static Guid FinishedMessageId(Guid executionId, long sequence) =>
        DeterministicGuid.Create(executionId.ToString(), "finished", sequence.ToString(CultureInfo.InvariantCulture));

    public static ExecutionStartedEvent Started(Guid executionId, PinnedWorkflow plan, DateTimeOffset at) =>
        new(executionId, plan.WorkflowId, plan.Revision, at);

    /// <param name="finish">the finish being published; <paramref name="state"/> is the state right after it.</param>
    public static ExecutionFinishedEvent Finished(Guid executionId, PinnedWorkflow plan, ExecutionFinished finish, ExecutionState state,
        DateTimeOffset at) =>
        new(executionId, plan.WorkflowId, plan.Revision, HistoryCodec.StatusName(finish.Status), finish.Error, StepOutputs(state), at);

    private static Dictionary<string, IReadOnlyDictionary<string, string>> StepOutputs(ExecutionState state)
    {
        var outputs = new Dictionary<string, IReadOnlyDictionary<string, string>>(StringComparer.Ordinal);
        foreach (var step in state.Steps)
        {
            if (step.Status == StepStatus.Succeeded)
            {
                outputs[step.Name] = step.Outputs;
            }
        }

        return outputs;
    }
}
