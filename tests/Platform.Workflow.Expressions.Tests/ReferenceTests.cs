namespace Platform.Workflow.Expressions.Tests;

public class ReferenceTests
{
    [Fact]
    public void References_name_inputs_and_steps_in_order_with_positions()
    {
        var expression = Expression.Parse("inputs.env == 'prod' && steps['Run Tests'].status == 'succeeded' || steps.build.outputs.tag");

        Assert.Equal(
        [
            new ExpressionReference(ReferenceKind.Input, null, "env", 0),
            new ExpressionReference(ReferenceKind.StepStatus, "Run Tests", null, 24),
            new ExpressionReference(ReferenceKind.StepOutput, "build", "tag", 68),
        ], expression.References);
    }

    [Fact]
    public void Whole_objects_and_computed_keys_have_no_key()
    {
        Assert.Equal(new ExpressionReference(ReferenceKind.Input, null, null, 0), Assert.Single(Expression.Parse("inputs").References));
        Assert.Equal(new ExpressionReference(ReferenceKind.StepOutput, "a", null, 0),
            Assert.Single(Expression.Parse("steps.a.outputs").References));
        Assert.Equal(
        [
            new ExpressionReference(ReferenceKind.StepOutput, "a", null, 0),
            new ExpressionReference(ReferenceKind.Input, null, "key", 16),
        ], Expression.Parse("steps.a.outputs[inputs.key]").References);
        Assert.Equal(new ExpressionReference(ReferenceKind.Input, null, null, 0),
            Assert.Single(Expression.Parse("inputs[0]").References));
    }

    [Fact]
    public void Deeper_paths_keep_the_first_key()
    {
        Assert.Equal("config", Assert.Single(Expression.Parse("inputs.config.region").References).Key);
        Assert.Equal("my key", Assert.Single(Expression.Parse("inputs['my key'].x").References).Key);
        Assert.Equal("tag", Assert.Single(Expression.Parse("steps.b.outputs['tag']").References).Key);
    }

    [Fact]
    public void Literals_have_no_references()
    {
        Assert.Empty(Expression.Parse("'steps.a.outputs.b' == 1").References);
    }

    [Fact]
    public void Every_occurrence_is_listed()
    {
        Assert.Equal(["a", "a", "b"], Expression.Parse("steps.a.status == 'x' || steps.a.outputs.y || !steps.b.status")
            .References.Select(r => r.Step));
    }

    [Fact]
    public void Template_references_are_those_of_its_expressions_with_positions_in_the_template()
    {
        var template = Template.Parse("${{ inputs.env }}-${{ steps['build'].outputs.tag }}");

        Assert.Equal(
        [
            new ExpressionReference(ReferenceKind.Input, null, "env", 4),
            new ExpressionReference(ReferenceKind.StepOutput, "build", "tag", 22),
        ], template.References);
    }

    [Fact]
    public void References_read_as_expressions()
    {
        Assert.Equal("inputs.env", new ExpressionReference(ReferenceKind.Input, null, "env", 0).ToString());
        Assert.Equal("inputs", new ExpressionReference(ReferenceKind.Input, null, null, 0).ToString());
        Assert.Equal("steps['Run Tests'].status", new ExpressionReference(ReferenceKind.StepStatus, "Run Tests", null, 0).ToString());
        Assert.Equal("steps['b'].outputs.t", new ExpressionReference(ReferenceKind.StepOutput, "b", "t", 0).ToString());
        Assert.Equal("steps['b'].outputs", new ExpressionReference(ReferenceKind.StepOutput, "b", null, 0).ToString());
    }
}
