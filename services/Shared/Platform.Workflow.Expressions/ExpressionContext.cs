using System.Text.Json;

namespace Platform.Workflow.Expressions;

/// <summary>What expressions read at run time: the execution's inputs and the steps that have finished.</summary>
public interface IExpressionContext
{
    /// <summary>The input object of the execution; an undefined element (<c>default</c>) when there is none.</summary>
    JsonElement Inputs { get; }

    /// <summary>The step's status and outputs; null when the step is unknown or has not run (its status and outputs
    /// are then null).</summary>
    StepResult? GetStep(string name);
}

/// <param name="Status">The step's status in lower case: 'succeeded', 'failed', 'skipped', 'cancelled', ...</param>
/// <param name="Outputs">The step's outputs (the <c>key=value</c> lines it wrote); empty when it wrote none.</param>
public sealed record StepResult(string Status, IReadOnlyDictionary<string, string> Outputs)
{
    public static StepResult Of(string status, IReadOnlyDictionary<string, string>? outputs = null) =>
        new(status, outputs ?? new Dictionary<string, string>());
}

/// <summary>A context over an input object and a map of step results.</summary>
public sealed class ExpressionContext(JsonElement inputs, IReadOnlyDictionary<string, StepResult>? steps = null)
    : IExpressionContext
{
    /// <summary>No inputs, no steps: every reference is null.</summary>
    public static readonly ExpressionContext Empty = new(default);

    public JsonElement Inputs { get; } = inputs;

    public StepResult? GetStep(string name) => steps is not null && steps.TryGetValue(name, out var step) ? step : null;
}
