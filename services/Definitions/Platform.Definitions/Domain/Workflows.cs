namespace Platform.Definitions.Domain;

/// <summary>A stored workflow with the document of its latest revision.</summary>
public sealed record SavedWorkflow(
    Guid Id,
    string TeamId,
    int Revision,
    bool Archived,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    WorkflowDocument Document);

/// <summary>One immutable revision of a workflow.</summary>
public sealed record SavedRevision(Guid WorkflowId, int Revision, WorkflowDocument Document, DateTimeOffset CreatedAt);

/// <summary>A revision's DAG with the agents its steps run, for the Execution context to pin.</summary>
public sealed record ResolvedRevision(
    Guid WorkflowId,
    int Revision,
    string Name,
    bool Archived,
    WorkflowDag Dag,
    IReadOnlyDictionary<Guid, Agent> Agents);
