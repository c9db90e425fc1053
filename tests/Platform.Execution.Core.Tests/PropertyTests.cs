using Platform.Execution.Core.Tests.Simulation;

namespace Platform.Execution.Core.Tests;

/// <summary>
/// Random plans, random completion order, random failures, random noise (duplicates, wrong attempts, unknown steps,
/// late results). Each seed is one reproducible run.
/// </summary>
public class PropertyTests
{
    public static TheoryData<int> Seeds()
    {
        var seeds = new TheoryData<int>();
        for (var seed = 1; seed <= 300; seed++)
        {
            seeds.Add(seed);
        }

        return seeds;
    }

    [Theory]
    [MemberData(nameof(Seeds))]
    public void Random_dag_runs_obey_the_scheduling_invariants(int seed)
    {
        var random = new Random(seed);
        var plan = RandomDag.Create(random);
        // A third of the runs never fail, so that successful runs of every shape are covered too.
        var failureProbability = (seed % 3) switch { 0 => 0.0, 1 => 0.05, _ => 0.25 };

        var host = Simulate(plan, random, failureProbability);

        AssertInvariants(plan, host);
    }

    private static InMemoryExecutionHost Simulate(ExecutionPlan plan, Random random, double failureProbability)
    {
        var host = new InMemoryExecutionHost().Start(plan);
        var delivered = new List<ExecutionEvent>();

        for (var turn = 0; !host.State.IsFinished; turn++)
        {
            Assert.True(turn < 10_000, "the simulation does not end");
            var active = host.State.Steps.Where(s => s.IsActive).ToList();
            Assert.True(active.Count > 0, "the execution is running but no step is out: it would hang");

            if (random.NextDouble() < 0.3)
            {
                OfferNoise(host, random, delivered);
            }

            var step = active[random.Next(active.Count)];
            ExecutionEvent result =
                step.Status == StepStatus.Dispatched && random.NextDouble() < 0.5
                    ? new StepStarted(step.Name, step.Attempt, $"runner-{random.Next(3)}")
                : random.NextDouble() < failureProbability
                    ? new StepFailed(step.Name, step.Attempt, random.Next(1, 5), "")
                : new StepSucceeded(step.Name, step.Attempt, 0, new Dictionary<string, string> { ["from"] = step.Name });

            Assert.True(host.Deliver(result), $"{result} was not admitted: {host.Rejected.LastOrDefault()?.Reason}");
            delivered.Add(result);
        }

        // Late and duplicate results after the finish change nothing.
        var finished = host.State;
        foreach (var late in delivered.Concat(plan.Steps.Select(s => (ExecutionEvent)new StepSucceeded(s.Name, 1, 0, new Dictionary<string, string>()))))
        {
            Assert.False(host.Deliver(late), $"{late} was admitted after the finish");
        }

        Assert.Same(finished, host.State);
        Assert.Empty(Decider.Decide(host.State));
        return host;
    }

    /// <summary>Offers an event that must not be admitted and checks that it changes nothing.</summary>
    private static void OfferNoise(InMemoryExecutionHost host, Random random, List<ExecutionEvent> delivered)
    {
        var steps = host.State.Steps;
        var step = steps[random.Next(steps.Count)];
        ExecutionEvent noise = random.Next(5) switch
        {
            0 when delivered.Count > 0 => delivered[random.Next(delivered.Count)], // duplicate
            1 => new StepSucceeded(step.Name, step.Attempt + 1, 0, new Dictionary<string, string>()), // future attempt
            2 => new StepFailed(step.Name, step.Attempt - 1, 1, "stale attempt"), // past attempt
            3 => new StepSucceeded("no-such-step", 1, 0, new Dictionary<string, string>()),
            _ => step.IsActive ? new StepStarted("no-such-step", 1, "r") : new StepFailed(step.Name, step.Attempt, 1, "not out"),
        };

        var before = host.State;
        Assert.False(host.Deliver(noise), $"noise {noise} was admitted in state of step {step}");
        Assert.Same(before, host.State);
    }

    private static void AssertInvariants(ExecutionPlan plan, InMemoryExecutionHost host)
    {
        var dependencies = plan.Steps.ToDictionary(s => s.Name, s => s.DependsOn);
        var dispatches = new Dictionary<string, int>();
        var finishes = 0;
        var state = ExecutionState.Initial;

        // Replays the history and judges each event against the state it was applied to.
        foreach (var e in host.History)
        {
            Assert.False(state.IsFinished, $"{e} recorded after the finish");
            if (e is StepDispatched dispatched)
            {
                foreach (var dependency in dependencies[dispatched.Step])
                {
                    Assert.Equal(StepStatus.Succeeded, state.FindStep(dependency)!.Status);
                }

                Assert.DoesNotContain(state.Steps, s => s.Status == StepStatus.Failed);
                dispatches[dispatched.Step] = dispatches.GetValueOrDefault(dispatched.Step) + 1;
                Assert.Equal(1, dispatches[dispatched.Step]);
            }

            if (e is ExecutionFinished)
            {
                finishes++;
            }

            state = state.Apply(e);
        }

        Assert.Equal(1, finishes);
        Assert.Single(host.Commands.OfType<FinishExecution>());
        Assert.IsType<FinishExecution>(host.Commands[^1]);
        StateAssert.Equivalent(host.State, state);

        var failed = host.State.Steps.Where(s => s.Status == StepStatus.Failed).ToList();
        Assert.Equal(failed.Count > 0 ? ExecutionStatus.Failed : ExecutionStatus.Succeeded, host.State.Status);
        Assert.DoesNotContain(host.State.Steps, s => s.IsActive || s.Status == StepStatus.Pending);
        if (failed.Count == 0)
        {
            Assert.Null(host.State.Error);
            Assert.All(host.State.Steps, s => Assert.Equal(StepStatus.Succeeded, s.Status));
            Assert.Equal(plan.Steps.Count, dispatches.Count);
        }
        else
        {
            Assert.All(failed, s => Assert.Contains($"step '{s.Name}' failed: ", host.State.Error));
            Assert.All(host.State.Steps.Where(s => s.Status == StepStatus.Skipped), s => Assert.Equal(0, s.Attempt));
        }
    }
}
