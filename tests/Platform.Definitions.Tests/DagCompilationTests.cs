using static Platform.Definitions.Tests.TestAgents;

namespace Platform.Definitions.Tests;

public class DagCompilationTests
{
    [Fact]
    public void Step_without_requires_depends_on_the_step_before_it()
    {
        var workflow = CompileYaml("""
            name: chain
            steps:
              - { name: a, agent: builder }
              - { name: b, agent: builder }
              - { name: c, agent: builder }
            """);

        Assert.Equal(new Dictionary<string, string[]> { ["a"] = [], ["b"] = ["a"], ["c"] = ["b"] }, Dependencies(workflow));
    }

    [Fact]
    public void Empty_requires_starts_at_once_while_absent_requires_follows_the_previous_step()
    {
        var workflow = CompileYaml("""
            name: fan
            steps:
              - { name: a, agent: builder }
              - { name: b, agent: builder, requires: [] }
              - { name: c, agent: builder }
            """);

        var dependencies = Dependencies(workflow);
        Assert.Empty(dependencies["b"]);
        Assert.Equal(["b"], dependencies["c"]);
        Assert.NotNull(workflow.Document.Steps[1].Requires);
        Assert.Null(workflow.Document.Steps[2].Requires);
    }

    [Fact]
    public void Requires_may_name_a_later_step()
    {
        var workflow = CompileYaml("""
            name: forward
            steps:
              - { name: a, agent: builder, requires: [c] }
              - { name: b, agent: builder, requires: [] }
              - { name: c, agent: builder, requires: [] }
            """);

        Assert.Equal(["c"], Dependencies(workflow)["a"]);
        Assert.Equal(["a", "b", "c"], workflow.Dag.Steps.Select(s => s.Name));
    }

    [Fact]
    public void Parallel_group_in_steps_starts_its_members_together_after_the_item_before()
    {
        var workflow = CompileYaml("""
            name: group
            steps:
              - { name: test, agent: test-runner }
              - parallel:
                  - { name: aws, agent: aws-deployer }
                  - { name: gcp, agent: gcp-deployer }
              - { name: notify, agent: notifier }
            """);

        Assert.Equal(new Dictionary<string, string[]>
        {
            ["test"] = [],
            ["aws"] = ["test"],
            ["gcp"] = ["test"],
            ["notify"] = ["aws", "gcp"],
        }, Dependencies(workflow));
    }

    [Fact]
    public void Parallel_group_as_first_item_has_independent_members()
    {
        var workflow = CompileYaml("""
            name: group first
            steps:
              - parallel:
                  - { name: aws, agent: aws-deployer }
                  - { name: gcp, agent: gcp-deployer }
              - { name: notify, agent: notifier }
            """);

        var dependencies = Dependencies(workflow);
        Assert.Empty(dependencies["aws"]);
        Assert.Empty(dependencies["gcp"]);
        Assert.Equal(["aws", "gcp"], dependencies["notify"]);
    }

    [Fact]
    public void Group_requires_applies_to_members_without_their_own()
    {
        var workflow = CompileYaml("""
            name: group requires
            steps:
              - { name: a, agent: builder }
              - { name: b, agent: builder }
              - requires: [a]
                parallel:
                  - { name: m1, agent: builder }
                  - { name: m2, agent: builder, requires: [] }
            """);

        var dependencies = Dependencies(workflow);
        Assert.Equal(["a"], dependencies["m1"]);
        Assert.Empty(dependencies["m2"]);
    }

    [Fact]
    public void Requires_naming_a_group_means_all_of_its_members()
    {
        var workflow = CompileYaml("""
            name: named group
            steps:
              - name: deploys
                parallel:
                  - { name: aws, agent: aws-deployer }
                  - { name: gcp, agent: gcp-deployer }
              - { name: other, agent: builder, requires: [] }
              - { name: verify, agent: analyzer, requires: [deploys, other] }
            """);

        Assert.Equal(["aws", "gcp", "other"], Dependencies(workflow)["verify"]);
        Assert.DoesNotContain(workflow.Dag.Steps, s => s.Name == "deploys");
    }

    [Fact]
    public void Top_level_parallel_with_steps_runs_the_parallel_members_first()
    {
        var workflow = CompileYaml("""
            name: both
            steps:
              - { name: notify, agent: notifier }
              - { name: done, agent: notifier }
            parallel:
              - { name: aws, agent: aws-deployer }
              - { name: gcp, agent: gcp-deployer }
            """);

        Assert.Equal(["aws", "gcp", "notify", "done"], workflow.Dag.Steps.Select(s => s.Name));
        Assert.Equal(new Dictionary<string, string[]>
        {
            ["aws"] = [],
            ["gcp"] = [],
            ["notify"] = ["aws", "gcp"],
            ["done"] = ["notify"],
        }, Dependencies(workflow));
    }

    [Fact]
    public void Duplicate_entries_in_requires_count_once()
    {
        var workflow = CompileYaml("""
            name: dup
            steps:
              - { name: a, agent: builder }
              - { name: b, agent: builder, requires: [a, a] }
            """);

        Assert.Equal(["a"], Dependencies(workflow)["b"]);
    }

    [Fact]
    public void Step_may_give_both_agent_and_agent_id_when_they_agree()
    {
        var workflow = CompileYaml($$"""
            name: both refs
            steps:
              - { name: a, agent: builder, agent_id: "{{IdOf("builder")}}" }
            """);

        Assert.Equal(IdOf("builder"), workflow.Dag.Steps[0].AgentId);
    }

    [Fact]
    public void With_and_step_options_are_kept_on_the_step_and_resolved_in_the_dag()
    {
        var workflow = CompileYaml("""
            name: options
            steps:
              - name: a
                agent: builder
                with: { version: v1.2.3, replicas: 3, dry_run: false }
                retry: { max_attempts: 3, backoff: { initial: 1s, max: 1m, multiplier: 2 } }
                timeout: 5m
                if: ${{ inputs.deploy }}
                continue_on_failure: true
                compensate: { agent: builder, with: { undo: true } }
            """);

        var step = workflow.Dag.Steps[0];
        Assert.Equal("""{"version":"v1.2.3","replicas":3,"dry_run":false}""", step.With!.Value.GetRawText());
        var retry = step.Retry!;
        Assert.Equal((3, 1000L, 60_000L, 2.0, true), (retry.MaxAttempts, retry.InitialMs, retry.MaxMs, retry.Multiplier, retry.Jitter));
        Assert.Empty(retry.NonRetryableExitCodes);
        Assert.Equal(300_000, step.TimeoutMs);
        Assert.Equal("${{ inputs.deploy }}", step.If);
        Assert.True(step.ContinueOnFailure);
        Assert.Equal(IdOf("builder"), step.Compensation!.AgentId);
        Assert.Equal("""{"undo":true}""", step.Compensation.With!.Value.GetRawText());

        var stored = Platform.Definitions.Domain.WorkflowDocumentJson.Write(workflow.Document);
        Assert.Contains("\"continue_on_failure\":true", stored, StringComparison.Ordinal);
        Assert.Contains("\"if\":\"${{ inputs.deploy }}\"", stored, StringComparison.Ordinal);
        Assert.Contains("\"timeout\":\"5m\"", stored, StringComparison.Ordinal);
    }
}
