using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text.Json;
using Platform.Workflow.Expressions;

namespace Platform.Execution.Core;

/// <summary>
/// What the core derives from <see cref="ExecutionStarted"/> once per execution and shares, unchanged, between every
/// state of that execution: the position of each step by name, the positions of its dependencies, its rules (with its
/// parsed condition), and the execution's input.
/// </summary>
internal sealed class PlanIndex
{
    private readonly Dictionary<string, int> _positions;

    private PlanIndex(ExecutionPlan plan, JsonElement? inputs, Dictionary<string, int> positions, int[][] dependencies, StepState[] initialSteps, StepRules[] rules)
    {
        Plan = plan;
        Inputs = inputs;
        _positions = positions;
        Dependencies = dependencies;
        InitialSteps = initialSteps;
        Rules = rules;
        Timeout = plan.Timeout;
    }

    public ExecutionPlan Plan { get; }

    /// <summary>The execution's input (a private copy), or null when it has none.</summary>
    public JsonElement? Inputs { get; }

    /// <summary>For each step (declaration order), what the plan says about kind, retry, timeout, failure and compensation.</summary>
    public StepRules[] Rules { get; }

    /// <summary>The limit on the whole execution, if any.</summary>
    public TimeSpan? Timeout { get; }

    /// <summary>For each step (declaration order), the positions of the steps it depends on.</summary>
    public int[][] Dependencies { get; }

    /// <summary>Every step Pending with attempt 0. Never mutated.</summary>
    public StepState[] InitialSteps { get; }

    public int Count => InitialSteps.Length;

    public bool TryGetPosition(string name, out int position) => _positions.TryGetValue(name, out position);

    /// <summary>Builds the index (conditions parsed, input copied), or says why the plan is not a valid DAG.</summary>
    public static PlanIndex? TryBuild(ExecutionPlan? plan, JsonElement? inputs, out string? error) =>
        Build(plan, inputs, parseConditions: true, out error);

    /// <summary>Why the plan is not a valid DAG, or null. Conditions are not parsed: any string is accepted.</summary>
    public static string? Validate(ExecutionPlan? plan)
    {
        _ = Build(plan, null, parseConditions: false, out var error);
        return error;
    }

    private static PlanIndex? Build(ExecutionPlan? plan, JsonElement? inputs, bool parseConditions, out string? error)
    {
        if (plan?.Steps is null)
        {
            error = "the plan has no step list";
            return null;
        }

        var steps = plan.Steps;
        var count = steps.Count;
        var positions = new Dictionary<string, int>(count, StringComparer.Ordinal);
        for (var i = 0; i < count; i++)
        {
            var name = steps[i]?.Name;
            if (string.IsNullOrEmpty(name))
            {
                error = $"step #{i + 1} of the plan has no name";
                return null;
            }

            if (!positions.TryAdd(name, i))
            {
                error = $"step '{name}' is declared twice";
                return null;
            }
        }

        if (plan.Timeout is { } executionTimeout && executionTimeout <= TimeSpan.Zero)
        {
            error = $"the execution timeout must be positive, not {Durations.Format(executionTimeout)}";
            return null;
        }

        var dependencies = new int[count][];
        var initial = new StepState[count];
        var rules = new StepRules[count];
        var noOutputs = ImmutableDictionary<string, string>.Empty;
        for (var i = 0; i < count; i++)
        {
            var step = steps[i];
            var dependsOn = step.DependsOn ?? [];
            var names = new string[dependsOn.Count];
            var indices = new int[dependsOn.Count];
            for (var d = 0; d < names.Length; d++)
            {
                var dependency = dependsOn[d];
                if (dependency is null || !positions.TryGetValue(dependency, out var position))
                {
                    error = $"step '{step.Name}' depends on unknown step '{dependency}'";
                    return null;
                }

                if (position == i)
                {
                    error = $"step '{step.Name}' depends on itself";
                    return null;
                }

                names[d] = dependency;
                indices[d] = position;
            }

            if (StepRules.TryCreate(step, parseConditions, out error) is not { } stepRules)
            {
                return null;
            }

            rules[i] = stepRules;
            dependencies[i] = indices;
            // A private copy, boxed once and shared by every later version of this step's state.
            IReadOnlyList<string> frozen = ImmutableCollectionsMarshal.AsImmutableArray(names);
            initial[i] = new StepState(step.Name, frozen, StepStatus.Pending, 0, null, null, noOutputs, null);
        }

        var cycle = FindCycleMember(dependencies);
        if (cycle >= 0)
        {
            error = $"the plan has a dependency cycle through step '{steps[cycle].Name}'";
            return null;
        }

        error = null;
        // A private copy that owns its memory: the caller's document may be disposed, the state lives on.
        JsonElement? input = inputs is { ValueKind: not JsonValueKind.Undefined } given ? given.Clone() : null;
        return new PlanIndex(plan, input, positions, dependencies, initial, rules);
    }

