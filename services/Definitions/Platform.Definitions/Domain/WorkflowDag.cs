using System.Text.Json;

namespace Platform.Definitions.Domain;

/// <summary>One step of a compiled workflow: its normalised dependencies, what it runs and how (defaults applied,
/// durations in milliseconds).</summary>
/// <param name="Type"><see cref="StepItem.AgentType"/> or <see cref="StepItem.ApprovalType"/>.</param>
/// <param name="AgentId">The agent an agent step runs; null for an approval step.</param>
public sealed record DagStep(string Name, IReadOnlyList<string> DependsOn, string Type, Guid? AgentId, JsonElement? With)
{
    /// <summary>The condition as written; "" for none.</summary>
    public string If { get; init; } = "";

    /// <summary>null: a failed attempt is not retried.</summary>
    public DagRetry? Retry { get; init; }

    /// <summary>Per attempt (approval: the wait); 0 for none.</summary>
    public long TimeoutMs { get; init; }

    public bool ContinueOnFailure { get; init; }

    public DagCompensation? Compensation { get; init; }
}

/// <summary>A retry policy with its defaults applied.</summary>
public sealed record DagRetry(
    int MaxAttempts, long InitialMs, long MaxMs, double Multiplier, bool Jitter, IReadOnlyList<int> NonRetryableExitCodes)
{
    public static readonly TimeSpan DefaultInitial = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan DefaultMax = TimeSpan.FromMinutes(5);
    public const double DefaultMultiplier = 2;
    public const bool DefaultJitter = true;
}

/// <summary>The agent that undoes a step, and its inputs (which may read the step's own outputs).</summary>
public sealed record DagCompensation(Guid AgentId, JsonElement? With);

/// <summary>A workflow compiled to a DAG, steps in declaration order (top-level <c>parallel</c> members first).</summary>
/// <param name="TimeoutMs">Limit on a whole execution; 0 for none.</param>
public sealed record WorkflowDag(IReadOnlyList<DagStep> Steps, long TimeoutMs = 0)
{
    public DagStep? Find(string name) => Steps.FirstOrDefault(s => s.Name == name);

    /// <summary>Every agent the steps and their compensations run.</summary>
    public IEnumerable<Guid> AgentIds =>
        Steps.SelectMany(s => new[] { s.AgentId, s.Compensation?.AgentId }).OfType<Guid>().Distinct();
}

/// <summary>A valid workflow: its normalised document (team set, agents resolved to ids and names, step types
/// filled in; everything else as written) and the DAG it compiles to.</summary>
public sealed record CompiledWorkflow(WorkflowDocument Document, WorkflowDag Dag);
