using System.Collections.Immutable;
using System.Runtime.InteropServices;

namespace Platform.Execution.Core;

/// <summary>
/// What the core derives from a plan once per execution and shares, unchanged, between every state of that execution:
/// the position of each step by name and the positions of its dependencies.
/// </summary>
internal sealed class PlanIndex
{
    private readonly Dictionary<string, int> _positions;

    private PlanIndex(ExecutionPlan plan, Dictionary<string, int> positions, int[][] dependencies, StepState[] initialSteps)
    {
        Plan = plan;
        _positions = positions;
        Dependencies = dependencies;
        InitialSteps = initialSteps;
    }

    public ExecutionPlan Plan { get; }

    /// <summary>For each step (declaration order), the positions of the steps it depends on.</summary>
    public int[][] Dependencies { get; }

    /// <summary>Every step Pending with attempt 0. Never mutated.</summary>
    public StepState[] InitialSteps { get; }

    public int Count => InitialSteps.Length;

    public bool TryGetPosition(string name, out int position) => _positions.TryGetValue(name, out position);

    /// <summary>Builds the index, or says why the plan is not a valid DAG.</summary>
    public static PlanIndex? TryBuild(ExecutionPlan? plan, out string? error)
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

        var dependencies = new int[count][];
        var initial = new StepState[count];
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
        return new PlanIndex(plan, positions, dependencies, initial);
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
