namespace Platform.Definitions.Contracts;

/// <summary>A workflow was created or updated: <paramref name="Revision"/> is its new immutable revision.</summary>
public sealed record WorkflowRevisionCreated(Guid WorkflowId, int Revision, string Name, string TeamId, DateTimeOffset CreatedAt);

/// <summary>A workflow was archived; it starts no new executions.</summary>
public sealed record WorkflowArchived(Guid WorkflowId, DateTimeOffset ArchivedAt);