    /// <summary>Kahn's algorithm: the position of a step on a cycle, or -1 when the graph is acyclic.</summary>
    private static int FindCycleMember(int[][] dependencies)
    {
        var count = dependencies.Length;
        var waitingFor = new int[count];
        var dependentCounts = new int[count];
        for (var i = 0; i < count; i++)
        {
            waitingFor[i] = dependencies[i].Length;
            foreach (var d in dependencies[i])
            {
                dependentCounts[d]++;
            }
        }

        var dependents = new int[count][];
        for (var i = 0; i < count; i++)
        {
            dependents[i] = new int[dependentCounts[i]];
            dependentCounts[i] = 0;
        }

        for (var i = 0; i < count; i++)
        {
            foreach (var d in dependencies[i])
            {
                dependents[d][dependentCounts[d]++] = i;
            }
        }

        var ready = new Stack<int>();
        for (var i = 0; i < count; i++)
        {
            if (waitingFor[i] == 0)
            {
                ready.Push(i);
            }
        }

        var done = 0;
        while (ready.Count > 0)
        {
            var next = ready.Pop();
            done++;
            foreach (var dependent in dependents[next])
            {
                if (--waitingFor[dependent] == 0)
                {
                    ready.Push(dependent);
                }
            }
        }

        if (done == count)
        {
            return -1;
        }

        // Every unfinished step waits for an unfinished dependency; walking those dependencies `count` times from
        // any unfinished step ends on a cycle.
        var current = Array.FindIndex(waitingFor, w => w > 0);
        for (var walked = 0; walked < count; walked++)
        {
            current = Array.Find(dependencies[current], d => waitingFor[d] > 0);
        }

        return current;
    }
}

/// <summary>
/// A step's rules, copied from the plan once (the exit code list is frozen, so later changes do not leak in; the
/// condition is parsed here, once per plan).
/// </summary>
internal sealed class StepRules
{
    private StepRules(PlannedStep step, int[] nonRetryableExitCodes, bool parseCondition)
    {
        Condition = step.Condition;
        if (parseCondition && step.Condition is { } condition)
        {
            try
            {
                ParsedCondition = Expression.ParseCondition(condition);
            }
            catch (ExpressionException e)
            {
                ConditionError = "invalid condition: " + e.Message;
            }
        }

        Kind = step.Kind;
        Retry = step.Kind == StepKind.Agent ? step.Retry : null;
        NonRetryableExitCodes = nonRetryableExitCodes;
        Timeout = step.Timeout;
        ContinueOnFailure = step.ContinueOnFailure;
        HasCompensation = step.HasCompensation;
    }

    public StepKind Kind { get; }

    /// <summary>Null for an approval step: approvals are never retried.</summary>
    public RetryPolicy? Retry { get; }

    public int[] NonRetryableExitCodes { get; }

    public TimeSpan? Timeout { get; }

    public bool ContinueOnFailure { get; }

    public bool HasCompensation { get; }

    /// <summary>The <c>if:</c> condition as written; null when the step has none.</summary>
    public string? Condition { get; }

    /// <summary>The parsed condition; null when there is none or it does not parse.</summary>
    public Expression? ParsedCondition { get; }

    /// <summary>"invalid condition: ..." when the condition does not parse (the step will fail when ready); else null.</summary>
    public string? ConditionError { get; }

    public static StepRules? TryCreate(PlannedStep step, bool parseCondition, out string? error)
    {
        error = null;
        if (step.Kind is not (StepKind.Agent or StepKind.Approval))
        {
            error = $"step '{step.Name}' has an unknown kind {step.Kind}";
        }
        else if (step.Timeout is { } timeout && timeout <= TimeSpan.Zero)
        {
            error = $"step '{step.Name}' has a timeout that is not positive ({Durations.Format(timeout)})";
        }
        else if (step.Retry is { } retry)
        {
            if (retry.MaxAttempts < 1)
            {
                error = $"step '{step.Name}' has max_attempts {retry.MaxAttempts}; it must be at least 1";
            }
            else if (retry.Initial < TimeSpan.Zero || retry.Max < TimeSpan.Zero)
            {
                error = $"step '{step.Name}' has a negative retry backoff";
            }
            else if (!double.IsFinite(retry.Multiplier) || retry.Multiplier <= 0)
            {
                error = $"step '{step.Name}' has a retry multiplier that is not a positive number";
            }
        }

        return error is null ? new StepRules(step, step.Retry?.NonRetryableExitCodes?.ToArray() ?? [], parseCondition) : null;
    }
}
