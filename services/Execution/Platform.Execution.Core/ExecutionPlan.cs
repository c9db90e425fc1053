namespace Platform.Execution.Core;

/// <summary>The normalised DAG of an execution: steps in declaration order.</summary>
/// <remarks>
/// Normalised and validated upstream (names unique, dependencies known, no cycles); the core checks these again
/// when <see cref="ExecutionStarted"/> is applied and refuses a plan that breaks them.
/// A dependency may name a step declared later.
/// </remarks>
public sealed record ExecutionPlan(IReadOnlyList<PlannedStep> Steps);

/// <summary>One step of a plan and the names of the steps it waits for (empty = may start at once).</summary>
public sealed record PlannedStep(string Name, IReadOnlyList<string> DependsOn);
