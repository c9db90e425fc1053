using Platform.BuildingBlocks.Errors;
using Platform.Definitions.Domain;
using static Platform.Definitions.Tests.TestAgents;

namespace Platform.Definitions.Tests;

/// <summary>retry, timeout, compensate, continue_on_failure, type: approval; workflow timeout.</summary>
public class StepOptionTests
{
    private static DagStep Single(string stepYaml) =>
        Assert.Single(CompileYaml($"name: w\nsteps:\n  - name: a\n{Indent(stepYaml)}").Dag.Steps);

    private static FieldViolation OnlyStep(string stepYaml) => Only($"name: w\nsteps:\n  - name: a\n{Indent(stepYaml)}");

    private static string Indent(string yaml) => string.Join('\n', yaml.Split('\n').Select(l => "    " + l)) + "\n";

    // ---- retry ----

    [Fact]
    public void Retry_with_every_field_is_resolved_as_written()
    {
        var retry = Single("""
            agent: builder
            retry:
              max_attempts: 5
              backoff: { initial: 500ms, max: 30s, multiplier: 1.5, jitter: false }
              non_retryable_exit_codes: [2, 127, -1]
            """).Retry!;

        Assert.Equal((5, 500L, 30_000L, 1.5, false), (retry.MaxAttempts, retry.InitialMs, retry.MaxMs, retry.Multiplier, retry.Jitter));
        Assert.Equal([2, 127, -1], retry.NonRetryableExitCodes);
    }

    [Fact]
    public void Retry_defaults_are_1s_5m_times_2_with_jitter()
    {
        var retry = Single("agent: builder\nretry: { max_attempts: 3 }").Retry!;

        Assert.Equal((3, 1_000L, 300_000L, 2.0, true), (retry.MaxAttempts, retry.InitialMs, retry.MaxMs, retry.Multiplier, retry.Jitter));
        Assert.Empty(retry.NonRetryableExitCodes);
    }

    [Fact]
    public void Default_max_is_never_below_initial_nor_default_initial_above_max()
    {
        var longInitial = Single("agent: builder\nretry: { max_attempts: 3, backoff: { initial: 10m } }").Retry!;
        var shortMax = Single("agent: builder\nretry: { max_attempts: 3, backoff: { max: 200ms } }").Retry!;

        Assert.Equal((600_000L, 600_000L), (longInitial.InitialMs, longInitial.MaxMs));
        Assert.Equal((200L, 200L), (shortMax.InitialMs, shortMax.MaxMs));
    }

    [Fact]
    public void No_retry_block_means_no_retry()
    {
        Assert.Null(Single("agent: builder").Retry);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(100)]
    public void Max_attempts_from_1_to_100_is_accepted(int attempts)
    {
        Assert.Equal(attempts, Single($"agent: builder\nretry: {{ max_attempts: {attempts} }}").Retry!.MaxAttempts);
    }

