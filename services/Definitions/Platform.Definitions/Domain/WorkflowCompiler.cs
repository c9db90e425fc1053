using System.Text.Json;
using Platform.BuildingBlocks.Errors;
using Platform.Workflow.Expressions;

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
/// <item>A step is an agent step (an agent by name or id) or an approval step (<c>type: approval</c>: no agent, no
/// retry, no compensation; its <c>timeout</c> is how long it waits). Durations are checked by <see cref="Durations"/>;
/// retry, timeout, compensation and continue_on_failure belong on steps, not on parallel groups.</item>
/// <item>Every <c>if</c> and every <c>${{ }}</c> in a string of <c>with</c> (and of <c>compensate.with</c>) must
/// parse, and every step it reads must have finished before the step starts: an ancestor in the DAG. A compensation
/// may also read its own step. Inputs cannot be checked (workflows declare no input schema).</item>
/// </list>
/// </summary>
public static class WorkflowCompiler
{
    /// <exception cref="ValidationFailedException">with every problem found, by field path.</exception>
    public static CompiledWorkflow Compile(WorkflowDocument document, AgentDirectory agents) =>
        new Compilation(document, agents).Run();

    private sealed record Leaf(string Path, StepItem Item)
    {
        public Guid? AgentId { get; set; }
        public string AgentName { get; set; } = "";
        public Guid? CompensationAgentId { get; set; }
        public string CompensationAgentName { get; set; } = "";
        public List<string> DependsOn { get; } = [];

        /// <summary>The parsed <c>if</c> and templates of the step, by field path, for the reference checks.</summary>
        public List<(string Field, IReadOnlyList<ExpressionReference> References, bool MayReadItself)> Expressions { get; } = [];
    }

    /// <summary>A resolved agent reference: its id and name (null id when it does not resolve).</summary>
    private readonly record struct AgentRef(Guid? Id, string Name);

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

            var beforeDependencies = violations.Count;
            ResolveDependencies();
            if (namesValid)
            {
                FindCycles();
            }

            // Ancestry is only known for a sound graph: names unique, requires resolved, no cycles.
            if (namesValid && violations.Count == beforeDependencies)
            {
                CheckReferences();
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
            var dag = new WorkflowDag([.. leaves.Select(ToDagStep)], Durations.Milliseconds(document.Timeout));
            return new CompiledWorkflow(normalised, dag);
        }

        private static DagStep ToDagStep(Leaf leaf)
        {
            var step = leaf.Item;
            return new DagStep(step.Name, leaf.DependsOn, step.IsApproval ? StepItem.ApprovalType : StepItem.AgentType,
                step.IsApproval ? null : leaf.AgentId, step.With)
            {
                If = step.If,
                Retry = step.Retry is { } retry ? Resolve(retry) : null,
                TimeoutMs = Durations.Milliseconds(step.Timeout),
                ContinueOnFailure = step.ContinueOnFailure ?? false,
                Compensation = step.Compensate is { } compensate
                    ? new DagCompensation(leaf.CompensationAgentId!.Value, compensate.With)
                    : null,
            };
        }

