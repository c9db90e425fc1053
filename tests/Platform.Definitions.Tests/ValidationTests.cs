using Platform.BuildingBlocks.Errors;
using Platform.Definitions.Domain;
using static Platform.Definitions.Tests.TestAgents;

namespace Platform.Definitions.Tests;

public class ValidationTests
{
    [Fact]
    public void Missing_workflow_name_is_reported_on_name()
    {
        var violation = Only("""
            description: no name
            steps:
              - { name: a, agent: builder }
            """);

        Assert.Equal("name", violation.Field);
        Assert.Contains("required", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Blank_workflow_name_is_reported_on_name()
    {
        Assert.Equal("name", Only("""
            name: "  "
            steps:
              - { name: a, agent: builder }
            """).Field);
    }

    [Fact]
    public void Only_the_name_is_required()
    {
        Assert.Empty(CompileYaml("name: empty").Dag.Steps);
        Assert.Empty(CompileYaml("name: empty\nsteps: []").Dag.Steps);
    }

    [Fact]
    public void Step_without_name_is_reported_on_its_name()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: a, agent: builder }
              - { agent: builder }
            """);

        Assert.Equal("steps[1].name", violation.Field);
        Assert.Contains("line 4", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_step_name_is_reported_on_the_second_step()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: a, agent: builder }
              - { name: a, agent: builder }
            """);

