using System.Text.RegularExpressions;
using Platform.BuildingBlocks.Errors;

namespace Platform.Definitions.Domain;

/// <summary>An agent as requested, before it is stored.</summary>
public sealed partial record AgentSpec(
    string TeamId,
    string Name,
    string Description,
    IReadOnlyList<string> Command,
    string Image,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<string> RunnerLabels)
{
    public static readonly IReadOnlyList<string> ExecutorKinds = ["process", "docker", "kubernetes"];

    /// <summary>The executor kind its jobs need; empty: docker or kubernetes with an image, else process.</summary>
    public string Executor { get; init; } = "";

    public AgentResources Resources { get; init; } = AgentResources.None;

    /// <summary>Every problem of the spec, by field; empty when it may be stored.</summary>
    public IReadOnlyList<FieldViolation> Validate()
    {
        var violations = new List<FieldViolation>();
        ValidateExecutor(violations);
        if (string.IsNullOrWhiteSpace(Name))
        {
            violations.Add(new("name", "is required"));
        }
        else if (Name.Length > WorkflowLimits.MaxNameLength)
        {
            violations.Add(new("name", $"must be at most {WorkflowLimits.MaxNameLength} characters"));
        }

        if (Description.Length > WorkflowLimits.MaxDescriptionLength)
        {
            violations.Add(new("description", $"must be at most {WorkflowLimits.MaxDescriptionLength} characters"));
        }

        if (Command.Count == 0 && string.IsNullOrWhiteSpace(Image))
        {
            violations.Add(new("command", "is required (an argv list with the program first) unless image is set"));
        }
        else if (Command.Count > 0 && string.IsNullOrWhiteSpace(Command[0]))
        {
            violations.Add(new("command[0]", "must name the program"));
        }

        for (var i = 0; i < Command.Count; i++)
        {
            if (Command[i].Contains('\0', StringComparison.Ordinal))
            {
                violations.Add(new($"command[{i}]", "must not contain NUL characters"));
            }
        }

        foreach (var (key, value) in Env)
        {
            if (key.Length == 0 || key.Contains('=', StringComparison.Ordinal) || key.Contains('\0', StringComparison.Ordinal))
            {
                violations.Add(new($"env[{key}]", "is not a valid environment variable name"));
            }
            else if (value.Contains('\0', StringComparison.Ordinal))
            {
                violations.Add(new($"env[{key}]", "must not contain NUL characters"));
            }
        }

        for (var i = 0; i < RunnerLabels.Count; i++)
        {
            var label = RunnerLabels[i];
            if (string.IsNullOrWhiteSpace(label) || label.Contains(',', StringComparison.Ordinal) || label.Trim() != label)
            {
                violations.Add(new($"runner_labels[{i}]",
                    "must be a non-empty label without commas or surrounding spaces"));
            }
        }

        return violations;
    }

    private void ValidateExecutor(List<FieldViolation> violations)
    {
        if (Executor.Length > 0 && !ExecutorKinds.Contains(Executor))
        {
            violations.Add(new("executor", $"must be empty or one of {string.Join(", ", ExecutorKinds)}"));
        }
        else if (Executor is "docker" or "kubernetes" && string.IsNullOrWhiteSpace(Image))
        {
            violations.Add(new("image", $"is required for the {Executor} executor"));
        }
        else if (Executor is "process" && Command.Count == 0)
        {
            violations.Add(new("command", "is required for the process executor"));
        }

        foreach (var (field, value) in new[]
                 {
                     ("resources.cpu_request", Resources.CpuRequest), ("resources.cpu_limit", Resources.CpuLimit),
                     ("resources.memory_request", Resources.MemoryRequest), ("resources.memory_limit", Resources.MemoryLimit),
                 })
        {
            if (value.Length > 0 && !Quantity().IsMatch(value))
            {
                violations.Add(new(field, "must be a Kubernetes quantity such as 500m, 2, 256Mi or 1Gi"));
            }
        }
    }

    [GeneratedRegex(@"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")]
    private static partial Regex Quantity();
}

/// <summary>What a job of the agent may use, as Kubernetes quantities; empty strings when not set.</summary>
public sealed record AgentResources(string CpuRequest, string CpuLimit, string MemoryRequest, string MemoryLimit)
{
    public static readonly AgentResources None = new("", "", "", "");
}

/// <summary>A stored agent. Agents are immutable once created.</summary>
public sealed record Agent(Guid Id, AgentSpec Spec, DateTimeOffset CreatedAt)
{
    public string Name => Spec.Name;
}

/// <summary>The agents of one team that a workflow document refers to, by id and by name.</summary>
public sealed class AgentDirectory
{
    private readonly Dictionary<Guid, string> namesById = [];
    private readonly Dictionary<string, Guid> idsByName = new(StringComparer.Ordinal);

    public AgentDirectory(string teamId, IEnumerable<(Guid Id, string Name)> agents)
    {
        TeamId = teamId;
        foreach (var (id, name) in agents)
        {
            namesById[id] = name;
            idsByName[name] = id;
        }
    }

    public string TeamId { get; }

    public bool TryGetById(Guid id, out string name) => namesById.TryGetValue(id, out name!);

    public bool TryGetByName(string name, out Guid id) => idsByName.TryGetValue(name, out id);
}

/// <summary>The agents a document names, to be looked up in its team before it is compiled.</summary>
public sealed record AgentReferences(IReadOnlyList<Guid> Ids, IReadOnlyList<string> Names)
{
    public static AgentReferences Of(WorkflowDocument document)
    {
        var ids = new HashSet<Guid>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var step in document.Parallel.Concat(document.Steps).SelectMany(Leaves))
        {
            foreach (var (agentId, agent) in new[] { (step.AgentId, step.Agent), (step.Compensate?.AgentId ?? "", step.Compensate?.Agent ?? "") })
            {
                if (Guid.TryParse(agentId, out var id))
                {
                    ids.Add(id);
                }

                if (agent.Length > 0)
                {
                    names.Add(agent);
                }
            }
        }

        return new AgentReferences([.. ids], [.. names]);
    }

    private static IEnumerable<StepItem> Leaves(StepItem item) =>
        item.Parallel is { } members ? members.SelectMany(Leaves) : [item];
}
