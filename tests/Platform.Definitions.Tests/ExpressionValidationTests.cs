using Platform.Definitions.Domain;
using static Platform.Definitions.Tests.TestAgents;

namespace Platform.Definitions.Tests;

/// <summary>Save-time checks of <c>if</c> and of <c>${{ }}</c> in <c>with</c> and <c>compensate.with</c>.</summary>
public class ExpressionValidationTests
{
    [Fact]
    public void Expressions_may_read_inputs_and_every_ancestor()
    {
        var workflow = CompileYaml("""
            name: w
            steps:
              - { name: Run Tests, agent: test-runner }
              - name: build
                agent: builder
                if: steps['Run Tests'].status == 'succeeded' && inputs.build != false
                with: { commit: "${{ inputs.commit }}", tests: "${{ steps['Run Tests'].outputs.report }}" }
              - name: deploy
                agent: deployer
                if: ${{ steps.build.outputs.tag != '' }}
                with:
                  image: "registry/app:${{ steps.build.outputs.tag }}"
                  nested: { list: [1, "${{ steps['Run Tests'].status }}"] }
                  whole: "${{ inputs.config }}"
            """);

        Assert.Equal(3, workflow.Dag.Steps.Count);
        Assert.Equal("${{ steps.build.outputs.tag != '' }}", workflow.Dag.Steps[2].If);
    }

    [Fact]
    public void Dashed_step_names_are_read_with_dots()
    {
        var workflow = CompileYaml("""
            {"name": "json", "steps": [
              {"name": "build-image", "type": "agent", "agent": "builder"},
              {"name": "deploy", "type": "agent", "agent": "deployer", "with": {"image": "${{ steps.build-image.outputs.image }}"}}
            ]}
            """);

        Assert.Equal(2, workflow.Dag.Steps.Count);
    }

    [Fact]
    public void A_parallel_group_member_may_read_what_ran_before_the_group()
    {
        var workflow = CompileYaml("""
            name: w
            steps:
              - { name: build, agent: builder }
              - parallel:
                  - { name: aws, agent: aws-deployer, with: { tag: "${{ steps.build.outputs.tag }}" } }
                  - { name: gcp, agent: gcp-deployer, if: "steps.build.status == 'succeeded'" }
              - { name: notify, agent: notifier, with: { aws: "${{ steps.aws.outputs.url }}", gcp: "${{ steps.gcp.status }}" } }
            """);

        Assert.Equal(4, workflow.Dag.Steps.Count);
    }

    [Fact]
    public void Requires_of_a_later_step_makes_it_an_ancestor()
    {
        var workflow = CompileYaml("""
            name: w
            steps:
              - { name: a, agent: builder, requires: [c], with: { x: "${{ steps.c.outputs.x }} ${{ steps.b.outputs.y }}" } }
              - { name: b, agent: builder, requires: [] }
              - { name: c, agent: builder }
            """);

        Assert.Equal(["c"], workflow.Dag.Steps[0].DependsOn);
    }

