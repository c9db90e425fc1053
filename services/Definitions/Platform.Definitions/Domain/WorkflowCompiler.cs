using System.Text.Json;
using Platform.BuildingBlocks.Errors;

namespace Platform.Definitions.Domain;

/// <summary>
/// Validates a workflow document and compiles it to a DAG.
/// <list type="bullet">
/// <item><c>steps</c> run in order: an item without <c>requires</c> depends on the item before it; with
/// <c>requires</c> it depends on exactly those steps (<c>[]</c>: none). Naming a parallel group in <c>requires</c>
/// means all of its members.</item>
/// <item>A parallel group inside <c>steps</c>: each member depends on what the group depends on (the item before it,
/// or the group's own <c>requires</c>) unless the member has its own <c>requires</c>; the item after the group
/// depends on all members.</item>
/// <item>Top-level <c>parallel</c> members are independent. When <c>steps</c> is given too, the top-level
/// <c>parallel</c> is a group placed before the first item of <c>steps</c>.</item>
/// <item>Only the name is required: a workflow without steps is valid (the reference API says so).</item>
/// </list>
/// </summary>
public static class WorkflowCompiler
{
    /// <exception cref="ValidationFailedException">with every problem found, by field path.</exception>
    public static CompiledWorkflow Compile(WorkflowDocument document, AgentDirectory agents) =>
        new Compilation(document, agents).Run();

    private sealed record Leaf(string Path, StepItem Item)
    {
        public Guid AgentId { get; set; }
        public string AgentName { get; set; } = "";
        public List<string> DependsOn { get; } = [];
    }

    /// <summary>An item of the sequence: a single step, or a group of members that start together.</summary>
    private sealed record Unit(string Path, StepItem? Group, IReadOnlyList<Leaf> Members);

    private sealed class Compilation(WorkflowDocument document, AgentDirectory agents)
    {
        private readonly List<FieldViolation> violations = [];
        private readonly List<Unit> units = [];
        private readonly List<Leaf> leaves = [];
        private readonly Dictionary<string, Leaf> leavesByName = new(StringComparer.Ordinal);
        private readonly Dictionary<string, IReadOnlyList<string>> groupsByName = new(StringComparer.Ordinal);
        private readonly Dictionary<string, string> declaredAt = new(StringComparer.Ordinal);
        private readonly Dictionary<(string From, string To), string> explicitEdges = [];
        private bool namesValid = true;

        public CompiledWorkflow Run()
        {
            CheckHeader();
            CollectUnits();
            if (leaves.Count > WorkflowLimits.MaxSteps)
            {
                throw new ValidationFailedException(document.Steps.Count > 0 ? "steps" : "parallel",
                    $"has {leaves.Count} steps; at most {WorkflowLimits.MaxSteps} are allowed");
            }

            RegisterNames();
            foreach (var leaf in leaves)
            {
                CheckStep(leaf);
            }

            ResolveDependencies();
            if (namesValid)
            {
                FindCycles();
            }

            if (violations.Count > 0)
            {
                throw new ValidationFailedException(violations);
            }

            var byPath = leaves.ToDictionary(l => l.Path, StringComparer.Ordinal);
            var normalised = document with
            {
                TeamId = agents.TeamId,
                Parallel = document.Parallel.Select((item, i) => Normalise(item, $"parallel[{i}]", byPath)).ToList(),
                Steps = document.Steps.Select((item, i) => Normalise(item, $"steps[{i}]", byPath)).ToList(),
            };
            var dag = new WorkflowDag(leaves.Select(l =>
                new DagStep(l.Item.Name, l.DependsOn, l.AgentId, l.Item.With, l.Item.Options)).ToList());
            return new CompiledWorkflow(normalised, dag);
        }

        private void CheckHeader()
        {
            if (string.IsNullOrWhiteSpace(document.Name))
            {
                violations.Add(new("name", "is required"));
            }
            else if (document.Name.Length > WorkflowLimits.MaxNameLength)
            {
                violations.Add(new("name", $"must be at most {WorkflowLimits.MaxNameLength} characters"));
            }

            if (document.Description.Length > WorkflowLimits.MaxDescriptionLength)
            {
                violations.Add(new("description", $"must be at most {WorkflowLimits.MaxDescriptionLength} characters"));
            }

            if (document.Trigger is { } trigger)
            {
                if (trigger.Type.Length == 0)
                {
                    violations.Add(new("trigger.type", "is required: webhook, schedule or event"));
                }
                else if (!WorkflowTrigger.Types.Contains(trigger.Type))
                {
                    violations.Add(new("trigger.type", $"unknown trigger type '{trigger.Type}'; expected webhook, schedule or event"));
                }
                else if (trigger.Type == "schedule" && trigger.Cron.Length == 0)
                {
                    violations.Add(new("trigger.cron", "is required for a schedule trigger"));
                }
                else if (trigger.Type != "schedule")
                {
                    if (trigger.Cron.Length > 0)
                    {
                        violations.Add(new("trigger.cron", "applies to schedule triggers only"));
                    }

                    if (trigger.Timezone.Length > 0)
                    {
                        violations.Add(new("trigger.timezone", "applies to schedule triggers only"));
                    }
                }
            }
        }

