using System.Text.Json;
using Platform.Execution.Core;
using Platform.Workflow.Expressions;

namespace Platform.Execution.Engine;

/// <summary>What `${{ inputs.x }}` and `${{ steps.a.outputs.k }}` read: the execution's input and its steps' state.
/// A pure function of the folded state, so rendering a job's input is as deterministic as the decision itself.</summary>
public sealed class StateExpressionContext(JsonElement inputs, ExecutionState state) : IExpressionContext
{
    public JsonElement Inputs { get; } = inputs;

    // As the core's conditions see steps: one that has not run yet reads as null.
    public StepResult? GetStep(string name) =>
        state.FindStep(name) is { Status: not StepStatus.Pending } step
            ? new StepResult(step.Status.ToString().ToLowerInvariant(), step.Outputs)
            : null;
}
