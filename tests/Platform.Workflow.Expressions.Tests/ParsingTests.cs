using static Platform.Workflow.Expressions.Tests.Contexts;

namespace Platform.Workflow.Expressions.Tests;

public class ParsingTests
{
    [Fact]
    public void Literals_parse_to_their_values()
    {
        Assert.Equal(ExpressionValue.FromString("it's"), Assert.IsType<LiteralNode>(Expression.Parse("'it''s'").Root).Value);
        Assert.Equal(ExpressionValue.FromNumber(-1.5e3), Assert.IsType<LiteralNode>(Expression.Parse("-1.5e3").Root).Value);
        Assert.Equal(ExpressionValue.FromNumber(42), Assert.IsType<LiteralNode>(Expression.Parse(" 42 ").Root).Value);
        Assert.Equal(ExpressionValue.True, Assert.IsType<LiteralNode>(Expression.Parse("true").Root).Value);
        Assert.Equal(ExpressionValue.False, Assert.IsType<LiteralNode>(Expression.Parse("false").Root).Value);
        Assert.Equal(ExpressionValue.Null, Assert.IsType<LiteralNode>(Expression.Parse("null").Root).Value);
        Assert.Equal(ExpressionValue.FromString(""), Assert.IsType<LiteralNode>(Expression.Parse("''").Root).Value);
    }

    [Fact]
    public void Step_output_reference_parses_to_a_member_of_the_step_outputs()
    {
        var root = Expression.Parse("steps.build.outputs.tag").Root;

        var member = Assert.IsType<MemberNode>(root);
        Assert.Equal("tag", member.Name);
        Assert.Equal(new StepOutputsNode("build", 0), member.Target);
    }

    [Fact]
    public void Bracket_and_dot_forms_are_the_same()
    {
        var bracket = Assert.IsType<MemberNode>(Expression.Parse("steps['build'].outputs['tag']").Root);
        var dot = Assert.IsType<MemberNode>(Expression.Parse("steps.build.outputs.tag").Root);

        Assert.Equal((dot.Target, dot.Name), (bracket.Target, bracket.Name));
        Assert.Equal(new StepStatusNode("Run Tests", 0), Expression.Parse("steps['Run Tests'].status").Root);
        Assert.Equal(new StepStatusNode("it's", 0), Expression.Parse("steps['it''s'].status").Root);
    }

    [Fact]
    public void Names_may_hold_dashes()
    {
        var member = Assert.IsType<MemberNode>(Expression.Parse("steps.build-image.outputs.image-name").Root);

        Assert.Equal("image-name", member.Name);
        Assert.Equal(new StepOutputsNode("build-image", 0), member.Target);
    }

    [Fact]
    public void Comparisons_bind_tighter_than_and_which_binds_tighter_than_or()
    {
        var or = Assert.IsType<BinaryNode>(Expression.Parse("inputs.a == 1 || inputs.b < 2 && !inputs.c").Root);

        Assert.Equal(BinaryOperator.Or, or.Operator);
        Assert.Equal(BinaryOperator.Equal, Assert.IsType<BinaryNode>(or.Left).Operator);
        var and = Assert.IsType<BinaryNode>(or.Right);
        Assert.Equal(BinaryOperator.And, and.Operator);
        Assert.Equal(BinaryOperator.Less, Assert.IsType<BinaryNode>(and.Left).Operator);
        Assert.IsType<NotNode>(and.Right);
    }

    [Fact]
    public void Not_binds_tighter_than_comparisons()
    {
        var equal = Assert.IsType<BinaryNode>(Expression.Parse("!inputs.a == false").Root);

        Assert.Equal(BinaryOperator.Equal, equal.Operator);
        Assert.IsType<NotNode>(equal.Left);
    }

    [Fact]
    public void Parentheses_group()
    {
        var and = Assert.IsType<BinaryNode>(Expression.Parse("(inputs.a || inputs.b) && inputs.c").Root);

        Assert.Equal(BinaryOperator.And, and.Operator);
        Assert.Equal(BinaryOperator.Or, Assert.IsType<BinaryNode>(and.Left).Operator);
    }

    [Fact]
    public void Same_operators_associate_to_the_left()
    {
        var outer = Assert.IsType<BinaryNode>(Expression.Parse("inputs.a == inputs.b == true").Root);

        Assert.IsType<BinaryNode>(outer.Left);
        Assert.IsType<LiteralNode>(outer.Right);
    }

    [Fact]
    public void Index_with_a_number_or_an_expression_is_an_index_node()
    {
        Assert.IsType<IndexNode>(Expression.Parse("inputs.list[0]").Root);
        Assert.IsType<IndexNode>(Expression.Parse("inputs.config[inputs.key]").Root);
        Assert.IsType<MemberNode>(Expression.Parse("inputs['key with space']").Root);
    }

    [Fact]
    public void Every_operator_parses()
    {
        foreach (var (symbol, op) in new[]
        {
            ("==", BinaryOperator.Equal), ("!=", BinaryOperator.NotEqual), ("<", BinaryOperator.Less),
            ("<=", BinaryOperator.LessOrEqual), (">", BinaryOperator.Greater), (">=", BinaryOperator.GreaterOrEqual),
            ("&&", BinaryOperator.And), ("||", BinaryOperator.Or),
        })
        {
            var node = Assert.IsType<BinaryNode>(Expression.Parse($"1 {symbol} 2").Root);
            Assert.Equal(op, node.Operator);
            Assert.Equal(2, node.Position);
        }
    }

