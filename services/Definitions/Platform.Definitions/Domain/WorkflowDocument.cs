using System.Text.Json;

namespace Platform.Definitions.Domain;

/// <summary>
/// A workflow as its author wrote it (JSON body or YAML document), before validation. Absent strings are "";
/// <see cref="StepItem.Requires"/> and <see cref="StepItem.Parallel"/> keep absence (null) apart from an empty list.
/// </summary>
public sealed record WorkflowDocument
{
    public string Name { get; init; } = "";
    public string Description { get; init; } = "";

    /// <summary>null when the document does not say; the normalised document always has one.</summary>
    public string? TeamId { get; init; }

    /// <summary>Items run in order by default; an item may be a step or a parallel group.</summary>
    public IReadOnlyList<StepItem> Steps { get; init; } = [];

    /// <summary>Top-level parallel members: they run before the items of <see cref="Steps"/>, all at once.</summary>
    public IReadOnlyList<StepItem> Parallel { get; init; } = [];

    public WorkflowTrigger? Trigger { get; init; }

    /// <summary>Limit on a whole execution, a duration as written (<c>2h</c>); "" for none.</summary>
    public string Timeout { get; init; } = "";
}

/// <summary>One item of <c>steps</c> or <c>parallel</c>: a step, or (when <see cref="Parallel"/> is set) a group.</summary>
public sealed record StepItem
{
    public const string AgentType = "agent";
    public const string ApprovalType = "approval";

    public static readonly IReadOnlyList<string> Types = [AgentType, ApprovalType];

    public string Name { get; init; } = "";

    /// <summary>"agent" or "approval"; "" when not given (an agent step).</summary>
    public string Type { get; init; } = "";

    public string AgentId { get; init; } = "";

    /// <summary>The agent by name.</summary>
    public string Agent { get; init; } = "";

    /// <summary>null: depends on the item before; otherwise exactly these steps (or groups). [] = starts at once.</summary>
    public IReadOnlyList<string>? Requires { get; init; }

    /// <summary>Members of a parallel group; null for a plain step.</summary>
    public IReadOnlyList<StepItem>? Parallel { get; init; }

    /// <summary>The step's input map (a JSON object), when given; strings may hold <c>${{ }}</c> expressions.</summary>
    public JsonElement? With { get; init; }

    /// <summary>The condition, as written (bare or wrapped in <c>${{ }}</c>); "" for none.</summary>
    public string If { get; init; } = "";

    public RetrySpec? Retry { get; init; }

    /// <summary>Per attempt (an approval step: how long to wait), a duration as written; "" for none.</summary>
    public string Timeout { get; init; } = "";

    public CompensationSpec? Compensate { get; init; }

    /// <summary>null when not written.</summary>
    public bool? ContinueOnFailure { get; init; }

    public bool IsGroup => Parallel is not null;

    public bool IsApproval => Type == ApprovalType;
}

/// <summary>A step's retry policy as written; absent values take defaults when the revision is resolved.</summary>
/// <param name="MaxAttempts">Attempts in all, the first included; required (1..100).</param>
public sealed record RetrySpec(int? MaxAttempts, BackoffSpec? Backoff, IReadOnlyList<int>? NonRetryableExitCodes);

/// <summary>The waits between attempts as written: durations ("" when absent), the factor each wait grows by, and
/// whether waits are jittered.</summary>
public sealed record BackoffSpec(string Initial, string Max, double? Multiplier, bool? Jitter);

/// <summary>The agent that undoes a succeeded step (by name or id, like a step's) and its inputs.</summary>
public sealed record CompensationSpec(string Agent, string AgentId, JsonElement? With);

/// <summary>When the workflow starts by itself; stored with the revision and acted on by the Triggers context.</summary>
public sealed record WorkflowTrigger(string Type, string Source, string Cron, string Timezone)
{
    public static readonly IReadOnlyList<string> Types = ["webhook", "schedule", "event"];
}