        private void CollectUnits()
        {
            if (document.Parallel.Count > 0)
            {
                var members = new List<Leaf>();
                for (var i = 0; i < document.Parallel.Count; i++)
                {
                    var item = document.Parallel[i];
                    var path = $"parallel[{i}]";
                    if (item.IsGroup)
                    {
                        violations.Add(new(path + ".parallel", "parallel groups do not nest"));
                        continue;
                    }

                    members.Add(new Leaf(path, item));
                }

                units.Add(new Unit("parallel", null, members));
            }

            for (var i = 0; i < document.Steps.Count; i++)
            {
                var item = document.Steps[i];
                var path = $"steps[{i}]";
                if (!item.IsGroup)
                {
                    units.Add(new Unit(path, null, [new Leaf(path, item)]));
                    continue;
                }

                CheckGroup(item, path);
                var members = new List<Leaf>();
                for (var j = 0; j < item.Parallel!.Count; j++)
                {
                    var member = item.Parallel[j];
                    var memberPath = $"{path}.parallel[{j}]";
                    if (member.IsGroup)
                    {
                        violations.Add(new(memberPath + ".parallel", "parallel groups do not nest"));
                        continue;
                    }

                    members.Add(new Leaf(memberPath, member));
                }

                units.Add(new Unit(path, item, members));
            }

            leaves.AddRange(units.SelectMany(u => u.Members));
        }

        private void CheckGroup(StepItem group, string path)
        {
            const string onMembers = "does not apply to a parallel group; set it on its members";
            if (group.Type.Length > 0)
            {
                violations.Add(new(path + ".type", onMembers));
            }

            if (group.Agent.Length > 0)
            {
                violations.Add(new(path + ".agent", onMembers));
            }

            if (group.AgentId.Length > 0)
            {
                violations.Add(new(path + ".agent_id", onMembers));
            }

            if (group.With is not null)
            {
                violations.Add(new(path + ".with", onMembers));
            }

            foreach (var key in group.Options.Keys)
            {
                violations.Add(new($"{path}.{key}", onMembers));
            }

            if (group.Parallel!.Count == 0)
            {
                violations.Add(new(path + ".parallel", "a parallel group needs at least one member"));
            }
        }

        private void RegisterNames()
        {
            foreach (var unit in units)
            {
                if (unit.Group is { Name.Length: > 0 } group)
                {
                    Declare(group.Name, unit.Path);
                    groupsByName.TryAdd(group.Name, unit.Members.Select(m => m.Item.Name).ToList());
                }

                foreach (var leaf in unit.Members)
                {
                    if (string.IsNullOrWhiteSpace(leaf.Item.Name))
                    {
                        violations.Add(new(leaf.Path + ".name", "is required"));
                        namesValid = false;
                        continue;
                    }

                    Declare(leaf.Item.Name, leaf.Path);
                    leavesByName.TryAdd(leaf.Item.Name, leaf);
                }
            }
        }

        private void Declare(string name, string path)
        {
            if (name.Length > WorkflowLimits.MaxNameLength)
            {
                violations.Add(new(path + ".name", $"must be at most {WorkflowLimits.MaxNameLength} characters"));
            }

            if (declaredAt.TryGetValue(name, out var first))
            {
                violations.Add(new(path + ".name", $"'{name}' is already the name of {first}; step names must be unique"));
                namesValid = false;
                return;
            }

            declaredAt[name] = path;
        }

        private void CheckStep(Leaf leaf)
        {
            var step = leaf.Item;
            var path = leaf.Path;
            if (step.Type.Length > 0 && step.Type != "agent")
            {
                violations.Add(new(path + ".type", $"unknown step type '{step.Type}'; the supported type is 'agent'"));
            }

            if (step.With is { } with)
            {
                if (with.ValueKind != JsonValueKind.Object)
                {
                    violations.Add(new(path + ".with", "must be a map of inputs"));
                }
                else if (with.GetRawText().Length > WorkflowLimits.MaxWithBytes)
                {
                    violations.Add(new(path + ".with", $"must be at most {WorkflowLimits.MaxWithBytes} bytes as JSON"));
                }
            }

            ResolveAgent(leaf);
        }

        private void ResolveAgent(Leaf leaf)
        {
            var step = leaf.Item;
            var path = leaf.Path;
            if (step.AgentId.Length == 0 && step.Agent.Length == 0)
            {
                violations.Add(new(path + ".agent", "is required: name an agent (agent) or give its id (agent_id)"));
                return;
            }

            Guid? byId = null;
            if (step.AgentId.Length > 0)
            {
                if (Guid.TryParse(step.AgentId, out var id) && agents.TryGetById(id, out var name))
                {
                    byId = id;
                    leaf.AgentId = id;
                    leaf.AgentName = name;
                }
                else
                {
                    violations.Add(new(path + ".agent_id", $"no agent with id '{step.AgentId}' exists in team '{agents.TeamId}'"));
                }
            }

            if (step.Agent.Length > 0)
            {
                if (!agents.TryGetByName(step.Agent, out var id))
                {
                    violations.Add(new(path + ".agent", $"no agent named '{step.Agent}' exists in team '{agents.TeamId}'"));
                }
                else if (byId is { } other && other != id)
                {
                    violations.Add(new(path + ".agent", $"names agent '{step.Agent}', but agent_id is the id of agent '{leaf.AgentName}'"));
                }
                else
                {
                    leaf.AgentId = id;
                    leaf.AgentName = step.Agent;
                }
            }
        }