        /// <summary>Defaults: initial 1s (or max, when max is shorter), max 5m (or initial, when initial is longer),
        /// multiplier 2, jitter on, no non-retryable exit codes.</summary>
        private static DagRetry Resolve(RetrySpec retry)
        {
            var backoff = retry.Backoff ?? new BackoffSpec("", "", null, null);
            var initial = Durations.Milliseconds(backoff.Initial);
            var max = Durations.Milliseconds(backoff.Max);
            var defaultInitial = (long)DagRetry.DefaultInitial.TotalMilliseconds;
            var defaultMax = (long)DagRetry.DefaultMax.TotalMilliseconds;
            if (initial == 0)
            {
                initial = max == 0 ? defaultInitial : Math.Min(defaultInitial, max);
            }

            if (max == 0)
            {
                max = Math.Max(defaultMax, initial);
            }

            return new DagRetry(retry.MaxAttempts!.Value, initial, max, backoff.Multiplier ?? DagRetry.DefaultMultiplier,
                backoff.Jitter ?? DagRetry.DefaultJitter, retry.NonRetryableExitCodes ?? []);
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

            CheckDuration(document.Timeout, "timeout");
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

            foreach (var (key, given) in new[]
                     {
                         ("if", group.If.Length > 0), ("retry", group.Retry is not null), ("timeout", group.Timeout.Length > 0),
                         ("compensate", group.Compensate is not null), ("continue_on_failure", group.ContinueOnFailure is not null),
                     })
            {
                if (given)
                {
                    violations.Add(new($"{path}.{key}", onMembers));
                }
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
            if (step.Type.Length > 0 && !StepItem.Types.Contains(step.Type))
            {
                violations.Add(new(path + ".type",
                    $"unknown step type '{step.Type}'; the supported types are 'agent' and 'approval'"));
            }

            CheckWith(step.With, path + ".with");
            if (step.IsApproval)
            {
                const string noAgent = "an approval step runs no agent: it waits for the signal named after the step";
                if (step.Agent.Length > 0)
                {
                    violations.Add(new(path + ".agent", noAgent));
                }

                if (step.AgentId.Length > 0)
                {
                    violations.Add(new(path + ".agent_id", noAgent));
                }

                if (step.Retry is not null)
                {
                    violations.Add(new(path + ".retry", "does not apply to an approval step: it waits for a signal, nothing is retried"));
                }

                if (step.Compensate is not null)
                {
                    violations.Add(new(path + ".compensate", "does not apply to an approval step: it has nothing to undo"));
                }
            }
            else
            {
                var agent = ResolveAgent(step.Agent, step.AgentId, path);
                leaf.AgentId = agent.Id;
                leaf.AgentName = agent.Name;
            }

            CheckDuration(step.Timeout, path + ".timeout");
            if (step.Retry is { } retry && !step.IsApproval)
            {
                CheckRetry(retry, path + ".retry");
            }

            if (step.Compensate is { } compensate && !step.IsApproval)
            {
                var compensation = ResolveAgent(compensate.Agent, compensate.AgentId, path + ".compensate");
                leaf.CompensationAgentId = compensation.Id;
                leaf.CompensationAgentName = compensation.Name;
                CheckWith(compensate.With, path + ".compensate.with");
            }

            ParseExpressions(leaf);
        }

        private void CheckWith(JsonElement? with, string path)
        {
            if (with is not { } value)
            {
                return;
            }

            if (value.ValueKind != JsonValueKind.Object)
            {
                violations.Add(new(path, "must be a map of inputs"));
            }
            else if (value.GetRawText().Length > WorkflowLimits.MaxWithBytes)
            {
                violations.Add(new(path, $"must be at most {WorkflowLimits.MaxWithBytes} bytes as JSON"));
            }
        }

        private void CheckDuration(string duration, string path) => Duration(duration, path);

        /// <summary>The duration when given and valid; a violation when given and invalid.</summary>
        private TimeSpan? Duration(string duration, string path)
        {
            if (duration.Length == 0)
            {
                return null;
            }

            var value = Durations.Parse(duration, out var error);
            if (value is null)
            {
                violations.Add(new(path, error));
            }

            return value;
        }

        private void CheckRetry(RetrySpec retry, string path)
        {
            if (retry.MaxAttempts is not { } attempts)
            {
                violations.Add(new(path + ".max_attempts",
                    $"is required: attempts in all, the first included (1 to {WorkflowLimits.MaxAttempts})"));
            }
            else if (attempts is < 1 or > WorkflowLimits.MaxAttempts)
            {
                violations.Add(new(path + ".max_attempts",
                    $"must be between 1 and {WorkflowLimits.MaxAttempts} (attempts in all, the first included)"));
            }

            if (retry.Backoff is { } backoff)
            {
                var initial = Duration(backoff.Initial, path + ".backoff.initial");
                var max = Duration(backoff.Max, path + ".backoff.max");
                if (initial is { } i && max is { } m && m < i)
                {
                    violations.Add(new(path + ".backoff.max", $"'{backoff.Max}' is shorter than initial ('{backoff.Initial}')"));
                }

                if (backoff.Multiplier is < 1)
                {
                    violations.Add(new(path + ".backoff.multiplier", "must be at least 1 (each wait is the one before times this)"));
                }
            }

            if (retry.NonRetryableExitCodes is { } codes)
            {
                if (codes.Count > WorkflowLimits.MaxExitCodes)
                {
                    violations.Add(new(path + ".non_retryable_exit_codes", $"must hold at most {WorkflowLimits.MaxExitCodes} exit codes"));
                }

                for (var j = 0; j < codes.Count; j++)
                {
                    if (codes[j] == 0)
                    {
                        violations.Add(new($"{path}.non_retryable_exit_codes[{j}]", "0 means success; it cannot fail a step"));
                    }
                }
            }
        }

        /// <summary>Parses the step's <c>if</c> and the templates of its <c>with</c> and <c>compensate.with</c>;
        /// their references are checked once the DAG is known.</summary>
        private void ParseExpressions(Leaf leaf)
        {
            var step = leaf.Item;
            if (step.If.Length > WorkflowLimits.MaxConditionLength)
            {
                violations.Add(new(leaf.Path + ".if", $"must be at most {WorkflowLimits.MaxConditionLength} characters"));
            }
            else if (step.If.Length > 0)
            {
                try
                {
                    leaf.Expressions.Add((leaf.Path + ".if", Expression.ParseCondition(step.If).References, false));
                }
                catch (ExpressionException e)
                {
                    violations.Add(new(leaf.Path + ".if", $"is not a valid condition: {e.Message}"));
                }
            }

            if (step.With is { ValueKind: JsonValueKind.Object } with)
            {
                ParseTemplates(leaf, with, leaf.Path + ".with", mayReadItself: false);
            }

            if (step.Compensate?.With is { ValueKind: JsonValueKind.Object } compensationWith)
            {
                ParseTemplates(leaf, compensationWith, leaf.Path + ".compensate.with", mayReadItself: true);
            }
        }

        private void ParseTemplates(Leaf leaf, JsonElement value, string path, bool mayReadItself)
        {
            switch (value.ValueKind)
            {
                case JsonValueKind.Object:
                    foreach (var property in value.EnumerateObject())
                    {
                        ParseTemplates(leaf, property.Value, $"{path}.{property.Name}", mayReadItself);
                    }

                    break;
                case JsonValueKind.Array:
                    var index = 0;
                    foreach (var item in value.EnumerateArray())
                    {
                        ParseTemplates(leaf, item, $"{path}[{index++}]", mayReadItself);
                    }

                    break;
                case JsonValueKind.String when Template.ContainsExpression(value.GetString()!):
                    try
                    {
                        leaf.Expressions.Add((path, Template.Parse(value.GetString()!).References, mayReadItself));
                    }
                    catch (ExpressionException e)
                    {
                        violations.Add(new(path, $"is not a valid expression: {e.Message}"));
                    }

                    break;
            }
        }

        /// <summary>The agent named by <c>agent</c> and/or <c>agent_id</c> (under <paramref name="path"/>) in the team.</summary>
        private AgentRef ResolveAgent(string agentName, string agentId, string path)
        {
            if (agentId.Length == 0 && agentName.Length == 0)
            {
                violations.Add(new(path + ".agent", "is required: name an agent (agent) or give its id (agent_id)"));
                return default;
            }

            AgentRef byId = default;
            if (agentId.Length > 0)
            {
                if (Guid.TryParse(agentId, out var id) && agents.TryGetById(id, out var name))
                {
                    byId = new AgentRef(id, name);
                }
                else
                {
                    violations.Add(new(path + ".agent_id", $"no agent with id '{agentId}' exists in team '{agents.TeamId}'"));
                }
            }

            if (agentName.Length == 0)
            {
                return byId;
            }

            if (!agents.TryGetByName(agentName, out var named))
            {
                violations.Add(new(path + ".agent", $"no agent named '{agentName}' exists in team '{agents.TeamId}'"));
                return byId;
            }

            if (byId.Id is { } other && other != named)
            {
                violations.Add(new(path + ".agent", $"names agent '{agentName}', but agent_id is the id of agent '{byId.Name}'"));
                return byId;
            }

            return new AgentRef(named, agentName);
        }

        /// <summary>Every step an expression reads must be an ancestor of the expression's step (finished before it
        /// starts); a compensation may read its own step too.</summary>
        private void CheckReferences()
        {
            var ancestors = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);

            HashSet<string> AncestorsOf(Leaf leaf)
            {
                if (!ancestors.TryGetValue(leaf.Item.Name, out var set))
                {
                    set = new HashSet<string>(StringComparer.Ordinal);
                    foreach (var dependency in leaf.DependsOn)
                    {
                        set.Add(dependency);
                        set.UnionWith(AncestorsOf(leavesByName[dependency]));
                    }

                    ancestors[leaf.Item.Name] = set;
                }

                return set;
            }

            foreach (var leaf in leaves)
            {
                foreach (var (field, references, mayReadItself) in leaf.Expressions)
                {
                    foreach (var reference in references.Where(r => r.Step is not null).DistinctBy(r => r.Step))
                    {
                        var target = reference.Step!;
                        var self = leaf.Item.Name;
                        if (target == self)
                        {
                            if (!mayReadItself)
                            {
                                violations.Add(new(field, $"reads step '{target}', which is this step: a step cannot read its own " +
                                    "status or outputs (its compensate.with can)"));
                            }
                        }
                        else if (!leavesByName.ContainsKey(target))
                        {
                            violations.Add(new(field, groupsByName.ContainsKey(target)
                                ? $"reads '{target}', a parallel group: name one of its steps (steps.<name>.outputs.<key>)"
                                : $"reads step '{target}', but this workflow has no step named '{target}'"));
                        }
                        else if (!AncestorsOf(leaf).Contains(target))
                        {
                            violations.Add(new(field, $"reads step '{target}', which does not finish before step '{self}' " +
                                $"starts: add '{target}' to the requires of '{self}' (or of a step it requires)"));
                        }
                    }
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
            if (item.IsApproval)
            {
                return item;
            }

            return item with
            {
                Type = StepItem.AgentType,
                AgentId = leaf.AgentId!.Value.ToString(),
                Agent = leaf.AgentName,
                Compensate = item.Compensate is { } compensate
                    ? compensate with { AgentId = leaf.CompensationAgentId!.Value.ToString(), Agent = leaf.CompensationAgentName }
                    : null,
            };
        }
    }
}
