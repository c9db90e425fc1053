using Platform.Definitions.Domain;
using static Platform.Definitions.Tests.TestAgents;

namespace Platform.Definitions.Tests;

public class ReferenceExampleTests
{
    [Fact]
    public void Sequential_example_runs_tests_then_builds_and_deploys_after_both()
    {
        var workflow = CompileYaml(Example("sequential.yaml"));

        Assert.Equal("Deploy Application", workflow.Document.Name);
        Assert.Equal(["Run Tests", "Build Docker Image", "Deploy to Production"], workflow.Dag.Steps.Select(s => s.Name));
        var dependencies = Dependencies(workflow);
        Assert.Empty(dependencies["Run Tests"]);
        Assert.Equal(["Run Tests"], dependencies["Build Docker Image"]);
        Assert.Equal(["Run Tests", "Build Docker Image"], dependencies["Deploy to Production"]);
    }

    [Fact]
    public void Sequential_example_resolves_agents_by_name_to_their_ids()
    {
        var workflow = CompileYaml(Example("sequential.yaml"));

        Assert.Equal([IdOf("test-runner"), IdOf("builder"), IdOf("deployer")], workflow.Dag.Steps.Select(s => s.AgentId));
        var first = workflow.Document.Steps[0];
        Assert.Equal("agent", first.Type);
        Assert.Equal("test-runner", first.Agent);
        Assert.Equal(IdOf("test-runner").ToString(), first.AgentId);
        Assert.Equal(Teams.Default, workflow.Document.TeamId);
    }

    [Fact]
    public void Parallel_example_has_three_independent_steps()
    {
        var workflow = CompileYaml(Example("parallel.yaml"));

        Assert.Equal("Multi-Cloud Deployment", workflow.Document.Name);
        Assert.Empty(workflow.Document.Steps);
        Assert.Equal(3, workflow.Document.Parallel.Count);
        Assert.Equal(["Deploy to AWS", "Deploy to GCP", "Deploy to Azure"], workflow.Dag.Steps.Select(s => s.Name));
        Assert.All(workflow.Dag.Steps, s => Assert.Empty(s.DependsOn));
    }

    [Fact]
    public void Event_driven_example_is_a_chain_and_keeps_its_trigger()
    {
        var workflow = CompileYaml(Example("event-driven.yaml"));

        Assert.Equal(new WorkflowTrigger("webhook", "alertmanager", "", ""), workflow.Document.Trigger);
        var dependencies = Dependencies(workflow);
        Assert.Empty(dependencies["Analyze Alert"]);
        Assert.Equal(["Analyze Alert"], dependencies["Take Action"]);
        Assert.Equal(["Take Action"], dependencies["Notify Team"]);
    }

    [Theory]
    [InlineData("sequential.yaml")]
    [InlineData("parallel.yaml")]
    [InlineData("event-driven.yaml")]
    public void Normalised_example_survives_storage_unchanged(string example)
    {
        var workflow = CompileYaml(Example(example));

        var stored = WorkflowDocumentJson.Write(workflow.Document);
        var read = WorkflowDocumentJson.Parse(stored);

        Assert.Equal(stored, WorkflowDocumentJson.Write(read));
        Assert.Equal(Dependencies(workflow), Dependencies(WorkflowCompiler.Compile(read, Directory())));
    }

    [Fact]
    public void Sequential_example_is_stored_exactly_as_before_the_step_options()
    {
        var stored = WorkflowDocumentJson.Write(CompileYaml(Example("sequential.yaml")).Document);

        Assert.Equal($$"""
            {"name":"Deploy Application","description":"","team_id":"default","steps":[{{
                Step("Run Tests", "test-runner")}},{{
                Step("Build Docker Image", "builder")}},{{
                Step("Deploy to Production", "deployer")[..^1]}},"requires":["Run Tests","Build Docker Image"]}]}
            """, stored);

        static string Step(string name, string agent) =>
            $$"""{"name":"{{name}}","type":"agent","agent_id":"{{IdOf(agent)}}","agent":"{{agent}}"}""";
    }

    [Theory]
    [InlineData("sequential.yaml")]
    [InlineData("parallel.yaml")]
    [InlineData("event-driven.yaml")]
    public void Examples_resolve_to_plain_agent_steps(string example)
    {
        var dag = CompileYaml(Example(example)).Dag;

        Assert.Equal(0, dag.TimeoutMs);
        Assert.All(dag.Steps, s =>
        {
            Assert.Equal(StepItem.AgentType, s.Type);
            Assert.NotNull(s.AgentId);
            Assert.Equal(("", null, 0L, false, null), (s.If, s.Retry, s.TimeoutMs, s.ContinueOnFailure, s.Compensation));
        });
    }

    [Fact]
    public void Reference_json_body_reads_as_a_document()
    {
        var document = WorkflowYaml.Parse(ReferenceBody("test-agent-uuid", "builder-agent-uuid", "deployer-agent-uuid")).Document;

        Assert.Equal("Deploy Application", document.Name);
        Assert.Equal("Multi-step deployment workflow", document.Description);
        Assert.Equal("team-uuid", document.TeamId);
        Assert.Equal(["run-tests", "build-image", "deploy"], document.Steps.Select(s => s.Name));
        Assert.All(document.Steps, s => Assert.Equal("agent", s.Type));
        Assert.Equal("test-agent-uuid", document.Steps[0].AgentId);
    }

    [Fact]
    public void Reference_json_body_with_existing_agent_ids_runs_sequentially()
    {
        var json = ReferenceBody(IdOf("test-runner").ToString(), IdOf("builder").ToString(), IdOf("deployer").ToString())
            .Replace("team-uuid", "default", StringComparison.Ordinal);

        var workflow = CompileYaml(json);

        var dependencies = Dependencies(workflow);
        Assert.Empty(dependencies["run-tests"]);
        Assert.Equal(["run-tests"], dependencies["build-image"]);
        Assert.Equal(["build-image"], dependencies["deploy"]);
        Assert.Equal("builder", workflow.Document.Steps[1].Agent);
    }

    [Fact]
    public void Reference_json_body_with_placeholder_agent_ids_names_each_unknown_agent()
    {
        var document = WorkflowYaml.Parse(ReferenceBody("test-agent-uuid", "builder-agent-uuid", "deployer-agent-uuid")).Document;

        var failure = Assert.Throws<Platform.BuildingBlocks.Errors.ValidationFailedException>(() =>
            WorkflowCompiler.Compile(document, Directory("team-uuid")));

        Assert.Equal(["steps[0].agent_id", "steps[1].agent_id", "steps[2].agent_id"], failure.Violations.Select(v => v.Field));
        Assert.Contains("test-agent-uuid", failure.Violations[0].Description, StringComparison.Ordinal);
    }

    private static string ReferenceBody(string tests, string builder, string deployer) => $$"""
        {
          "name": "Deploy Application",
          "description": "Multi-step deployment workflow",
          "steps": [
            { "name": "run-tests", "type": "agent", "agent_id": "{{tests}}" },
            { "name": "build-image", "type": "agent", "agent_id": "{{builder}}" },
            { "name": "deploy", "type": "agent", "agent_id": "{{deployer}}" }
          ],
          "team_id": "team-uuid"
        }
        """;
}
