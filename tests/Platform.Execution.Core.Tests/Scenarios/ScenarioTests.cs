using Platform.Execution.Core.Tests.Simulation;

namespace Platform.Execution.Core.Tests.Scenarios;

/// <summary>Plays every scenario of the shared catalog on the in-memory reference host.</summary>
public class ScenarioTests
{
    public static TheoryData<string> Names()
    {
        var names = new TheoryData<string>();
        foreach (var scenario in ScenarioCatalog.All)
        {
            names.Add(scenario.Name);
        }

        return names;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Scenario_plays_as_the_catalog_says(string name)
    {
        var scenario = ScenarioCatalog.Get(name);
        var host = new InMemoryExecutionHost().Start(scenario.Plan, scenario.Input);

        foreach (var input in scenario.Script)
        {
            var admitted = host.Deliver(input.Event);
            Assert.True(
                admitted == input.Admitted,
                $"{input}: admitted={admitted}; {(admitted ? "" : host.Rejected[^1].Reason)}");
        }

        Assert.Equal(scenario.ExpectedHistory, host.History.Select(EventText.Describe));
        Assert.Equal(scenario.ExpectedStatus, host.State.Status);
        Assert.Equal(scenario.ExpectedError, host.State.Error);
        foreach (var (step, status) in scenario.ExpectedSteps)
        {
            Assert.Equal(status, host.State.FindStep(step)!.Status);
        }

        Assert.Empty(Decider.Decide(host.State));
        StateAssert.Equivalent(host.State, ExecutionState.Fold(host.History));
    }

    [Fact]
    public void Catalog_covers_every_required_kind_of_scenario_once()
    {
        var names = ScenarioCatalog.All.Select(s => s.Name).ToList();

        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.Subset(names.ToHashSet(), new HashSet<string>
        {
            "sequential", "parallel", "dag", "retry", "timeout", "compensation", "cancel", "approval-granted", "approval-timed-out", "if",
        });
    }

    [Fact]
    public void Event_types_are_the_first_word_of_each_expected_event()
    {
        var scenario = ScenarioCatalog.Get("timeout");

        Assert.Equal("StepDispatched", scenario.ExpectedEventTypes[1]);
        Assert.Equal("TimerScheduled", scenario.ExpectedEventTypes[2]);
        Assert.Equal("ExecutionFinished", scenario.ExpectedEventTypes[^1]);
    }
}
