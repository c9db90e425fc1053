using System.Text.Json;

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

    /// <summary>
    /// A random DAG whose steps get random kinds (some approvals), retry policies (attempts, backoff, jitter,
    /// non-retryable exit code 2), attempt timeouts, continue_on_failure and compensations; sometimes an execution timeout.
    /// </summary>
    public static ExecutionPlan CreateWithResilience(Random random, int maxSteps = 10)
    {
        ArgumentNullException.ThrowIfNull(random);
        var plan = Create(random, maxSteps);
        var steps = plan.Steps.Select(step => Decorate(step, random)).ToList();
        return new ExecutionPlan(steps) { Timeout = random.NextDouble() < 0.3 ? TimeSpan.FromMinutes(random.Next(1, 120)) : null };
    }

    /// <summary>
    /// A resilient random DAG (<see cref="CreateWithResilience"/>) where about half the steps get an <c>if:</c>
    /// condition: on the input (<c>{"flag": bool, "level": 0..3}</c>, also returned), on a dependency's status or
    /// outputs, constant, or one that does not parse; and a random input for it.
    /// </summary>
    public static (ExecutionPlan Plan, JsonElement Input) CreateWithConditions(Random random, int maxSteps = 10)
    {
        ArgumentNullException.ThrowIfNull(random);
        var plan = CreateWithResilience(random, maxSteps);
        var steps = plan.Steps.Select(step => random.NextDouble() < 0.5 ? step with { Condition = RandomCondition(step, random) } : step).ToList();
        using var document = JsonDocument.Parse($$"""{"flag": {{(random.NextDouble() < 0.5 ? "true" : "false")}}, "level": {{random.Next(4)}}}""");
        return (plan with { Steps = steps }, document.RootElement.Clone());
    }

    private static string RandomCondition(PlannedStep step, Random random)
    {
        var dependency = step.DependsOn.Count > 0 ? step.DependsOn[random.Next(step.DependsOn.Count)] : null;
        return random.Next(dependency is null ? 6 : 10) switch
        {
            0 => "inputs.flag",
            1 => "${{ !inputs.flag }}",
            2 => $"inputs.level >= {random.Next(4)}",
            3 => random.NextDouble() < 0.5 ? "true" : "${{ false }}",
            4 => "inputs.flag ==", // does not parse: the step fails when ready
            5 => "inputs.level < 2 || inputs.flag",
            6 => $"steps['{dependency}'].status == 'succeeded'",
            7 => $"steps['{dependency}'].outputs.from == '{dependency}'",
            8 => $"steps['{dependency}'].status != 'skipped' && inputs.level > 0",
            _ => $"steps['{dependency}'].status == 'failed' || steps['{dependency}'].status == 'skipped'",
        };
    }

    private static PlannedStep Decorate(PlannedStep step, Random random)
    {
        var approval = random.NextDouble() < 0.15;
        RetryPolicy? retry = random.NextDouble() < 0.5
            ? new RetryPolicy(
                random.Next(1, 5),
                TimeSpan.FromSeconds(random.Next(0, 5)),
                TimeSpan.FromSeconds(random.Next(1, 30)),
                new[] { 1.0, 1.5, 2.0, 3.0 }[random.Next(4)],
                random.NextDouble() < 0.3,
                random.NextDouble() < 0.3 ? [2] : [])
            : null;
        return step with
        {
            Kind = approval ? StepKind.Approval : StepKind.Agent,
            Retry = retry,
            Timeout = random.NextDouble() < 0.35 ? TimeSpan.FromSeconds(random.Next(1, 600)) : null,
            ContinueOnFailure = random.NextDouble() < 0.2,
            HasCompensation = random.NextDouble() < 0.4,
        };
    }

    private static string Name(int topologicalPosition) => $"step-{topologicalPosition}";
}
