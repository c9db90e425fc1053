namespace Platform.Workflow.Expressions;

/// <summary>
/// A parsed expression: the text inside <c>${{ }}</c>, or a condition for <c>if</c>.
/// <list type="bullet">
/// <item>References: <c>inputs.&lt;key&gt;</c> (and deeper: <c>inputs.config.region</c>, <c>inputs.list[0]</c>),
/// <c>steps.&lt;name&gt;.outputs.&lt;key&gt;</c>, <c>steps.&lt;name&gt;.status</c>; names with spaces or other
/// characters by index: <c>steps['Run Tests'].outputs['image-tag']</c>. Names may hold <c>-</c>
/// (<c>steps.build-image.outputs.tag</c>).</item>
/// <item>Literals: <c>'single-quoted'</c> strings (<c>''</c> is a quote), numbers (<c>-1.5e3</c>), <c>true</c>,
/// <c>false</c>, <c>null</c>.</item>
/// <item>Operators, loosest first: <c>||</c>, <c>&amp;&amp;</c>, <c>== !=</c>, <c>&lt; &lt;= &gt; &gt;=</c>, <c>!</c>;
/// parentheses. Semantics as GitHub Actions (see <see cref="ExpressionValue"/>), but strings and names are
/// case-sensitive.</item>
/// </list>
/// </summary>
public sealed class Expression
{
    /// <summary>Nesting allowed in one expression (parentheses, <c>!</c>, operators in a row, member accesses).</summary>
    public const int MaxDepth = 128;

    internal Expression(string text, ExpressionNode root)
    {
        Text = text;
        Root = root;
        References = ReferenceCollector.Collect(root);
    }

    /// <summary>The expression's source (for a template part or a wrapped condition: the text inside <c>${{ }}</c>,
    /// trimmed).</summary>
    public string Text { get; }

    public ExpressionNode Root { get; }

    /// <summary>The inputs and steps the expression names, in the order they are written.</summary>
    public IReadOnlyList<ExpressionReference> References { get; }

    /// <summary>Parses a bare expression: <c>steps.test.outputs.passed == 'true' &amp;&amp; inputs.deploy</c>.</summary>
    /// <exception cref="ExpressionException">with the position (0-based, in <paramref name="text"/>) of the error.</exception>
    public static Expression Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new Expression(text.Trim(), Parser.ParseAll(text));
    }

    /// <summary>
    /// Parses the condition of an <c>if</c>: bare (<c>inputs.deploy == 'yes'</c>) or wholly inside one
    /// <c>${{ }}</c> (<c>${{ inputs.deploy == 'yes' }}</c>), as GitHub Actions allows. A condition that mixes text
    /// and <c>${{ }}</c> is refused (GitHub would take it as an always-true string).
    /// </summary>
    /// <exception cref="ExpressionException">with the position (0-based, in <paramref name="condition"/>).</exception>
    public static Expression ParseCondition(string condition)
    {
        ArgumentNullException.ThrowIfNull(condition);
        if (condition.Trim().Length == 0)
        {
            throw new ExpressionException("the condition is empty", 0);
        }

        if (!Template.ContainsExpression(condition))
        {
            return Parse(condition);
        }

        var template = Template.Parse(condition);
        var expressions = template.Parts.OfType<ExpressionPart>().ToList();
        var text = template.Parts.OfType<TextPart>().FirstOrDefault(p => p.Text.Trim().Length > 0);
        if (expressions.Count == 1 && text is null)
        {
            return expressions[0].Expression;
        }

        throw new ExpressionException(
            "a condition is written bare (a == 'b') or wholly inside one ${{ }}, not as text mixed with ${{ }}",
            text?.Position ?? expressions[1].Position);
    }

    public ExpressionValue Evaluate(IExpressionContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return Evaluator.Evaluate(Root, context);
    }

    /// <summary>Whether the expression's value is truthy (<see cref="ExpressionValue.IsTruthy"/>).</summary>
    public bool EvaluateCondition(IExpressionContext context) => Evaluate(context).IsTruthy;

    public override string ToString() => Text;

    private static class ReferenceCollector
    {
        public static List<ExpressionReference> Collect(ExpressionNode root)
        {
            var references = new List<ExpressionReference>();
            Visit(root, null, references);
            return references;
        }

        private static void Visit(ExpressionNode node, ExpressionNode? parent, List<ExpressionReference> references)
        {
            var key = parent is MemberNode member && ReferenceEquals(member.Target, node) ? member.Name : null;
            switch (node)
            {
                case InputsNode:
                    references.Add(new ExpressionReference(ReferenceKind.Input, null, key, node.Position));
                    break;
                case StepStatusNode status:
                    references.Add(new ExpressionReference(ReferenceKind.StepStatus, status.Step, null, node.Position));
                    break;
                case StepOutputsNode outputs:
                    references.Add(new ExpressionReference(ReferenceKind.StepOutput, outputs.Step, key, node.Position));
                    break;
                case MemberNode m:
                    Visit(m.Target, m, references);
                    break;
                case IndexNode item:
                    Visit(item.Target, item, references);
                    Visit(item.Index, item, references);
                    break;
                case NotNode not:
                    Visit(not.Operand, not, references);
                    break;
                case BinaryNode binary:
                    Visit(binary.Left, binary, references);
                    Visit(binary.Right, binary, references);
                    break;
            }
        }
    }
}
