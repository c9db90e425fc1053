using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class ExecutionStateTests
{
    [Fact]
    public void Started_execution_is_running_with_every_step_pending_at_attempt_zero()
    {
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(Of(Step("a"), Step("b", "a"))));

        Assert.Equal(ExecutionStatus.Running, state.Status);
        Assert.True(state.IsStarted);
        Assert.False(state.IsFinished);
        Assert.Equal(["a", "b"], state.Steps.Select(s => s.Name));
        Assert.All(state.Steps, s =>
        {
            Assert.Equal(StepStatus.Pending, s.Status);
            Assert.Equal(0, s.Attempt);
            Assert.Null(s.RunnerId);
            Assert.Empty(s.Outputs);
        });
        Assert.Equal(["a"], state.FindStep("b")!.DependsOn);
    }

    [Fact]
    public void Find_step_returns_null_for_an_unknown_name()
    {
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(Sequential("a")));

        Assert.Null(state.FindStep("b"));
        Assert.Null(ExecutionState.Initial.FindStep("a"));
    }

    [Fact]
    public void Apply_leaves_the_previous_state_unchanged()
    {
        var started = ExecutionState.Initial.Apply(new ExecutionStarted(Sequential("a", "b")));
        var dispatched = started.Apply(new StepDispatched("a", 1));

        Assert.Equal(StepStatus.Pending, started.FindStep("a")!.Status);
        Assert.Equal(StepStatus.Dispatched, dispatched.FindStep("a")!.Status);
        Assert.Same(started.FindStep("b"), dispatched.FindStep("b"));
    }

    [Fact]
    public void Outputs_are_copied_so_later_changes_to_the_source_do_not_leak_in()
    {
        var outputs = new Dictionary<string, string> { ["k"] = "v" };
        var state = ExecutionState.Initial
            .Apply(new ExecutionStarted(Sequential("a")))
            .Apply(new StepDispatched("a", 1))
            .Apply(new StepSucceeded("a", 1, 0, outputs));

        outputs["k"] = "changed";
        outputs["extra"] = "x";

        Assert.Equal(new Dictionary<string, string> { ["k"] = "v" }, state.FindStep("a")!.Outputs);
    }

    [Fact]
    public void Dependencies_are_copied_from_the_plan()
    {
        var dependsOn = new List<string> { "a" };
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(Of(Step("a"), new PlannedStep("b", dependsOn))));

        dependsOn.Add("c");

        Assert.Equal(["a"], state.FindStep("b")!.DependsOn);
    }

    [Fact]
    public void Finish_keeps_status_and_error_and_skips_pending_steps()
    {
        var state = ExecutionState.Initial
            .Apply(new ExecutionStarted(Sequential("a", "b")))
            .Apply(new StepDispatched("a", 1))
            .Apply(new StepFailed("a", 1, 1, ""))
            .Apply(new ExecutionFinished(ExecutionStatus.Failed, "step 'a' failed: exit code 1"));

        Assert.Equal(ExecutionStatus.Failed, state.Status);
        Assert.Equal("step 'a' failed: exit code 1", state.Error);
        Assert.Equal(StepStatus.Skipped, state.FindStep("b")!.Status);
        Assert.Equal(StepStatus.Failed, state.FindStep("a")!.Status);
    }

    [Fact]
    public void Fold_of_a_history_gives_the_state_the_host_built()
    {
        var host = new InMemoryExecutionHost().Start(Of(Step("a"), Step("b"), Step("c", "a", "b")));
        host.Started("a", "r1");
        host.Succeed("a", new Dictionary<string, string> { ["x"] = "1" });
        host.Succeed("b");
        host.Fail("c", exitCode: 4);

        var replayed = ExecutionState.Fold(host.History);

        StateAssert.Equivalent(host.State, replayed);
    }

    [Fact]
    public void Record_turns_each_command_into_the_event_that_records_it()
    {
        Assert.Equal(new StepDispatched("a", 3), Decider.Record(new DispatchStep("a", 3)));
        Assert.Equal(new ExecutionFinished(ExecutionStatus.Failed, "e"), Decider.Record(new FinishExecution(ExecutionStatus.Failed, "e")));
    }

    [Fact]
    public void Decide_is_idempotent_until_its_commands_are_recorded()
    {
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(Parallel("a", "b")));

        var first = Decider.Decide(state);
        var second = Decider.Decide(state);
        Assert.Equal([new DispatchStep("a", 1), new DispatchStep("b", 1)], first);
        Assert.Equal(first, second);

        state = state.Apply(Decider.Record(first[0]));
        Assert.Equal([new DispatchStep("b", 1)], Decider.Decide(state));

        state = state.Apply(Decider.Record(first[1]));
        Assert.Empty(Decider.Decide(state));
        Assert.Empty(Decider.Decide(state));
    }

    [Fact]
    public void Finish_is_decided_again_until_it_is_recorded_and_then_never()
    {
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(new ExecutionPlan([])));

        var finish = Assert.Single(Decider.Decide(state));
        Assert.Equal(finish, Assert.Single(Decider.Decide(state)));

        state = state.Apply(Decider.Record(finish));
        Assert.Empty(Decider.Decide(state));
    }
}
