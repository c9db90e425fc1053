namespace Platform.Execution.Core.Tests.Simulation;

/// <summary>Random acyclic plans for property tests. Deterministic for a given <see cref="Random"/> seed.</summary>
public static class RandomDag
{
    /// <summary>
    /// 0..<paramref name="maxSteps"/> steps. Edges only go from a step to steps earlier in a hidden topological order,
    /// so the plan is acyclic; the declaration order is a shuffle of that order, so dependencies may name later steps.
    /// </summary>
    public static ExecutionPlan Create(Random random, int maxSteps = 12)
    {
        ArgumentNullException.ThrowIfNull(random);
        var count = random.Next(0, maxSteps + 1);
        var edgeProbability = random.NextDouble() * 0.6;
        var steps = new PlannedStep[count];
        for (var i = 0; i < count; i++)
        {
            var dependsOn = new List<string>();
            for (var j = 0; j < i; j++)
            {
                if (random.NextDouble() < edgeProbability)
                {
                    dependsOn.Add(Name(j));
                }
            }

            steps[i] = new PlannedStep(Name(i), dependsOn);
        }

        random.Shuffle(steps);
        return new ExecutionPlan(steps);
    }

    private static string Name(int topologicalPosition) => $"step-{topologicalPosition}";
}