    [Fact]
    public void Reading_a_step_that_is_not_an_ancestor_names_the_field_and_both_steps()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: build, agent: builder }
              - { name: lint, agent: builder, requires: [] }
              - name: deploy
                agent: deployer
                requires: [build]
                with:
                  config: { list: [1, "${{ steps.lint.outputs.report }}"] }
            """);

        Assert.Equal("steps[2].with.config.list[1]", violation.Field);
        Assert.StartsWith("reads step 'lint', which does not finish before step 'deploy' starts: add 'lint' to the requires of 'deploy'",
            violation.Description, StringComparison.Ordinal);
        Assert.EndsWith("(line 9, column 27)", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Reading_a_later_step_is_refused()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: a, agent: builder, if: "steps.b.status == 'failed'" }
              - { name: b, agent: builder }
            """);

        Assert.Equal("steps[0].if", violation.Field);
        Assert.Contains("'b'", violation.Description, StringComparison.Ordinal);
        Assert.Contains("step 'a'", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_requires_cuts_the_chain()
    {
        Assert.Equal("steps[1].with.x", Only("""
            name: w
            steps:
              - { name: a, agent: builder }
              - { name: b, agent: builder, requires: [], with: { x: "${{ steps.a.outputs.x }}" } }
            """).Field);
    }

    [Fact]
    public void Members_of_one_parallel_group_cannot_read_each_other()
    {
        var violation = Only("""
            name: w
            steps:
              - parallel:
                  - { name: aws, agent: aws-deployer }
                  - { name: gcp, agent: gcp-deployer, with: { peer: "${{ steps.aws.outputs.url }}" } }
            """);

        Assert.Equal("steps[0].parallel[1].with.peer", violation.Field);
        Assert.Contains("'aws'", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Top_level_parallel_members_cannot_read_each_other_but_the_steps_after_them_can()
    {
        Assert.Equal("parallel[0].if", Only("""
            name: w
            parallel:
              - { name: aws, agent: aws-deployer, if: steps.gcp.status }
              - { name: gcp, agent: gcp-deployer }
            """).Field);
        Assert.NotNull(CompileYaml("""
            name: w
            parallel:
              - { name: aws, agent: aws-deployer }
            steps:
              - { name: notify, agent: notifier, with: { url: "${{ steps.aws.outputs.url }}" } }
            """));
    }

    [Fact]
    public void A_step_cannot_read_itself_but_its_compensation_can()
    {
        var violations = ViolationsOf("""
            name: w
            steps:
              - name: deploy
                agent: deployer
                if: steps.deploy.status != 'succeeded'
                with: { again: "${{ steps.deploy.outputs.release }}" }
                compensate: { agent: remediator, with: { release: "${{ steps.deploy.outputs.release }}" } }
            """);

        Assert.Equal(["steps[0].if", "steps[0].with.again"], violations.Select(v => v.Field));
        Assert.All(violations, v => Assert.Contains("which is this step", v.Description, StringComparison.Ordinal));
    }

    [Fact]
    public void Compensation_may_read_ancestors_but_nothing_else()
    {
        Assert.NotNull(CompileYaml("""
            name: w
            steps:
              - { name: build, agent: builder }
              - name: deploy
                agent: deployer
                compensate: { agent: remediator, with: { tag: "${{ steps.build.outputs.tag }}", s: "${{ steps.deploy.status }}" } }
            """));
        Assert.Equal("steps[0].compensate.with.next", Only("""
            name: w
            steps:
              - { name: deploy, agent: deployer, compensate: { agent: remediator, with: { next: "${{ steps.verify.outputs.x }}" } } }
              - { name: verify, agent: analyzer }
            """).Field);
    }

    [Fact]
    public void Reading_an_unknown_step_is_refused()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: a, agent: builder }
              - { name: b, agent: builder, with: { x: "${{ steps.ghost.outputs.x }}" } }
            """);

        Assert.Equal("steps[1].with.x", violation.Field);
        Assert.StartsWith("reads step 'ghost', but this workflow has no step named 'ghost'", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Reading_a_parallel_group_is_refused_with_a_hint()
    {
        var violation = Only("""
            name: w
            steps:
              - name: deploys
                parallel:
                  - { name: aws, agent: aws-deployer }
              - { name: b, agent: builder, if: "steps.deploys.status == 'succeeded'" }
            """);

        Assert.Equal("steps[1].if", violation.Field);
        Assert.Contains("a parallel group", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Each_step_is_reported_once_per_field()
    {
        var violations = ViolationsOf("""
            name: w
            steps:
              - { name: a, agent: builder, requires: [] }
              - { name: c, agent: builder, requires: [] }
              - { name: b, agent: builder, requires: [], with: { x: "${{ steps.a.outputs.x }}${{ steps.a.status }}${{ steps.c.status }}" } }
            """);

        Assert.Equal(2, violations.Count);
        Assert.All(violations, v => Assert.Equal("steps[2].with.x", v.Field));
    }

    [Theory]
    [InlineData("inputs.a ==", "steps[0].if", "is not a valid condition: expected a value but found the end of the text (at column 12)")]
    [InlineData("\"${{ inputs.a }} == 'x'\"", "steps[0].if", "is not a valid condition: a condition is written bare")]
    [InlineData("github.ref == 'main'", "steps[0].if", "is not a valid condition: unknown name 'github'")]
    [InlineData("\"steps.a.result == 'x'\"", "steps[0].if", "a step has 'outputs' and 'status', not 'result'")]
    [InlineData("\" \"", "steps[0].if", "the condition is empty")]
    public void Condition_that_does_not_parse_is_reported_on_if(string condition, string field, string message)
    {
        var violation = Only($"name: w\nsteps:\n  - name: a\n    agent: builder\n    if: {condition}\n");

        Assert.Equal(field, violation.Field);
        Assert.Contains(message, violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Overlong_condition_is_refused()
    {
        var condition = string.Join(" || ", Enumerable.Repeat("inputs.a", 1000));

        Assert.Equal("steps[0].if", Only($"name: w\nsteps:\n  - {{ name: a, agent: builder, if: \"{condition}\" }}\n").Field);
    }

    [Theory]
    [InlineData("\"${{ inputs.a \"", "steps[0].with.x", "is not a valid expression: the expression opened with '${{' is not closed with '}}' (at column 1)")]
    [InlineData("\"a ${{ inputs.b = 1 }}\"", "steps[0].with.x", "'=' is not an operator")]
    [InlineData("[1, { y: \"${{ }}\" }]", "steps[0].with.x[1].y", "the expression is empty")]
    public void Template_that_does_not_parse_is_reported_on_its_field(string value, string field, string message)
    {
        var violation = Only($"name: w\nsteps:\n  - name: a\n    agent: builder\n    with:\n      x: {value}\n");

        Assert.Equal(field, violation.Field);
        Assert.Contains(message, violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Template_in_compensation_with_must_parse()
    {
        Assert.Equal("steps[0].compensate.with.r", Only("""
            name: w
            steps:
              - { name: a, agent: builder, compensate: { agent: remediator, with: { r: "${{ steps.a.outputs }" } } }
            """).Field);
    }

    [Fact]
    public void Strings_without_an_opening_are_not_expressions_and_keys_are_not_read()
    {
        Assert.NotNull(CompileYaml("""
            name: w
            steps:
              - name: a
                agent: builder
                with: { "${{ steps.ghost.status }}": "}} {{ $ {", other: "$ {{ x }}" }
            """));
    }

    [Fact]
    public void Reference_checks_wait_for_a_sound_graph()
    {
        var violations = ViolationsOf("""
            name: w
            steps:
              - { name: a, agent: builder, requires: [b], with: { x: "${{ steps.zzz.status }}" } }
              - { name: b, agent: builder, requires: [a] }
            """);

        Assert.Single(violations);
        Assert.Contains("dependency cycle", violations[0].Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_errors_are_reported_even_when_the_graph_is_not_sound()
    {
        var violations = ViolationsOf("""
            name: w
            steps:
              - { name: a, agent: builder, requires: [missing], if: "inputs.a ==" }
            """);

        Assert.Equal(["steps[0].if", "steps[0].requires[0]"], violations.Select(v => v.Field).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Json_body_and_yaml_get_the_same_checks()
    {
        var document = new WorkflowDocument
        {
            Name = "json",
            Steps =
            [
                new StepItem { Name = "a", AgentId = IdOf("builder").ToString() },
                new StepItem
                {
                    Name = "b",
                    AgentId = IdOf("builder").ToString(),
                    Requires = [],
                    If = "steps.a.status == 'succeeded'",
                    Retry = new RetrySpec(0, new BackoffSpec("1m", "1s", 0.5, null), [0]),
                    Timeout = "1x",
                },
            ],
        };

        var failure = Assert.Throws<Platform.BuildingBlocks.Errors.ValidationFailedException>(() => Compile(document));

        Assert.Equal(
        [
            "steps[1].timeout", "steps[1].retry.max_attempts", "steps[1].retry.backoff.max", "steps[1].retry.backoff.multiplier",
            "steps[1].retry.non_retryable_exit_codes[0]", "steps[1].if",
        ], failure.Violations.Select(v => v.Field));
    }
}
