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
}

/// <summary>One item of <c>steps</c> or <c>parallel</c>: a step, or (when <see cref="Parallel"/> is set) a group.</summary>
public sealed record StepItem
{
    public string Name { get; init; } = "";

    /// <summary>"agent" (the only type so far); "" when not given.</summary>
    public string Type { get; init; } = "";

    public string AgentId { get; init; } = "";

    /// <summary>The agent by name.</summary>
    public string Agent { get; init; } = "";

    /// <summary>null: depends on the item before; otherwise exactly these steps (or groups). [] = starts at once.</summary>
    public IReadOnlyList<string>? Requires { get; init; }

    /// <summary>Members of a parallel group; null for a plain step.</summary>
    public IReadOnlyList<StepItem>? Parallel { get; init; }

    /// <summary>The step's input map (a JSON object), when given.</summary>
    public JsonElement? With { get; init; }

    /// <summary>Keys reserved for later features (<see cref="ReservedKeys"/>), stored as given.</summary>
    public IReadOnlyDictionary<string, JsonElement> Options { get; init; } = new Dictionary<string, JsonElement>();

    public bool IsGroup => Parallel is not null;

    /// <summary>Keys a step may carry that this version stores without acting on them.</summary>
    public static readonly IReadOnlyList<string> ReservedKeys = ["if", "retry", "timeout", "compensate", "continue_on_failure"];
}

/// <summary>When the workflow starts by itself; stored with the revision and acted on by the Triggers context.</summary>
public sealed record WorkflowTrigger(string Type, string Source, string Cron, string Timezone)
{
    public static readonly IReadOnlyList<string> Types = ["webhook", "schedule", "event"];
}
