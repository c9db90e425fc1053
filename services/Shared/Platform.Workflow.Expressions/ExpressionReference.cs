namespace Platform.Workflow.Expressions;

public enum ReferenceKind
{
    /// <summary><c>inputs.&lt;key&gt;</c>, or <c>inputs</c> as a whole (<see cref="ExpressionReference.Key"/> null).</summary>
    Input,

    /// <summary><c>steps.&lt;step&gt;.status</c>.</summary>
    StepStatus,

    /// <summary><c>steps.&lt;step&gt;.outputs.&lt;key&gt;</c>, or the outputs as a whole or by a computed key
    /// (<see cref="ExpressionReference.Key"/> null).</summary>
    StepOutput,
}

/// <summary>An input or a step an expression names, with where it is named (0-based, in the parsed text).</summary>
/// <param name="Step">The step's name; null for an input.</param>
/// <param name="Key">The input or output key when written literally; null for the whole object or a computed key.</param>
public sealed record ExpressionReference(ReferenceKind Kind, string? Step, string? Key, int Position)
{
    public override string ToString() => Kind switch
    {
        ReferenceKind.Input => Key is null ? "inputs" : $"inputs.{Key}",
        ReferenceKind.StepStatus => $"steps['{Step}'].status",
        _ => Key is null ? $"steps['{Step}'].outputs" : $"steps['{Step}'].outputs.{Key}",
    };
}
