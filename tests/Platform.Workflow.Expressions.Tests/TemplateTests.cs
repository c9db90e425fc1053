using System.Text.Json;
using static Platform.Workflow.Expressions.Tests.Contexts;

namespace Platform.Workflow.Expressions.Tests;

public class TemplateTests
{
    [Fact]
    public void Template_splits_into_text_and_expressions()
    {
        var template = Template.Parse("deploy ${{ steps.build.outputs.tag }} to ${{inputs.env}}!");

        Assert.Collection(template.Parts,
            p => Assert.Equal(new TextPart("deploy ", 0), p),
            p => Assert.Equal(("steps.build.outputs.tag", 7), (Assert.IsType<ExpressionPart>(p).Expression.Text, p.Position)),
            p => Assert.Equal(new TextPart(" to ", 37), p),
            p => Assert.Equal(("inputs.env", 41), (Assert.IsType<ExpressionPart>(p).Expression.Text, p.Position)),
            p => Assert.Equal(new TextPart("!", 56), p));
        Assert.True(template.HasExpressions);
        Assert.False(template.IsSingleExpression);
    }

    [Fact]
    public void Plain_text_is_one_text_part_and_empty_text_none()
    {
        Assert.Equal([new TextPart("just text {{ }} $ {", 0)], Template.Parse("just text {{ }} $ {").Parts);
        Assert.Empty(Template.Parse("").Parts);
        Assert.False(Template.Parse("x").HasExpressions);
        Assert.False(Template.ContainsExpression("${ {"));
        Assert.True(Template.ContainsExpression("a ${{ b"));
    }

    [Fact]
    public void A_close_inside_a_string_literal_does_not_end_the_expression()
    {
        var template = Template.Parse("${{ 'a }} b' }}");

        Assert.True(template.IsSingleExpression);
        Assert.Equal("a }} b", template.Render(Sample()));
    }

    [Fact]
    public void A_literal_open_is_written_as_an_expression()
    {
        Assert.Equal("use ${{ x }}", Template.Parse("use ${{ '${{' }} x }}").Render(Sample()));
    }

    [Fact]
    public void Stray_close_is_text()
    {
        Assert.Equal("a }} b prod", Template.Parse("a }} b ${{ inputs.env }}").Render(Sample()));
    }

    [Theory]
    [InlineData("x ${{ inputs.env", "the expression opened with '${{' is not closed with '}}'", 2)]
    [InlineData("x ${{ inputs.env } }", "unexpected character '}'", 17)]
    [InlineData("x ${{", "the expression opened with '${{' is not closed with '}}'", 2)]
    [InlineData("x ${{ }}", "the expression is empty", 6)]
    [InlineData("${{ inputs.a }} ${{ inputs.b == }}", "expected a value but found '}}'", 32)]
    [InlineData("${{ inputs.a inputs.b }}", "expected '}}' but found 'inputs'", 13)]
    [InlineData("${{ 'unclosed }}", "the string is not closed with a single quote (')", 4)]
    [InlineData("${{ steps.x }}", "expected '.outputs.<key>' or '.status' after steps.x but found '}}'", 12)]
    public void Template_errors_are_positioned_in_the_whole_string(string text, string reason, int position)
    {
        var error = Assert.Throws<ExpressionException>(() => Template.Parse(text));

        Assert.Equal(reason, error.Reason);
        Assert.Equal(position, error.Position);
    }

    [Fact]
    public void Render_gives_each_value_as_text()
    {
        var context = Sample();

        Assert.Equal("prod/3/1.50/true//eu-west-1", Template.Parse(
            "${{ inputs.env }}/${{ inputs.replicas }}/${{ inputs.ratio }}/${{ inputs.deploy }}/${{ inputs.missing }}/${{ inputs.config.region }}")
            .Render(context));
        Assert.Equal("""tags: ["a","b"]""", Template.Parse("tags: ${{ inputs.config.tags }}").Render(context));
        Assert.Equal("12345678901234567890", Template.Parse("${{ inputs.big }}").Render(context));
        Assert.Equal("image app:v1.2.3", Template.Parse("image ${{ steps.build.outputs.image-name }}:${{ steps.build.outputs.tag }}").Render(context));
        Assert.Equal("plain", Template.Parse("plain").Render(context));
        Assert.Equal("0.5", Template.Parse("${{ 0.5 }}").Render(context));
    }

