using System.Text.Json;
using static Platform.Workflow.Expressions.Tests.Contexts;

namespace Platform.Workflow.Expressions.Tests;

public class EvaluationTests
{
    [Theory]
    [InlineData("false", false)]
    [InlineData("0", false)]
    [InlineData("-0", false)]
    [InlineData("''", false)]
    [InlineData("null", false)]
    [InlineData("true", true)]
    [InlineData("1", true)]
    [InlineData("-0.5", true)]
    [InlineData("'false'", true)]
    [InlineData("'0'", true)]
    [InlineData("' '", true)]
    [InlineData("inputs.empty", false)]
    [InlineData("inputs.zero", false)]
    [InlineData("inputs.nothing", false)]
    [InlineData("inputs.missing", false)]
    [InlineData("inputs.config", true)]
    [InlineData("inputs.config.tags", true)]
    [InlineData("inputs.deploy", true)]
    public void Truthiness_is_as_in_github_actions(string expression, bool truthy)
    {
        Assert.Equal(truthy, Expression.Parse(expression).EvaluateCondition(Sample()));
    }

    [Fact]
    public void Empty_object_and_array_are_truthy()
    {
        var context = new ExpressionContext(Json("""{"o": {}, "a": []}"""));

        Assert.True(Expression.Parse("inputs.o").EvaluateCondition(context));
        Assert.True(Expression.Parse("inputs.a").EvaluateCondition(context));
    }

    [Fact]
    public void Inputs_are_read_by_key_path_and_index()
    {
        Assert.Equal(ExpressionValue.FromString("prod"), Eval("inputs.env"));
        Assert.Equal(ExpressionValue.FromString("eu-west-1"), Eval("inputs.config.region"));
        Assert.Equal(ExpressionValue.FromString("b"), Eval("inputs.config.tags[1]"));
        Assert.Equal(ExpressionValue.FromNumber(20), Eval("inputs.list[1]"));
        Assert.Equal(ExpressionValue.FromNumber(20), Eval("inputs.list['1']"));
        Assert.Equal(ExpressionValue.FromString("spaced"), Eval("inputs['key with space']"));
        Assert.Equal(ExpressionValue.FromString("eu-west-1"), Eval("inputs['config']['region']"));
        Assert.Equal(ExpressionValue.FromString("eu-west-1"), Eval("inputs.config[('region')]"));
        Assert.Equal(ExpressionValueKind.Object, Eval("inputs").Kind);
    }

    [Fact]
    public void Names_are_case_sensitive()
    {
        Assert.Equal(ExpressionValue.FromString("prod"), Eval("inputs.env"));
        Assert.Equal(ExpressionValue.FromString("PROD"), Eval("inputs.Env"));
        Assert.Equal(ExpressionValue.Null, Eval("inputs.ENV"));
    }

    [Theory]
    [InlineData("inputs.missing")]
    [InlineData("inputs.missing.deeper")]
    [InlineData("inputs.env.length")]
    [InlineData("inputs.list[3]")]
    [InlineData("inputs.list[-1]")]
    [InlineData("inputs.list[0.5]")]
    [InlineData("inputs.list['x']")]
    [InlineData("inputs.replicas.x")]
    [InlineData("inputs.nothing.x")]
    [InlineData("steps.build.outputs.missing")]
    [InlineData("steps.build.outputs.tag.x")]
    [InlineData("steps.unknown.outputs.tag")]
    [InlineData("steps.unknown.outputs")]
    [InlineData("steps.unknown.status")]
    [InlineData("'abc'[0]")]
    public void Anything_missing_is_null(string expression)
    {
        Assert.Equal(ExpressionValue.Null, Eval(expression));
    }

    [Fact]
    public void Without_inputs_every_input_is_null()
    {
        Assert.Equal(ExpressionValue.Null, Expression.Parse("inputs.x").Evaluate(ExpressionContext.Empty));
        Assert.Equal(ExpressionValue.Null, Expression.Parse("inputs").Evaluate(ExpressionContext.Empty));
    }