    [Fact]
    public void Whitespace_is_free()
    {
        var compact = Assert.IsType<BinaryNode>(Expression.Parse("inputs.a==1&&!inputs.b").Root);
        var spaced = Assert.IsType<BinaryNode>(Expression.Parse("  inputs.a   ==  1  &&  ! inputs.b  ").Root);

        Assert.Equal(BinaryOperator.And, compact.Operator);
        Assert.Equal(BinaryOperator.And, spaced.Operator);
        Assert.Equal("inputs.a == 1", Expression.Parse("  inputs.a == 1 ").Text);
    }

    [Theory]
    [InlineData("", "the expression is empty", 0)]
    [InlineData("   ", "the expression is empty", 3)]
    [InlineData("inputs.a ==", "expected a value but found the end of the text", 11)]
    [InlineData("inputs.a = 'x'", "'=' is not an operator; compare with '=='", 9)]
    [InlineData("inputs.a & inputs.b", "'&' is not an operator; use '&&'", 9)]
    [InlineData("inputs.a | inputs.b", "'|' is not an operator; use '||'", 9)]
    [InlineData("inputs.a == \"x\"", "strings are written in single quotes: 'text'", 12)]
    [InlineData("inputs.a == 'x", "the string is not closed with a single quote (')", 12)]
    [InlineData("(inputs.a", "expected ')' but found the end of the text", 9)]
    [InlineData("inputs.a)", "expected the end of the expression but found ')'", 8)]
    [InlineData("inputs.a inputs.b", "expected the end of the expression but found 'inputs'", 9)]
    [InlineData("inputs.", "expected a name after '.' but found the end of the text", 7)]
    [InlineData("inputs.list[0", "expected ']' but found the end of the text", 13)]
    [InlineData("1 + 2", "'+' is not an operator; expressions have no arithmetic", 2)]
    [InlineData("12abc", "'12a' is not a number", 0)]
    [InlineData("a == 1 #", "unexpected character '#'", 7)]
    [InlineData("inputs.a }}", "expected the end of the expression but found '}}'", 9)]
    public void Syntax_errors_say_what_and_where(string text, string reason, int position)
    {
        var error = ParseError(text);

        Assert.Equal(reason, error.Reason);
        Assert.Equal(position, error.Position);
        Assert.Equal($"{reason} (at column {position + 1})", error.Message);
    }

    [Fact]
    public void Unknown_names_are_refused_with_the_names_there_are()
    {
        var error = ParseError("github.ref == 'main'");

        Assert.StartsWith("unknown name 'github'", error.Reason, StringComparison.Ordinal);
        Assert.Contains("inputs.<key>", error.Reason, StringComparison.Ordinal);
        Assert.Equal(0, error.Position);
    }

    [Fact]
    public void Functions_are_not_supported()
    {
        var error = ParseError("inputs.a && contains(inputs.b, 'x')");

        Assert.StartsWith("functions are not supported ('contains(...)')", error.Reason, StringComparison.Ordinal);
        Assert.Equal(12, error.Position);
    }

    [Theory]
    [InlineData("steps", "expected a step name: steps.<name> or steps['<name>'] but found the end of the text", 5)]
    [InlineData("steps.build", "expected '.outputs.<key>' or '.status' after steps.build but found the end of the text", 11)]
    [InlineData("steps['Run Tests']", "expected '.outputs.<key>' or '.status' after steps['Run Tests'] but found the end of the text", 18)]
    [InlineData("steps.build.result", "a step has 'outputs' and 'status', not 'result' (steps.build.outputs.<key>)", 12)]
    [InlineData("steps.build.status.x", "steps.build.status is a string; it has no properties", 18)]
    [InlineData("steps[inputs.name].status", "expected a step name: steps.<name> or steps['<name>'] but found '['", 5)]
    [InlineData("steps.'x'.status", "expected a step name: steps.<name> or steps['<name>'] but found the string 'x'", 6)]
    public void Step_references_must_name_a_step_and_outputs_or_status(string text, string reason, int position)
    {
        var error = ParseError(text);

        Assert.Equal(reason, error.Reason);
        Assert.Equal(position, error.Position);
    }

    [Fact]
    public void Keywords_may_be_property_names()
    {
        Assert.Equal("null", Assert.IsType<MemberNode>(Expression.Parse("inputs.null").Root).Name);
    }

    [Fact]
    public void Nesting_is_bounded()
    {
        var deep = new string('(', Expression.MaxDepth + 1) + "1" + new string(')', Expression.MaxDepth + 1);
        var nots = new string('!', Expression.MaxDepth + 1) + "true";
        var chain = string.Join(" || ", Enumerable.Repeat("inputs.a", Expression.MaxDepth + 2));

        Assert.Contains("nests more than", ParseError(deep).Reason, StringComparison.Ordinal);
        Assert.Contains("nests more than", ParseError(nots).Reason, StringComparison.Ordinal);
        Assert.Contains("nests more than", ParseError(chain).Reason, StringComparison.Ordinal);
        Assert.NotNull(Expression.Parse(new string('(', 50) + "1" + new string(')', 50)));
        Assert.NotNull(Expression.Parse(string.Join(" || ", Enumerable.Repeat("inputs.a", 100))));
    }

    [Fact]
    public void Null_text_is_an_argument_error()
    {
        Assert.Throws<ArgumentNullException>(() => Expression.Parse(null!));
        Assert.Throws<ArgumentNullException>(() => Template.Parse(null!));
    }
}
