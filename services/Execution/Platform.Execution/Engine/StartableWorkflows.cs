using Platform.BuildingBlocks.Errors;
using Platform.Execution.Domain;

namespace Platform.Execution.Engine;

/// <summary>What every engine checks before it starts an execution.</summary>
public static class StartableWorkflows
{
    /// <summary>The revision a start names (0: the latest), pinned; refused when the workflow is archived.</summary>
    public static async Task<PinnedWorkflow> ResolveForStartAsync(this IWorkflowCatalog catalog, StartCommand command,
        CancellationToken cancellationToken)
    {
        var plan = await catalog.ResolveAsync(command.WorkflowId, command.Revision, cancellationToken);
        return plan.Archived
            ? throw new PreconditionFailedException($"workflow '{command.WorkflowId}' is archived and starts no executions")
            : plan;
    }
}
