using System.Text.Json;

namespace Platform.Workflow.Expressions;

/// <summary>Evaluates a parsed expression. Total: a missing input, step or output is null, a property of something
/// that has none is null; nothing throws.</summary>
internal static class Evaluator
{
    public static ExpressionValue Evaluate(ExpressionNode node, IExpressionContext context) => node switch
    {
        LiteralNode literal => literal.Value,
        InputsNode => ExpressionValue.FromJson(context.Inputs),
        StepStatusNode status => ExpressionValue.FromString(context.GetStep(status.Step)?.Status),
        StepOutputsNode outputs => Outputs(context.GetStep(outputs.Step)),
        MemberNode { Target: StepOutputsNode outputs } member => Output(context, outputs.Step, member.Name),
        MemberNode member => Evaluate(member.Target, context).Get(ExpressionValue.FromString(member.Name)),
        IndexNode { Target: StepOutputsNode outputs } item => Output(context, outputs.Step, Evaluate(item.Index, context).ToText()),
        IndexNode item => Evaluate(item.Target, context).Get(Evaluate(item.Index, context)),
        NotNode not => ExpressionValue.FromBoolean(!Evaluate(not.Operand, context).IsTruthy),
        BinaryNode binary => Binary(binary, context),
        _ => throw new ArgumentOutOfRangeException(nameof(node), node.GetType().Name, "unknown expression node"),
    };

    private static ExpressionValue Binary(BinaryNode node, IExpressionContext context)
    {
        var left = Evaluate(node.Left, context);
        switch (node.Operator)
        {
            case BinaryOperator.And:
                return left.IsTruthy ? Evaluate(node.Right, context) : left;
            case BinaryOperator.Or:
                return left.IsTruthy ? left : Evaluate(node.Right, context);
        }

        var right = Evaluate(node.Right, context);
        var order = node.Operator is BinaryOperator.Equal or BinaryOperator.NotEqual ? null : ExpressionValue.Compare(left, right);
        return ExpressionValue.FromBoolean(node.Operator switch
        {
            BinaryOperator.Equal => ExpressionValue.LooseEquals(left, right),
            BinaryOperator.NotEqual => !ExpressionValue.LooseEquals(left, right),
            BinaryOperator.Less => order < 0,
            BinaryOperator.LessOrEqual => order <= 0,
            BinaryOperator.Greater => order > 0,
            _ => order >= 0,
        });
    }

    private static ExpressionValue Output(IExpressionContext context, string step, string key) =>
        context.GetStep(step)?.Outputs is { } outputs && outputs.TryGetValue(key, out var value)
            ? ExpressionValue.FromString(value)
            : ExpressionValue.Null;

    private static ExpressionValue Outputs(StepResult? step)
    {
        if (step is null)
        {
            return ExpressionValue.Null;
        }

        using var document = JsonDocument.Parse(JsonSerializer.SerializeToUtf8Bytes(step.Outputs));
        return ExpressionValue.FromJson(document.RootElement.Clone());
    }
}