    [Fact]
    public void Steps_give_status_and_outputs()
    {
        Assert.Equal(ExpressionValue.FromString("v1.2.3"), Eval("steps.build.outputs.tag"));
        Assert.Equal(ExpressionValue.FromString("app"), Eval("steps.build.outputs.image-name"));
        Assert.Equal(ExpressionValue.FromString("app"), Eval("steps.build.outputs['image-name']"));
        Assert.Equal(ExpressionValue.FromString("v1.2.3"), Eval("steps.build.outputs[('t' == 't') && 'tag']"));
        Assert.Equal(ExpressionValue.FromString("succeeded"), Eval("steps.build.status"));
        Assert.Equal(ExpressionValue.FromString("failed"), Eval("steps['Run Tests'].status"));
        Assert.Equal(ExpressionValue.FromString("false"), Eval("steps['Run Tests'].outputs.passed"));
        Assert.Equal(ExpressionValue.FromString("skipped"), Eval("steps.lint.status"));
        Assert.Equal(ExpressionValue.FromString("sha256:1"), Eval("steps.build-image.outputs.digest"));
    }

    [Fact]
    public void Step_outputs_as_a_whole_are_an_object_of_strings()
    {
        var outputs = Eval("steps.build.outputs");

        Assert.Equal(ExpressionValueKind.Object, outputs.Kind);
        Assert.Equal("v1.2.3", outputs.AsJson().GetProperty("tag").GetString());
        Assert.Equal(ExpressionValueKind.Object, Eval("steps.lint.outputs").Kind);
    }

    [Theory]
    [InlineData("1 == 1", true)]
    [InlineData("'a' == 'a'", true)]
    [InlineData("'a' == 'A'", false)]
    [InlineData("'a' != 'A'", true)]
    [InlineData("null == null", true)]
    [InlineData("true == true", true)]
    [InlineData("true != false", true)]
    [InlineData("'3' == 3", true)]
    [InlineData("' 3 ' == 3", true)]
    [InlineData("'3.0' == 3", true)]
    [InlineData("'0x1F' == 31", true)]
    [InlineData("'abc' == 0", false)]
    [InlineData("'abc' != 0", true)]
    [InlineData("'' == 0", true)]
    [InlineData("null == 0", true)]
    [InlineData("null == false", true)]
    [InlineData("null == ''", true)]
    [InlineData("true == 1", true)]
    [InlineData("true == 'true'", false)]
    [InlineData("false == 0", true)]
    [InlineData("steps.build.outputs.count == 3", true)]
    [InlineData("steps.build.outputs.count == '3'", true)]
    [InlineData("steps['Run Tests'].outputs.passed == 'false'", true)]
    [InlineData("steps['Run Tests'].outputs.passed == false", false)]
    [InlineData("inputs.replicas == 3", true)]
    [InlineData("inputs.ratio == 1.5", true)]
    [InlineData("inputs.config == inputs.config", true)]
    [InlineData("inputs.config == inputs.config.tags", false)]
    [InlineData("inputs.config.tags == 'a'", false)]
    [InlineData("inputs.config.tags != 'a'", true)]
    [InlineData("inputs.missing == null", true)]
    [InlineData("steps.build.status == 'succeeded'", true)]
    [InlineData("steps.lint.status != 'succeeded'", true)]
    public void Equality_coerces_mismatched_kinds_to_numbers(string expression, bool expected)
    {
        Assert.Equal(ExpressionValue.FromBoolean(expected), Eval(expression));
    }

    [Fact]
    public void Objects_and_arrays_compare_by_content()
    {
        var context = new ExpressionContext(Json("""{"a": {"x": [1, 2]}, "b": {"x": [1, 2]}, "c": {"x": [2, 1]}}"""));

        Assert.True(Expression.Parse("inputs.a == inputs.b").EvaluateCondition(context));
        Assert.False(Expression.Parse("inputs.a == inputs.c").EvaluateCondition(context));
    }