        private void ResolveDependencies()
        {
            IReadOnlyList<string> previous = [];
            foreach (var unit in units)
            {
                IReadOnlyList<string> groupDependencies = previous;
                if (unit.Group?.Requires is { } groupRequires)
                {
                    groupDependencies = Expand(groupRequires, unit.Path, from: null);
                }

                foreach (var leaf in unit.Members)
                {
                    var dependencies = leaf.Item.Requires is { } requires
                        ? Expand(requires, leaf.Path, leaf.Item.Name)
                        : groupDependencies;
                    leaf.DependsOn.AddRange(dependencies);
                    if (unit.Group?.Requires is not null && leaf.Item.Requires is null)
                    {
                        foreach (var dependency in dependencies)
                        {
                            explicitEdges.TryAdd((leaf.Item.Name, dependency), unit.Path + ".requires");
                        }
                    }
                }

                previous = unit.Members.Select(m => m.Item.Name).ToList();
            }
        }

        /// <summary>The step names a <c>requires</c> list stands for, groups expanded, duplicates dropped.</summary>
        private List<string> Expand(IReadOnlyList<string> requires, string path, string? from)
        {
            var result = new List<string>();
            for (var j = 0; j < requires.Count; j++)
            {
                var name = requires[j];
                var field = $"{path}.requires[{j}]";
                IReadOnlyList<string> targets;
                if (string.IsNullOrWhiteSpace(name))
                {
                    violations.Add(new(field, "must name a step"));
                    continue;
                }

                if (leavesByName.ContainsKey(name))
                {
                    targets = [name];
                }
                else if (groupsByName.TryGetValue(name, out var members))
                {
                    targets = members;
                }
                else
                {
                    violations.Add(new(field, $"names no step of this workflow: '{name}'"));
                    continue;
                }

                foreach (var target in targets.Where(t => !result.Contains(t)))
                {
                    result.Add(target);
                    if (from is not null)
                    {
                        explicitEdges.TryAdd((from, target), field);
                    }
                }
            }

            return result;
        }

        private void FindCycles()
        {
            var order = leaves.Select((l, i) => (l.Item.Name, i)).ToDictionary(p => p.Name, p => p.i, StringComparer.Ordinal);
            var state = new Dictionary<string, int>(StringComparer.Ordinal);
            var stack = new List<string>();
            var reported = new HashSet<string>(StringComparer.Ordinal);

            void Visit(string name)
            {
                state[name] = 1;
                stack.Add(name);
                foreach (var dependency in leavesByName[name].DependsOn)
                {
                    switch (state.GetValueOrDefault(dependency))
                    {
                        case 0:
                            Visit(dependency);
                            break;
                        case 1:
                            Report(stack[stack.IndexOf(dependency)..]);
                            break;
                    }
                }

                stack.RemoveAt(stack.Count - 1);
                state[name] = 2;
            }

            void Report(List<string> cycle)
            {
                if (!reported.Add(string.Join('\n', cycle.Order(StringComparer.Ordinal))))
                {
                    return;
                }

                // Start at the step declared first, so the message does not depend on the search order.
                var start = cycle.IndexOf(cycle.MinBy(n => order[n])!);
                cycle = [.. cycle[start..], .. cycle[..start]];
                string? field = null;
                for (var k = 0; k < cycle.Count && field is null; k++)
                {
                    explicitEdges.TryGetValue((cycle[k], cycle[(k + 1) % cycle.Count]), out field);
                }

                var path = string.Join(" → ", cycle.Append(cycle[0]).Select(n => $"'{n}'"));
                violations.Add(new(field ?? leavesByName[cycle[0]].Path + ".requires",
                    $"forms a dependency cycle: {path} (each step requires the next)"));
            }

            foreach (var leaf in leaves)
            {
                if (state.GetValueOrDefault(leaf.Item.Name) == 0)
                {
                    Visit(leaf.Item.Name);
                }
            }
        }

        private static StepItem Normalise(StepItem item, string path, Dictionary<string, Leaf> byPath)
        {
            if (item.Parallel is { } members)
            {
                return item with { Parallel = members.Select((m, j) => Normalise(m, $"{path}.parallel[{j}]", byPath)).ToList() };
            }

            var leaf = byPath[path];
            return item with { Type = "agent", AgentId = leaf.AgentId.ToString(), Agent = leaf.AgentName };
        }
    }
}
