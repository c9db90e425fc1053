using System.Text.Json;
using Platform.BuildingBlocks.Errors;
using Platform.Definitions.Domain;
using Platform.Definitions.Persistence;
using static Platform.Definitions.Tests.TestAgents;

namespace Platform.Definitions.Tests;

/// <summary>The stored document and DAG: the new fields survive storage, and revisions stored before them still read.</summary>
public class StoredFormTests
{
    private const string Everything = """
        name: everything
        timeout: 6h
        steps:
          - name: build
            agent: builder
            retry:
              max_attempts: 4
              backoff: { initial: 2s, max: 1m, multiplier: 1.5, jitter: false }
              non_retryable_exit_codes: [2, 64]
            timeout: 10m
            with: { ref: "${{ inputs.ref }}" }
          - name: approve
            type: approval
            timeout: 24h
          - name: deploy
            agent: deployer
            if: ${{ steps.build.outputs.tag != '' }}
            continue_on_failure: true
            compensate: { agent: remediator, with: { tag: "${{ steps.build.outputs.tag }}" } }
            retry: { max_attempts: 2 }
        """;

    [Fact]
    public void Document_with_every_option_survives_storage()
    {
        var workflow = CompileYaml(Everything);

        var stored = WorkflowDocumentJson.Write(workflow.Document);
        var read = WorkflowDocumentJson.Parse(stored);

        Assert.Equal(stored, WorkflowDocumentJson.Write(read));
        Assert.Equal("6h", read.Timeout);
        var build = read.Steps[0];
        Assert.Equal(4, build.Retry!.MaxAttempts);
        Assert.Equal(new BackoffSpec("2s", "1m", 1.5, false), build.Retry.Backoff);
        Assert.Equal([2, 64], build.Retry.NonRetryableExitCodes!);
        Assert.Equal("10m", build.Timeout);
        Assert.Equal("approval", read.Steps[1].Type);
        var deploy = read.Steps[2];
        Assert.Equal("${{ steps.build.outputs.tag != '' }}", deploy.If);
        Assert.True(deploy.ContinueOnFailure);
        Assert.Equal(("remediator", IdOf("remediator").ToString()), (deploy.Compensate!.Agent, deploy.Compensate.AgentId));
        Assert.Equal(new RetrySpec(2, null, null), deploy.Retry);
    }