    [Theory]
    [InlineData("{ max_attempts: 0 }", "must be between 1 and 100")]
    [InlineData("{ max_attempts: 101 }", "must be between 1 and 100")]
    [InlineData("{ max_attempts: -3 }", "must be between 1 and 100")]
    [InlineData("{ backoff: { initial: 1s } }", "is required")]
    [InlineData("{ }", "is required")]
    [InlineData("{ max_attempts: 2.5 }", "must be a whole number")]
    [InlineData("{ max_attempts: '3' }", "must be a whole number")]
    [InlineData("{ max_attempts: 99999999999 }", "99999999999 is out of range")]
    public void Bad_max_attempts_is_reported_on_the_field_of_the_third_step(string retry, string message)
    {
        var violation = Only($"""
            name: w
            steps:
              - {'{'} name: a, agent: builder {'}'}
              - {'{'} name: b, agent: builder {'}'}
              - name: c
                agent: builder
                retry: {retry}
            """);

        Assert.Equal("steps[2].retry.max_attempts", violation.Field);
        Assert.Contains(message, violation.Description, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{ initial: 1x }", "steps[0].retry.backoff.initial", "'1x' is not a duration")]
    [InlineData("{ max: 10 }", "steps[0].retry.backoff.max", "'10' has no unit")]
    [InlineData("{ initial: 0s }", "steps[0].retry.backoff.initial", "must be more than 0")]
    [InlineData("{ max: 8d }", "steps[0].retry.backoff.max", "is not a duration")]
    [InlineData("{ initial: 1m, max: 30s }", "steps[0].retry.backoff.max", "'30s' is shorter than initial ('1m')")]
    [InlineData("{ multiplier: 0.5 }", "steps[0].retry.backoff.multiplier", "must be at least 1")]
    [InlineData("{ multiplier: 0 }", "steps[0].retry.backoff.multiplier", "must be at least 1")]
    [InlineData("{ multiplier: fast }", "steps[0].retry.backoff.multiplier", "must be a number")]
    [InlineData("{ jitter: yes }", "steps[0].retry.backoff.jitter", "must be true or false")]
    [InlineData("{ factor: 2 }", "steps[0].retry.backoff.factor", "unknown key 'factor'")]
    public void Bad_backoff_is_reported_on_its_field(string backoff, string field, string message)
    {
        var violation = OnlyStep($"agent: builder\nretry: {{ max_attempts: 3, backoff: {backoff} }}");

        Assert.Equal(field, violation.Field);
        Assert.Contains(message, violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Equal_initial_and_max_and_a_multiplier_of_1_are_accepted()
    {
        var retry = Single("agent: builder\nretry: { max_attempts: 3, backoff: { initial: 1m, max: 60s, multiplier: 1 } }").Retry!;

        Assert.Equal((60_000L, 60_000L, 1.0), (retry.InitialMs, retry.MaxMs, retry.Multiplier));
    }

    [Theory]
    [InlineData("[2, 0]", "steps[0].retry.non_retryable_exit_codes[1]", "0 means success")]
    [InlineData("[2, x]", "steps[0].retry.non_retryable_exit_codes[1]", "must be a whole number")]
    [InlineData("[1.5]", "steps[0].retry.non_retryable_exit_codes[0]", "must be a whole number")]
    [InlineData("2", "steps[0].retry.non_retryable_exit_codes", "must be a list of exit codes")]
    public void Bad_exit_codes_are_reported_by_index(string codes, string field, string message)
    {
        var violation = OnlyStep($"agent: builder\nretry: {{ max_attempts: 3, non_retryable_exit_codes: {codes} }}");

        Assert.Equal(field, violation.Field);
        Assert.Contains(message, violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Too_many_exit_codes_are_refused()
    {
        var codes = string.Join(", ", Enumerable.Range(1, WorkflowLimits.MaxExitCodes + 1));

        Assert.Equal("steps[0].retry.non_retryable_exit_codes",
            OnlyStep($"agent: builder\nretry: {{ max_attempts: 3, non_retryable_exit_codes: [{codes}] }}").Field);
    }

    [Fact]
    public void Retry_that_is_not_a_mapping_is_refused()
    {
        var violation = OnlyStep("agent: builder\nretry: 3");

        Assert.Equal("steps[0].retry", violation.Field);
        Assert.StartsWith("must be a mapping (max_attempts, backoff, non_retryable_exit_codes)", violation.Description, StringComparison.Ordinal);
        Assert.Equal("steps[0].retry.backoff", OnlyStep("agent: builder\nretry: { max_attempts: 2, backoff: 1s }").Field);
    }

    [Fact]
    public void Unknown_retry_key_gets_a_suggestion()
    {
        var violations = ViolationsOf("name: w\nsteps:\n  - name: a\n    agent: builder\n    retry: { max_attempt: 3 }\n");

        Assert.Contains(violations, v => v.Field == "steps[0].retry.max_attempt" &&
            v.Description.StartsWith("unknown key 'max_attempt'; did you mean 'max_attempts'?", StringComparison.Ordinal));
    }

    [Fact]
    public void Retry_of_a_parallel_member_is_reported_under_the_group()
    {
        Assert.Equal("steps[1].parallel[0].retry.max_attempts", Only("""
            name: w
            steps:
              - { name: a, agent: builder }
              - parallel:
                  - { name: b, agent: builder, retry: { max_attempts: 0 } }
            """).Field);
        Assert.Equal("parallel[1].retry.backoff.initial", Only("""
            name: w
            parallel:
              - { name: a, agent: builder }
              - { name: b, agent: builder, retry: { max_attempts: 2, backoff: { initial: soon } } }
            """).Field);
    }

    [Fact]
    public void Violations_of_imported_options_carry_their_line()
    {
        var violation = Only("""
            name: w
            steps:
              - name: a
                agent: builder
                retry:
                  max_attempts: 3
                  backoff:
                    initial: forever
            """);

        Assert.Equal("steps[0].retry.backoff.initial", violation.Field);
        Assert.EndsWith("(line 8, column 9)", violation.Description, StringComparison.Ordinal);
    }

    // ---- timeout ----

    [Fact]
    public void Step_timeout_is_resolved_to_milliseconds()
    {
        Assert.Equal(90_000, Single("agent: builder\ntimeout: 1m30s").TimeoutMs);
        Assert.Equal(0, Single("agent: builder").TimeoutMs);
    }

    [Theory]
    [InlineData("30", "has no unit")]
    [InlineData("0s", "must be more than 0")]
    [InlineData("169h", "is longer than the limit of 7 days")]
    [InlineData("soon", "is not a duration")]
    [InlineData("true", "is not a duration")]
    public void Bad_step_timeout_is_reported_on_timeout(string timeout, string message)
    {
        var violation = OnlyStep($"agent: builder\ntimeout: {timeout}");

        Assert.Equal("steps[0].timeout", violation.Field);
        Assert.Contains(message, violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Workflow_timeout_is_kept_and_resolved()
    {
        var workflow = CompileYaml("name: w\ntimeout: 2h\nsteps:\n  - { name: a, agent: builder }\n");

        Assert.Equal("2h", workflow.Document.Timeout);
        Assert.Equal(7_200_000, workflow.Dag.TimeoutMs);
        Assert.Equal(0, CompileYaml("name: w").Dag.TimeoutMs);
    }

    [Fact]
    public void Bad_workflow_timeout_is_reported_on_timeout()
    {
        var violation = Only("name: w\ntimeout: 8d\n");

        Assert.Equal("timeout", violation.Field);
        Assert.EndsWith("(line 2, column 1)", violation.Description, StringComparison.Ordinal);
    }

    // ---- compensate ----

    [Fact]
    public void Compensation_by_name_is_resolved_like_a_step_agent()
    {
        var workflow = CompileYaml("""
            name: w
            steps:
              - name: deploy
                agent: deployer
                compensate: { agent: remediator, with: { release: "${{ steps.deploy.outputs.release }}" } }
            """);

        var compensation = workflow.Dag.Steps[0].Compensation!;
        Assert.Equal(IdOf("remediator"), compensation.AgentId);
        Assert.Equal("""{"release":"${{ steps.deploy.outputs.release }}"}""", compensation.With!.Value.GetRawText());
        var written = workflow.Document.Steps[0].Compensate!;
        Assert.Equal(("remediator", IdOf("remediator").ToString()), (written.Agent, written.AgentId));
    }

    [Fact]
    public void Compensation_by_id_gets_its_name()
    {
        var workflow = CompileYaml($$"""
            name: w
            steps:
              - { name: a, agent: deployer, compensate: { agent_id: "{{IdOf("remediator")}}" } }
            """);

        Assert.Equal("remediator", workflow.Document.Steps[0].Compensate!.Agent);
        Assert.Null(workflow.Dag.Steps[0].Compensation!.With);
    }

    [Theory]
    [InlineData("{ agent: ghost }", "steps[0].compensate.agent", "no agent named 'ghost' exists in team 'default'")]
    [InlineData("{ agent_id: not-an-id }", "steps[0].compensate.agent_id", "no agent with id 'not-an-id'")]
    [InlineData("{ with: { a: 1 } }", "steps[0].compensate.agent", "is required: name an agent (agent) or give its id (agent_id)")]
    [InlineData("{ }", "steps[0].compensate.agent", "is required")]
    [InlineData("{ agent: builder, with: [1] }", "steps[0].compensate.with", "must be a map of inputs")]
    [InlineData("{ agnet: builder }", "steps[0].compensate.agnet", "did you mean 'agent'?")]
    [InlineData("builder", "steps[0].compensate", "must be a mapping (agent or agent_id, with)")]
    public void Bad_compensation_is_reported_on_its_field(string compensate, string field, string message)
    {
        var violations = ViolationsOf($"name: w\nsteps:\n  - name: a\n    agent: deployer\n    compensate: {compensate}\n");

        var violation = Assert.Single(violations, v => v.Field == field);
        Assert.Contains(message, violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Compensation_agent_and_agent_id_must_agree()
    {
        var violation = OnlyStep($"agent: deployer\ncompensate: {{ agent: builder, agent_id: \"{IdOf("notifier")}\" }}");

        Assert.Equal("steps[0].compensate.agent", violation.Field);
        Assert.Contains("'notifier'", violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Compensation_agent_of_another_team_is_unknown()
    {
        var document = WorkflowYaml.Parse("name: w\nsteps:\n  - { name: a, agent: builder, compensate: { agent: builder } }\n").Document;

        var failure = Assert.Throws<ValidationFailedException>(() =>
            WorkflowCompiler.Compile(document with { TeamId = "other" }, new AgentDirectory("other", [(IdOf("builder2"), "x")])));

        Assert.Equal(["steps[0].agent", "steps[0].compensate.agent"], failure.Violations.Select(v => v.Field));
    }

    [Fact]
    public void Compensation_agents_are_looked_up_with_the_step_agents()
    {
        var references = AgentReferences.Of(WorkflowYaml.Parse($$"""
            name: w
            steps:
              - { name: a, agent: builder, compensate: { agent: remediator } }
              - { name: b, agent: builder, compensate: { agent_id: "{{IdOf("notifier")}}" } }
            """).Document);

        Assert.Equal(["builder", "remediator"], references.Names.Order(StringComparer.Ordinal));
        Assert.Equal([IdOf("notifier")], references.Ids);
    }

    // ---- continue_on_failure ----

    [Fact]
    public void Continue_on_failure_is_a_boolean()
    {
        Assert.True(Single("agent: builder\ncontinue_on_failure: true").ContinueOnFailure);
        Assert.False(Single("agent: builder\ncontinue_on_failure: false").ContinueOnFailure);
        Assert.False(Single("agent: builder").ContinueOnFailure);
        Assert.Null(CompileYaml("name: w\nsteps:\n  - { name: a, agent: builder }\n").Document.Steps[0].ContinueOnFailure);
        Assert.False(CompileYaml("name: w\nsteps:\n  - { name: a, agent: builder, continue_on_failure: false }\n")
            .Document.Steps[0].ContinueOnFailure);
    }

    [Theory]
    [InlineData("yes")]
    [InlineData("1")]
    [InlineData("'true'")]
    public void Continue_on_failure_must_be_true_or_false(string value)
    {
        var violation = OnlyStep($"agent: builder\ncontinue_on_failure: {value}");

        Assert.Equal("steps[0].continue_on_failure", violation.Field);
        Assert.StartsWith("must be true or false", violation.Description, StringComparison.Ordinal);
    }

    // ---- type: approval ----

    [Fact]
    public void Approval_step_runs_no_agent_and_may_wait_with_a_timeout()
    {
        var workflow = CompileYaml("""
            name: release
            steps:
              - { name: build, agent: builder }
              - name: Approve Release
                type: approval
                timeout: 24h
                if: steps.build.outputs.needs_approval == 'true'
                continue_on_failure: true
                with: { message: "release ${{ steps.build.outputs.tag }}?" }
              - { name: deploy, agent: deployer }
            """);

        var approval = workflow.Dag.Steps[1];
        Assert.Equal((StepItem.ApprovalType, (Guid?)null, 86_400_000L), (approval.Type, approval.AgentId, approval.TimeoutMs));
        Assert.Equal(["build"], approval.DependsOn);
        Assert.Equal(["Approve Release"], workflow.Dag.Steps[2].DependsOn);
        Assert.True(approval.ContinueOnFailure);
        var written = workflow.Document.Steps[1];
        Assert.Equal(("approval", "", ""), (written.Type, written.Agent, written.AgentId));
        Assert.Equal(StepItem.AgentType, workflow.Dag.Steps[0].Type);
        Assert.Equal(StepItem.AgentType, workflow.Document.Steps[0].Type);
    }

    [Fact]
    public void Approval_step_without_a_timeout_waits_without_limit()
    {
        Assert.Equal(0, Single("type: approval").TimeoutMs);
    }

    [Theory]
    [InlineData("agent: builder", "steps[0].agent", "an approval step runs no agent")]
    [InlineData("agent_id: x", "steps[0].agent_id", "an approval step runs no agent")]
    [InlineData("retry: { max_attempts: 3 }", "steps[0].retry", "does not apply to an approval step")]
    [InlineData("compensate: { agent: builder }", "steps[0].compensate", "does not apply to an approval step")]
    public void Approval_step_refuses_agents_retries_and_compensation(string key, string field, string message)
    {
        var violation = OnlyStep($"type: approval\n{key}");

        Assert.Equal(field, violation.Field);
        Assert.Contains(message, violation.Description, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_step_type_names_the_supported_types()
    {
        var violation = OnlyStep("type: manual\nagent: builder");

        Assert.Equal("steps[0].type", violation.Field);
        Assert.Contains("'agent' and 'approval'", violation.Description, StringComparison.Ordinal);
    }

    // ---- groups ----

    [Theory]
    [InlineData("if: inputs.x")]
    [InlineData("retry: { max_attempts: 2 }")]
    [InlineData("timeout: 5m")]
    [InlineData("compensate: { agent: builder }")]
    [InlineData("continue_on_failure: true")]
    public void Step_options_do_not_apply_to_a_parallel_group(string option)
    {
        var violation = Only($"""
            name: w
            steps:
              - {option}
                parallel:
                  - {'{'} name: a, agent: builder {'}'}
            """);

        Assert.Equal("steps[0]." + option[..option.IndexOf(':', StringComparison.Ordinal)], violation.Field);
        Assert.StartsWith("does not apply to a parallel group", violation.Description, StringComparison.Ordinal);
    }
}