    [Theory]
    [InlineData("1 < 2", true)]
    [InlineData("2 <= 2", true)]
    [InlineData("3 > 2", true)]
    [InlineData("2 >= 3", false)]
    [InlineData("'a' < 'b'", true)]
    [InlineData("'B' < 'a'", true)]
    [InlineData("'10' < '9'", true)]
    [InlineData("'10' < 9", false)]
    [InlineData("steps.build.outputs.count > 2", true)]
    [InlineData("steps.build.outputs.count >= 3", true)]
    [InlineData("null < 1", true)]
    [InlineData("true > false", true)]
    [InlineData("'abc' < 1", false)]
    [InlineData("'abc' >= 1", false)]
    [InlineData("inputs.config < 1", false)]
    [InlineData("inputs.config >= 1", false)]
    public void Ordering_compares_strings_ordinally_and_everything_else_as_numbers(string expression, bool expected)
    {
        Assert.Equal(ExpressionValue.FromBoolean(expected), Eval(expression));
    }

    [Fact]
    public void And_and_or_give_one_of_their_operands()
    {
        Assert.Equal(ExpressionValue.FromString("prod"), Eval("inputs.env || 'staging'"));
        Assert.Equal(ExpressionValue.FromString("staging"), Eval("inputs.missing || 'staging'"));
        Assert.Equal(ExpressionValue.FromString("staging"), Eval("inputs.empty || 'staging'"));
        Assert.Equal(ExpressionValue.FromString("yes"), Eval("inputs.deploy && 'yes'"));
        Assert.Equal(ExpressionValue.FromNumber(0), Eval("inputs.zero && 'yes'"));
        Assert.Equal(ExpressionValue.Null, Eval("inputs.missing && 'yes'"));
        Assert.Equal(ExpressionValue.FromString("b"), Eval("inputs.env == 'prod' && 'a' && 'b' || 'c'"));
    }

    [Fact]
    public void And_and_or_short_circuit()
    {
        var context = new CountingContext();

        Expression.Parse("false && steps.a.status").Evaluate(context);
        Expression.Parse("true || steps.a.status").Evaluate(context);
        Assert.Equal(0, context.Lookups);

        Expression.Parse("true && steps.a.status").Evaluate(context);
        Assert.Equal(1, context.Lookups);
    }

    [Theory]
    [InlineData("!true", false)]
    [InlineData("!false", true)]
    [InlineData("!0", true)]
    [InlineData("!''", true)]
    [InlineData("!'x'", false)]
    [InlineData("!null", true)]
    [InlineData("!!inputs.env", true)]
    [InlineData("!inputs.missing", true)]
    [InlineData("!(inputs.env == 'prod')", false)]
    public void Not_negates_truthiness(string expression, bool expected)
    {
        Assert.Equal(ExpressionValue.FromBoolean(expected), Eval(expression));
    }

    [Fact]
    public void Typical_conditions()
    {
        Assert.True(Condition("steps.build.status == 'succeeded' && steps['Run Tests'].status == 'failed'"));
        Assert.True(Condition("inputs.env == 'prod' && (inputs.replicas > 2 || inputs.deploy)"));
        Assert.False(Condition("steps.lint.status == 'succeeded'"));
        Assert.True(Condition("steps.build.outputs.tag != '' && steps.build.outputs.count >= 3"));
    }

    [Fact]
    public void Evaluation_is_repeatable_with_other_contexts()
    {
        var expression = Expression.Parse("inputs.env == 'prod'");

        Assert.True(expression.EvaluateCondition(new ExpressionContext(Json("""{"env": "prod"}"""))));
        Assert.False(expression.EvaluateCondition(new ExpressionContext(Json("""{"env": "dev"}"""))));
        Assert.False(expression.EvaluateCondition(ExpressionContext.Empty));
    }

    [Fact]
    public void Non_object_inputs_have_no_keys()
    {
        Assert.Equal(ExpressionValue.Null, Expression.Parse("inputs.x").Evaluate(new ExpressionContext(Json("[1]"))));
        Assert.Equal(ExpressionValue.FromString("s"), Expression.Parse("inputs").Evaluate(new ExpressionContext(Json("\"s\""))));
    }

    private sealed class CountingContext : IExpressionContext
    {
        public int Lookups { get; private set; }

        public JsonElement Inputs => default;

        public StepResult? GetStep(string name)
        {
            Lookups++;
            return null;
        }
    }
}