    [Fact]
    public void Stored_document_keeps_what_was_written_not_the_defaults()
    {
        var stored = WorkflowDocumentJson.Write(CompileYaml(Everything).Document);

        Assert.Contains("\"retry\":{\"max_attempts\":2}", stored, StringComparison.Ordinal);
        Assert.Contains("\"timeout\":\"6h\"", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("continue_on_failure\":false", stored, StringComparison.Ordinal);
    }

    [Fact]
    public void Compiled_document_recompiles_to_the_same_dag()
    {
        var workflow = CompileYaml(Everything);

        var again = WorkflowCompiler.Compile(WorkflowDocumentJson.Parse(WorkflowDocumentJson.Write(workflow.Document)), Directory());

        Assert.Equal(DagJson.Write(workflow.Dag), DagJson.Write(again.Dag));
    }

    [Fact]
    public void Dag_with_every_option_survives_storage()
    {
        var dag = CompileYaml(Everything).Dag;

        var read = DagJson.Read(DagJson.Write(dag));

        Assert.Equal(DagJson.Write(dag), DagJson.Write(read));
        Assert.Equal(21_600_000, read.TimeoutMs);
        var build = read.Steps[0];
        Assert.Equal((4, 2_000L, 60_000L, 1.5, false), (build.Retry!.MaxAttempts, build.Retry.InitialMs, build.Retry.MaxMs,
            build.Retry.Multiplier, build.Retry.Jitter));
        Assert.Equal([2, 64], build.Retry.NonRetryableExitCodes);
        Assert.Equal(600_000, build.TimeoutMs);
        Assert.Equal((StepItem.ApprovalType, (Guid?)null, 86_400_000L), (read.Steps[1].Type, read.Steps[1].AgentId, read.Steps[1].TimeoutMs));
        var deploy = read.Steps[2];
        Assert.Equal(("${{ steps.build.outputs.tag != '' }}", true), (deploy.If, deploy.ContinueOnFailure));
        Assert.Equal(IdOf("remediator"), deploy.Compensation!.AgentId);
        Assert.Equal("""{"tag":"${{ steps.build.outputs.tag }}"}""", deploy.Compensation.With!.Value.GetRawText());
        Assert.Equal((2, 1_000L, 300_000L, 2.0, true), (deploy.Retry!.MaxAttempts, deploy.Retry.InitialMs, deploy.Retry.MaxMs,
            deploy.Retry.Multiplier, deploy.Retry.Jitter));
        Assert.Equal([IdOf("builder"), IdOf("deployer"), IdOf("remediator")], read.AgentIds);
    }

    [Fact]
    public void Revision_stored_before_the_options_were_modelled_reads_them_back()
    {
        var document = WorkflowDocumentJson.Parse($$$"""
            {"name": "old", "description": "", "team_id": "default", "steps": [
              {"name": "a", "type": "agent", "agent_id": "{{{IdOf("builder")}}}", "agent": "builder",
               "if": "${{ inputs.go }}", "retry": {"max_attempts": 3, "backoff": {"initial": "1s", "multiplier": 2}},
               "timeout": "5m", "compensate": {"agent": "remediator", "with": {"undo": true}}, "continue_on_failure": true}
            ]}
            """);

        var step = document.Steps[0];
        Assert.Equal("${{ inputs.go }}", step.If);
        Assert.Equal(3, step.Retry!.MaxAttempts);
        Assert.Equal(new BackoffSpec("1s", "", 2, null), step.Retry.Backoff);
        Assert.Equal("5m", step.Timeout);
        Assert.Equal(("remediator", ""), (step.Compensate!.Agent, step.Compensate.AgentId));
        Assert.True(step.ContinueOnFailure);
    }

    [Fact]
    public void Revision_stored_with_unchecked_options_that_do_not_fit_still_reads()
    {
        const string stored = """
            {"name": "old", "description": "", "team_id": "default", "steps": [
              {"name": "a", "type": "agent", "agent_id": "00000000-0000-0000-0000-000000000001", "agent": "builder",
               "if": {"and": [1, 2]}, "retry": "lots", "timeout": ["5m"], "compensate": [1], "continue_on_failure": "yes"},
              {"name": "b", "type": "agent", "agent_id": "00000000-0000-0000-0000-000000000001", "agent": "builder",
               "retry": {"attempts": 3, "max_attempts": "three", "backoff": {"initial": 5, "jitter": "on"},
                         "non_retryable_exit_codes": [1, "x", 2.5]},
               "compensate": {"agent": ["x"], "with": 3}, "timeout": 30}
            ]}
            """;

        var document = WorkflowDocumentJson.Parse(stored);

        var a = document.Steps[0];
        Assert.Equal(("", null, "", null, null), (a.If, a.Retry, a.Timeout, a.Compensate, a.ContinueOnFailure));
        var b = document.Steps[1];
        Assert.Null(b.Retry!.MaxAttempts);
        Assert.Equal(new BackoffSpec("5", "", null, null), b.Retry.Backoff);
        Assert.Equal([1], b.Retry.NonRetryableExitCodes!);
        Assert.Equal(new CompensationSpec("", "", null), b.Compensate);
        Assert.Equal("30", b.Timeout);
        Assert.Equal(WorkflowDocumentJson.Write(document), WorkflowDocumentJson.Write(WorkflowDocumentJson.Parse(WorkflowDocumentJson.Write(document))));
    }

    [Fact]
    public void The_same_values_in_a_new_document_are_refused()
    {
        var failure = Assert.Throws<ValidationFailedException>(() => WorkflowYaml.Parse("""
            name: new
            steps:
              - { name: a, agent: builder, if: { and: [1] }, retry: lots, timeout: [5m], compensate: [1], continue_on_failure: "yes" }
            """));

        Assert.Equal(["steps[0].compensate", "steps[0].continue_on_failure", "steps[0].if", "steps[0].retry", "steps[0].timeout"],
            failure.Violations.Select(v => v.Field).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Stored_document_with_unknown_keys_is_still_refused()
    {
        Assert.Throws<ValidationFailedException>(() => WorkflowDocumentJson.Parse("""{"name": "x", "steps": [], "bogus": 1}"""));
        Assert.Throws<ValidationFailedException>(() => WorkflowDocumentJson.Parse("[]"));
    }

    [Fact]
    public void Dag_stored_before_the_options_were_modelled_reads_as_it_was_resolved_then()
    {
        var dag = DagJson.Read($$$"""
            {"steps": [
              {"name": "a", "depends_on": [], "agent_id": "{{{IdOf("builder")}}}", "with": {"x":1}},
              {"name": "b", "depends_on": ["a"], "agent_id": "{{{IdOf("deployer")}}}",
               "options": {"retry": {"max_attempts": 3}, "timeout": "5m", "if": "inputs.go", "continue_on_failure": true,
                           "compensate": {"agent": "remediator"} } }
            ]}
            """);

        Assert.Equal(0, dag.TimeoutMs);
        Assert.All(dag.Steps, s => Assert.Equal(StepItem.AgentType, s.Type));
        Assert.Equal([IdOf("builder"), IdOf("deployer")], dag.Steps.Select(s => s.AgentId!.Value));
        Assert.Equal("""{"x":1}""", dag.Steps[0].With!.Value.GetRawText());
        var b = dag.Steps[1];
        Assert.Equal(["a"], b.DependsOn);
        Assert.Equal(("", null, 0L, false, null), (b.If, b.Retry, b.TimeoutMs, b.ContinueOnFailure, b.Compensation));
    }

    [Fact]
    public void New_dags_carry_a_version()
    {
        using var json = JsonDocument.Parse(DagJson.Write(CompileYaml("name: w").Dag));

        Assert.Equal(2, json.RootElement.GetProperty("version").GetInt32());
    }
}
