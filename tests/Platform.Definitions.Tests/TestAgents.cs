using Platform.BuildingBlocks;
using Platform.BuildingBlocks.Errors;
using Platform.Definitions.Domain;

namespace Platform.Definitions.Tests;

/// <summary>The agents of the reference examples, in team "default", with stable ids.</summary>
internal static class TestAgents
{
    public static readonly string[] Names =
    [
        "test-runner", "builder", "deployer", "aws-deployer", "gcp-deployer", "azure-deployer",
        "analyzer", "remediator", "notifier",
    ];

    public static Guid IdOf(string name) => DeterministicGuid.Create("test-agent", name);

    public static AgentDirectory Directory(string team = Teams.Default) =>
        new(team, Names.Select(n => (IdOf(n), n)));

    public static CompiledWorkflow Compile(WorkflowDocument document) =>
        WorkflowCompiler.Compile(document with { TeamId = Teams.Choose(null, document.TeamId) }, Directory());

    public static CompiledWorkflow CompileYaml(string yaml) => Compile(WorkflowYaml.Parse(yaml).Document);

    public static string Example(string name) =>
        File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Examples", name));

    /// <summary>The violations of an invalid document, compiled like the service does (positions added).</summary>
    public static IReadOnlyList<FieldViolation> ViolationsOf(string yaml)
    {
        try
        {
            var parsed = WorkflowYaml.Parse(yaml);
            try
            {
                Compile(parsed.Document);
            }
            catch (ValidationFailedException failure)
            {
                throw parsed.Source.Annotate(failure);
            }
        }
        catch (ValidationFailedException failure)
        {
            return failure.Violations;
        }

        throw new Xunit.Sdk.XunitException("the document was accepted");
    }

    public static FieldViolation Only(string yaml) => Assert.Single(ViolationsOf(yaml));

    public static Dictionary<string, string[]> Dependencies(CompiledWorkflow workflow) =>
        workflow.Dag.Steps.ToDictionary(s => s.Name, s => s.DependsOn.ToArray());
}
