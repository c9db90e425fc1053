using static Platform.Workflow.Expressions.Tests.Contexts;

namespace Platform.Workflow.Expressions.Tests;

public class ConditionTests
{
    [Theory]
    [InlineData("inputs.env == 'prod'")]
    [InlineData("${{ inputs.env == 'prod' }}")]
    [InlineData("${{inputs.env == 'prod'}}")]
    [InlineData("  ${{ inputs.env == 'prod' }}  ")]
    public void Condition_is_bare_or_wholly_wrapped(string condition)
    {
        var expression = Expression.ParseCondition(condition);

        Assert.Equal("inputs.env == 'prod'", expression.Text);
        Assert.True(expression.EvaluateCondition(Sample()));
    }

    [Fact]
    public void Positions_of_a_wrapped_condition_are_in_the_whole_string()
    {
        var expression = Expression.ParseCondition("${{ steps.a.status }}");

        Assert.Equal(4, Assert.Single(expression.References).Position);
        var error = Assert.Throws<ExpressionException>(() => Expression.ParseCondition("${{ (inputs.a }}"));
        Assert.Equal("expected ')' but found '}}'", error.Reason);
        Assert.Equal(14, error.Position);
    }

    [Theory]
    [InlineData("${{ inputs.a }} == 'x'", 15)]
    [InlineData("x ${{ inputs.a }}", 0)]
    [InlineData("${{ inputs.a }} && ${{ inputs.b }}", 15)]
    [InlineData("${{ inputs.a }}${{ inputs.b }}", 15)]
    public void Mixing_text_and_wrapped_expressions_is_refused(string condition, int position)
    {
        var error = Assert.Throws<ExpressionException>(() => Expression.ParseCondition(condition));

        Assert.Contains("wholly inside one ${{ }}", error.Reason, StringComparison.Ordinal);
        Assert.Equal(position, error.Position);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Empty_condition_is_refused(string condition)
    {
        Assert.Equal("the condition is empty", Assert.Throws<ExpressionException>(() => Expression.ParseCondition(condition)).Reason);
    }

    [Fact]
    public void Empty_wrapped_condition_is_refused()
    {
        var error = Assert.Throws<ExpressionException>(() => Expression.ParseCondition("${{ }}"));

        Assert.Equal("the expression is empty", error.Reason);
        Assert.Equal(4, error.Position);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("${{ false }}", false)]
    [InlineData("steps.build.status == 'succeeded'", true)]
    [InlineData("${{ steps.lint.status == 'skipped' && !inputs.missing }}", true)]
    [InlineData("inputs.replicas", true)]
    [InlineData("inputs.zero", false)]
    public void Conditions_evaluate_to_their_truthiness(string condition, bool expected)
    {
        Assert.Equal(expected, Condition(condition));
    }
}
