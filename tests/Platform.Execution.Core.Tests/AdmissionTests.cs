using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class AdmissionTests
{
    private static readonly Dictionary<string, string> NoOutputs = [];

    private static InMemoryExecutionHost StartedWith(ExecutionPlan plan) => new InMemoryExecutionHost().Start(plan);

    [Fact]
    public void Result_for_the_current_attempt_of_a_dispatched_step_is_admitted()
    {
        var state = StartedWith(Sequential("a")).State;

        Assert.True(Decider.Admits(state, new StepStarted("a", 1, "r")));
        Assert.True(Decider.Admits(state, new StepSucceeded("a", 1, 0, NoOutputs)));
        Assert.True(Decider.Admits(state, new StepFailed("a", 1, 1, "")));
    }

    [Fact]
    public void Result_for_a_running_step_is_admitted()
    {
        var host = StartedWith(Sequential("a"));
        host.Started("a");

        Assert.True(Decider.Admits(host.State, new StepSucceeded("a", 1, 0, NoOutputs)));
        Assert.True(Decider.Admits(host.State, new StepFailed("a", 1, 1, "")));
    }

    [Fact]
    public void Duplicate_result_is_not_admitted()
    {
        var host = StartedWith(Sequential("a", "b"));
        Assert.True(host.Succeed("a"));
        var before = host.State;

        Assert.False(host.Succeed("a"));
        Assert.False(host.Deliver(new StepFailed("a", 1, 1, "late failure")));
        Assert.Same(before, host.State);
        Assert.Equal(StepStatus.Succeeded, host.State.FindStep("a")!.Status);
        Assert.Equal(["a", "b"], host.DispatchedSteps);
    }

    [Fact]
    public void Second_start_of_the_same_attempt_is_not_admitted()
    {
        var host = StartedWith(Sequential("a"));
        Assert.True(host.Started("a", "runner-1"));

        Assert.False(host.Started("a", "runner-2"));
        Assert.Equal("runner-1", host.State.FindStep("a")!.RunnerId);
    }

    [Fact]
    public void Start_after_the_result_is_not_admitted()
    {
        var host = StartedWith(Sequential("a", "b"));
        host.Succeed("a");

        Assert.False(host.Started("a"));
    }

    [Fact]
    public void Result_for_a_wrong_attempt_is_not_admitted()
    {
        var state = StartedWith(Sequential("a")).State;

        Assert.False(Decider.Admits(state, new StepSucceeded("a", 2, 0, NoOutputs)));
        Assert.False(Decider.Admits(state, new StepFailed("a", 0, 1, "")));
        Assert.False(Decider.Admits(state, new StepStarted("a", 2, "r")));
        Assert.Contains("attempt", Decider.RejectionReason(state, new StepSucceeded("a", 2, 0, NoOutputs)));
    }

    [Fact]
    public void Result_for_an_unknown_step_is_not_admitted()
    {
        var state = StartedWith(Sequential("a")).State;

        Assert.False(Decider.Admits(state, new StepSucceeded("nope", 1, 0, NoOutputs)));
        Assert.Equal("the execution has no step 'nope'", Decider.RejectionReason(state, new StepStarted("nope", 1, "r")));
    }

    [Fact]
    public void Result_for_a_step_never_dispatched_is_not_admitted()
    {
        var state = StartedWith(Sequential("a", "b")).State;

        Assert.False(Decider.Admits(state, new StepSucceeded("b", 0, 0, NoOutputs)));
        Assert.False(Decider.Admits(state, new StepSucceeded("b", 1, 0, NoOutputs)));
        Assert.False(Decider.Admits(state, new StepStarted("b", 1, "r")));
    }

    [Fact]
    public void Late_result_after_the_finish_is_not_admitted()
    {
        var host = StartedWith(Parallel("a", "b"));
        host.Fail("a");
        host.Succeed("b");
        Assert.True(host.State.IsFinished);

        Assert.False(host.Succeed("a"));
        Assert.False(host.Started("b"));
        Assert.Contains("finished", host.Rejected[^1].Reason);
    }

    [Fact]
    public void Step_result_before_the_start_is_not_admitted()
    {
        Assert.False(Decider.Admits(ExecutionState.Initial, new StepSucceeded("a", 1, 0, NoOutputs)));
        Assert.Equal("the execution has not started", Decider.RejectionReason(ExecutionState.Initial, new StepStarted("a", 1, "r")));
    }

    [Fact]
    public void Execution_starts_only_once()
    {
        var plan = Sequential("a");
        Assert.True(Decider.Admits(ExecutionState.Initial, new ExecutionStarted(plan)));

        var state = ExecutionState.Initial.Apply(new ExecutionStarted(plan));
        Assert.False(Decider.Admits(state, new ExecutionStarted(plan)));
    }

    [Theory]
    [InlineData("duplicate", "step 'a' is declared twice")]
    [InlineData("unknown", "step 'b' depends on unknown step 'x'")]
    [InlineData("self", "step 'a' depends on itself")]
    [InlineData("cycle", "the plan has a dependency cycle through step")]
    [InlineData("nameless", "step #2 of the plan has no name")]
    public void Invalid_plan_is_refused(string kind, string reason)
    {
        var plan = kind switch
        {
            "duplicate" => Of(Step("a"), Step("a")),
            "unknown" => Of(Step("a"), Step("b", "x")),
            "self" => Of(Step("a", "a")),
            "cycle" => Of(Step("start"), Step("a", "start", "c"), Step("b", "a"), Step("c", "b"), Step("tail", "c")),
            _ => Of(Step("a"), Step("")),
        };
        var started = new ExecutionStarted(plan);

        Assert.False(Decider.Admits(ExecutionState.Initial, started));
        Assert.StartsWith(reason, Decider.RejectionReason(ExecutionState.Initial, started));
        var thrown = Assert.Throws<InvalidOperationException>(() => ExecutionState.Initial.Apply(started));
        Assert.Contains(reason, thrown.Message);
    }

    [Fact]
    public void Cycle_is_reported_through_a_step_on_the_cycle()
    {
        var plan = Of(Step("start"), Step("a", "start", "c"), Step("b", "a"), Step("c", "b"), Step("tail", "c"));

        var reason = Decider.RejectionReason(ExecutionState.Initial, new ExecutionStarted(plan));

        Assert.Matches("through step '(a|b|c)'$", reason);
    }

    [Fact]
    public void Apply_refuses_an_event_that_is_not_admitted()
    {
        var state = StartedWith(Sequential("a")).State;

        var thrown = Assert.Throws<InvalidOperationException>(() => state.Apply(new StepSucceeded("a", 2, 0, NoOutputs)));
        Assert.Contains("StepSucceeded does not apply", thrown.Message);
    }

    [Fact]
    public void Dispatch_must_be_the_next_attempt_of_a_pending_step()
    {
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(Sequential("a")));

        Assert.False(Decider.Admits(state, new StepDispatched("a", 2)));
        var dispatched = state.Apply(new StepDispatched("a", 1));
        Assert.False(Decider.Admits(dispatched, new StepDispatched("a", 1)));
        Assert.False(Decider.Admits(dispatched, new StepDispatched("a", 2)));
    }

    [Fact]
    public void Finish_must_carry_a_final_status_and_happens_once()
    {
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(Sequential("a")));

        Assert.False(Decider.Admits(state, new ExecutionFinished(ExecutionStatus.Running, null)));
        Assert.False(Decider.Admits(state, new ExecutionFinished(ExecutionStatus.Pending, null)));
        var finished = state.Apply(new ExecutionFinished(ExecutionStatus.Cancelled, "stopped"));
        Assert.False(Decider.Admits(finished, new ExecutionFinished(ExecutionStatus.Failed, null)));
        Assert.False(Decider.Admits(ExecutionState.Initial, new ExecutionFinished(ExecutionStatus.Failed, null)));
    }
}