        Assert.Equal("steps[1].name", violation.Field);
        Assert.Contains("steps[0]", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Duplicate_name_between_a_step_and_a_parallel_member_is_rejected()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: a, agent: builder }
              - parallel:
                  - { name: b, agent: builder }
                  - { name: a, agent: builder }
            """);

        Assert.Equal("steps[1].parallel[1].name", violation.Field);
    }

    [Fact]
    public void Duplicate_name_between_top_level_parallel_and_steps_is_rejected()
    {
        var violation = Only("""
            name: w
            parallel:
              - { name: a, agent: builder }
            steps:
              - { name: a, agent: builder }
            """);

        Assert.Equal("steps[0].name", violation.Field);
        Assert.Contains("parallel[0]", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Requires_naming_an_unknown_step_is_reported_on_that_entry()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: a, agent: builder }
              - { name: b, agent: builder }
              - { name: c, agent: builder, requires: [a, missing] }
            """);

        Assert.Equal("steps[2].requires[1]", violation.Field);
        Assert.Contains("'missing'", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Cycle_is_reported_with_the_steps_in_it()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: a, agent: builder, requires: [c] }
              - { name: b, agent: builder }
              - { name: c, agent: builder }
            """);

        Assert.Equal("steps[0].requires[0]", violation.Field);
        Assert.Contains("'a' → 'c' → 'b' → 'a'", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Step_requiring_itself_is_a_cycle()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: a, agent: builder, requires: [a] }
            """);

        Assert.Equal("steps[0].requires[0]", violation.Field);
        Assert.Contains("'a' → 'a'", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_separate_cycles_are_both_reported()
    {
        var violations = ViolationsOf("""
            name: w
            steps:
              - { name: a, agent: builder, requires: [b] }
              - { name: b, agent: builder, requires: [a] }
              - { name: c, agent: builder, requires: [d] }
              - { name: d, agent: builder, requires: [c] }
            """);

        Assert.Equal(2, violations.Count);
        Assert.Contains(violations, v => v.Description.Contains("'a' → 'b' → 'a'", StringComparison.Ordinal));
        Assert.Contains(violations, v => v.Description.Contains("'c' → 'd' → 'c'", StringComparison.Ordinal));
    }

    [Fact]
    public void Unknown_agent_name_is_reported_on_agent()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: a, agent: no-such-agent }
            """);

        Assert.Equal("steps[0].agent", violation.Field);
        Assert.Contains("no-such-agent", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_agent_id_is_reported_on_agent_id()
    {
        Assert.Equal("steps[0].agent_id", Only($$"""
            name: w
            steps:
              - { name: a, agent_id: "{{Guid.NewGuid()}}" }
            """).Field);
        Assert.Equal("steps[0].agent_id", Only("""
            name: w
            steps:
              - { name: a, agent_id: not-a-uuid }
            """).Field);
    }

    [Fact]
    public void Agent_of_another_team_is_unknown()
    {
        var document = WorkflowYaml.Parse("""
            name: w
            steps:
              - { name: a, agent: builder }
            """).Document;

        var failure = Assert.Throws<ValidationFailedException>(() =>
            WorkflowCompiler.Compile(document with { TeamId = "other" }, new AgentDirectory("other", [])));

        Assert.Equal("steps[0].agent", Assert.Single(failure.Violations).Field);
        Assert.Contains("team 'other'", failure.Violations[0].Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Agent_and_agent_id_naming_different_agents_are_rejected()
    {
        Assert.Equal("steps[0].agent", Only($$"""
            name: w
            steps:
              - { name: a, agent: builder, agent_id: "{{IdOf("deployer")}}" }
            """).Field);
    }

    [Fact]
    public void Step_with_neither_agent_nor_agent_id_is_reported_on_agent()
    {
        var violation = Only("""
            name: w
            steps:
              - name: a
            """);

        Assert.Equal("steps[0].agent", violation.Field);
        Assert.Contains("agent_id", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_step_type_is_reported_on_type()
    {
        var violation = Only("""
            name: w
            steps:
              - { name: a, type: lambda, agent: builder }
            """);

        Assert.Equal("steps[0].type", violation.Field);
        Assert.Contains("'lambda'", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Nested_parallel_groups_are_rejected()
    {
        Assert.Equal("steps[0].parallel[0].parallel", Only("""
            name: w
            steps:
              - parallel:
                  - parallel:
                      - { name: a, agent: builder }
            """).Field);
    }

    [Fact]
    public void Empty_parallel_group_is_rejected()
    {
        Assert.Contains(ViolationsOf("""
            name: w
            steps:
              - { name: a, agent: builder }
              - parallel: []
            """), v => v.Field == "steps[1].parallel");
    }

    [Fact]
    public void Agent_on_a_parallel_group_is_rejected()
    {
        Assert.Equal("steps[0].agent", Only("""
            name: w
            steps:
              - agent: builder
                parallel:
                  - { name: a, agent: builder }
            """).Field);
    }

    [Fact]
    public void Trigger_with_unknown_type_is_rejected()
    {
        Assert.Equal("trigger.type", Only("""
            name: w
            trigger: { type: carrier-pigeon }
            steps:
              - { name: a, agent: builder }
            """).Field);
    }

    [Fact]
    public void Schedule_trigger_needs_a_cron()
    {
        Assert.Equal("trigger.cron", Only("""
            name: w
            trigger: { type: schedule }
            steps:
              - { name: a, agent: builder }
            """).Field);
    }

    [Fact]
    public void More_steps_than_the_limit_are_rejected_on_steps()
    {
        var steps = string.Join('\n', Enumerable.Range(0, WorkflowLimits.MaxSteps + 1).Select(i => $"  - {{ name: s{i}, agent: builder }}"));

        var violation = Only($"name: big\nsteps:\n{steps}\n");

        Assert.Equal("steps", violation.Field);
        Assert.Contains(WorkflowLimits.MaxSteps.ToString(System.Globalization.CultureInfo.InvariantCulture),
            violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Exactly_the_step_limit_is_accepted()
    {
        var steps = string.Join('\n', Enumerable.Range(0, WorkflowLimits.MaxSteps).Select(i => $"  - {{ name: s{i}, agent: builder }}"));

        var workflow = CompileYaml($"name: big\nsteps:\n{steps}\n");

        Assert.Equal(WorkflowLimits.MaxSteps, workflow.Dag.Steps.Count);
    }

    [Fact]
    public void Overlong_names_are_rejected()
    {
        var longName = new string('x', WorkflowLimits.MaxNameLength + 1);

        var violations = ViolationsOf($"name: {longName}\nsteps:\n  - {{ name: {longName}, agent: builder }}\n");

        Assert.Equal(["name", "steps[0].name"], violations.Select(v => v.Field));
    }

    [Fact]
    public void All_problems_of_a_document_are_reported_together()
    {
        var violations = ViolationsOf("""
            steps:
              - { name: a, agent: ghost }
              - { name: a, agent: builder, type: human }
            """);

        Assert.Equal(["name", "steps[1].name", "steps[0].agent", "steps[1].type"],
            violations.Select(v => v.Field));
    }

    [Fact]
    public void Team_in_request_and_document_must_agree()
    {
        var failure = Assert.Throws<ValidationFailedException>(() => Teams.Choose("a", "b"));

        Assert.Equal("team_id", Assert.Single(failure.Violations).Field);
        Assert.Equal("a", Teams.Choose("a", null));
        Assert.Equal("b", Teams.Choose("", "b"));
        Assert.Equal("default", Teams.Choose("", null));
    }
}
