using System.Text.Json;

namespace Platform.Definitions.Domain;

/// <summary>One step of a compiled workflow: its normalised dependencies and the agent it runs.</summary>
public sealed record DagStep(
    string Name,
    IReadOnlyList<string> DependsOn,
    Guid AgentId,
    JsonElement? With,
    IReadOnlyDictionary<string, JsonElement> Options);

/// <summary>A workflow compiled to a DAG, steps in declaration order (top-level <c>parallel</c> members first).</summary>
public sealed record WorkflowDag(IReadOnlyList<DagStep> Steps)
{
    public DagStep? Find(string name) => Steps.FirstOrDefault(s => s.Name == name);
}

/// <summary>A valid workflow: its normalised document (team set, agents resolved to ids and names, step types
/// filled in; everything else as written) and the DAG it compiles to.</summary>
public sealed record CompiledWorkflow(WorkflowDocument Document, WorkflowDag Dag);
