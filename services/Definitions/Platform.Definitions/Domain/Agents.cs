using Platform.BuildingBlocks.Errors;

namespace Platform.Definitions.Domain;

/// <summary>An agent as requested, before it is stored.</summary>
public sealed record AgentSpec(
    string TeamId,
    string Name,
    string Description,
    IReadOnlyList<string> Command,
    string Image,
    IReadOnlyDictionary<string, string> Env,
    IReadOnlyList<string> RunnerLabels)
{
    /// <summary>Every problem of the spec, by field; empty when it may be stored.</summary>
    public IReadOnlyList<FieldViolation> Validate()
    {
        var violations = new List<FieldViolation>();
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