    [Fact]
    public void A_single_whole_expression_keeps_its_type()
    {
        var context = Sample();

        Assert.Equal(ExpressionValue.FromNumber(3), Template.Parse("${{ inputs.replicas }}").Evaluate(context));
        Assert.Equal(ExpressionValue.True, Template.Parse("${{ inputs.deploy }}").Evaluate(context));
        Assert.Equal(ExpressionValue.Null, Template.Parse("${{ inputs.missing }}").Evaluate(context));
        Assert.Equal(ExpressionValueKind.Object, Template.Parse("${{ inputs.config }}").Evaluate(context).Kind);
        Assert.Equal(ExpressionValue.FromString(" 3"), Template.Parse(" ${{ inputs.replicas }}").Evaluate(context));
        Assert.Equal(ExpressionValue.FromString("3 "), Template.Parse("${{ inputs.replicas }} ").Evaluate(context));
        Assert.Equal(ExpressionValue.FromString("33"), Template.Parse("${{ inputs.replicas }}${{ inputs.replicas }}").Evaluate(context));
    }

    [Fact]
    public void Render_json_renders_strings_throughout_the_tree()
    {
        var with = Json("""
            {
              "replicas": "${{ inputs.replicas }}",
              "image": "registry/app:${{ steps.build.outputs.tag }}",
              "deploy": "${{ inputs.deploy }}",
              "config": "${{ inputs.config }}",
              "missing": "${{ inputs.missing }}",
              "count": "${{ steps.build.outputs.count }}",
              "nested": { "list": ["${{ inputs.env }}", 1, true, null, { "deep": "${{ inputs.big }}" }] },
              "${{ inputs.env }}": "keys stay as written",
              "literal": 2.50,
              "plain": "no expression"
            }
            """);

        var rendered = Template.RenderJson(with, Sample());

        Assert.Equal(JsonSerializer.Serialize(Json("""
            {
              "replicas": 3,
              "image": "registry/app:v1.2.3",
              "deploy": true,
              "config": {"region": "eu-west-1", "tags": ["a", "b"]},
              "missing": null,
              "count": "3",
              "nested": { "list": ["prod", 1, true, null, { "deep": 12345678901234567890 }] },
              "${{ inputs.env }}": "keys stay as written",
              "literal": 2.50,
              "plain": "no expression"
            }
            """)), JsonSerializer.Serialize(rendered));
    }

    [Fact]
    public void Render_json_of_a_scalar_or_string_root()
    {
        Assert.Equal("prod", Template.RenderJson(Json("\"${{ inputs.env }}\""), Sample()).GetString());
        Assert.Equal(7, Template.RenderJson(Json("7"), Sample()).GetInt32());
    }

    [Fact]
    public void Render_json_refuses_a_string_that_does_not_parse()
    {
        Assert.Throws<ExpressionException>(() => Template.RenderJson(Json("""{"a": "${{ oops"}"""), Sample()));
    }

    [Fact]
    public void Rendered_json_outlives_its_source()
    {
        JsonElement rendered;
        using (var document = JsonDocument.Parse("""{"c": "${{ inputs.config }}"}"""))
        {
            rendered = Template.RenderJson(document.RootElement, Sample());
        }

        Assert.Equal("eu-west-1", rendered.GetProperty("c").GetProperty("region").GetString());
    }

    [Fact]
    public void Template_text_is_kept()
    {
        Assert.Equal("a ${{ inputs.x }}", Template.Parse("a ${{ inputs.x }}").ToString());
    }
}
