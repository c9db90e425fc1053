namespace Platform.Workflow.Expressions;

/// <summary>A node of a parsed expression. <see cref="Position"/> is the 0-based index of its first character in the
/// parsed text (for a template: in the whole template string).</summary>
public abstract record ExpressionNode(int Position)
{
    /// <summary>Levels of nodes under and including this one (bounded by <see cref="Expression.MaxDepth"/>).</summary>
    internal abstract int Depth { get; }
}

/// <summary>A string, number, boolean or null literal.</summary>
public sealed record LiteralNode(ExpressionValue Value, int Position) : ExpressionNode(Position)
{
    internal override int Depth => 1;
}

/// <summary><c>inputs</c>: the object the execution was started with.</summary>
public sealed record InputsNode(int Position) : ExpressionNode(Position)
{
    internal override int Depth => 1;
}

/// <summary><c>steps.&lt;step&gt;.status</c>: 'succeeded', 'failed', 'skipped', ... (null for a step that has not run).</summary>
public sealed record StepStatusNode(string Step, int Position) : ExpressionNode(Position)
{
    internal override int Depth => 1;
}

/// <summary><c>steps.&lt;step&gt;.outputs</c>: the step's outputs, an object of strings.</summary>
public sealed record StepOutputsNode(string Step, int Position) : ExpressionNode(Position)
{
    internal override int Depth => 1;
}

/// <summary><c>target.name</c> or <c>target['name']</c>.</summary>
public sealed record MemberNode(ExpressionNode Target, string Name, int Position) : ExpressionNode(Position)
{
    internal override int Depth { get; } = Target.Depth + 1;
}

/// <summary><c>target[index]</c> with an index that is not a string literal (a number, or an expression).</summary>
public sealed record IndexNode(ExpressionNode Target, ExpressionNode Index, int Position) : ExpressionNode(Position)
{
    internal override int Depth { get; } = Math.Max(Target.Depth, Index.Depth) + 1;
}

/// <summary><c>!operand</c>: true when the operand is falsy.</summary>
public sealed record NotNode(ExpressionNode Operand, int Position) : ExpressionNode(Position)
{
    internal override int Depth { get; } = Operand.Depth + 1;
}

public enum BinaryOperator
{
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    And,
    Or,
}

/// <summary>A comparison, or <c>&amp;&amp;</c> / <c>||</c> (which short-circuit and give one of their operands, as in
/// GitHub Actions: <c>inputs.env || 'staging'</c>). <see cref="ExpressionNode.Position"/> is the operator's.</summary>
public sealed record BinaryNode(BinaryOperator Operator, ExpressionNode Left, ExpressionNode Right, int Position)
    : ExpressionNode(Position)
{
    internal override int Depth { get; } = Math.Max(Left.Depth, Right.Depth) + 1;
}
