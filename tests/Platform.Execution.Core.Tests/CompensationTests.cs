using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class CompensationTests
{
    private static PlannedStep Compensated(string name, params string[] dependsOn) => Step(name, dependsOn) with { HasCompensation = true };

    [Fact]
    public void Succeeded_steps_are_compensated_one_at_a_time_in_reverse_order_of_completion()
    {
        var host = new InMemoryExecutionHost().Start(Compensated("a"), Compensated("b"), Compensated("c"), Step("d", "a", "b", "c"));
        host.Succeed("b");
        host.Succeed("c");
        host.Succeed("a");
        host.TakeCommands();

        host.Fail("d");

        Assert.Equal([new DispatchCompensation("a")], host.TakeCommands());
        Assert.Equal(ExecutionStatus.Compensating, host.State.Status);
        Assert.Equal(
            [CompensationStatus.Running, CompensationStatus.Pending, CompensationStatus.Pending, CompensationStatus.None],
            host.State.Steps.Select(s => s.Compensation));
        Assert.Empty(Decider.Decide(host.State));

        host.CompleteCompensation("a", ok: true);
        Assert.Equal([new DispatchCompensation("c")], host.TakeCommands());
        host.CompleteCompensation("c", ok: true);
        Assert.Equal([new DispatchCompensation("b")], host.TakeCommands());
        host.CompleteCompensation("b", ok: true);

        Assert.Equal([new FinishExecution(ExecutionStatus.Failed, "step 'd' failed: exit code 1")], host.TakeCommands());
        Assert.Equal(["a", "c", "b"], host.CompensatedSteps);
        Assert.Equal(["b", "c", "a"], host.State.CompletionOrder);
        Assert.All(host.State.Steps.Take(3), s => Assert.Equal(CompensationStatus.Succeeded, s.Compensation));
    }

    [Fact]
    public void Failed_compensation_is_visible_on_the_step_and_in_the_error_and_the_rest_still_run()
    {
        var host = new InMemoryExecutionHost().Start(Compensated("a"), Compensated("b", "a"), Step("c", "b"));
        host.Succeed("a");
        host.Succeed("b");
        host.Fail("c", exitCode: 2);

        host.CompleteCompensation("b", ok: false, error: "refund rejected");

        var b = host.State.FindStep("b")!;
        Assert.Equal(CompensationStatus.Failed, b.Compensation);
        Assert.Equal("refund rejected", b.CompensationError);
        Assert.Equal(ExecutionStatus.Compensating, host.State.Status);

        host.CompleteCompensation("a", ok: true);
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal("step 'c' failed: exit code 2; compensation of step 'b' failed: refund rejected", host.State.Error);
        Assert.Equal(CompensationStatus.Succeeded, host.State.FindStep("a")!.Compensation);
    }

    [Fact]
    public void Only_succeeded_steps_with_a_compensation_are_compensated()
    {
        var host = new InMemoryExecutionHost().Start(
            Compensated("ok"), Step("plain"), Compensated("failed"), Compensated("running"), Compensated("never", "failed"));
        host.Succeed("ok");
        host.Succeed("plain");
        host.Fail("failed");

        host.Succeed("running");

        CompleteAll(host);

        Assert.Equal(["running", "ok"], host.CompensatedSteps);
        Assert.Equal(CompensationStatus.None, host.State.FindStep("plain")!.Compensation);
        Assert.Equal(CompensationStatus.None, host.State.FindStep("failed")!.Compensation);
        Assert.Equal(CompensationStatus.None, host.State.FindStep("never")!.Compensation);
    }

    [Fact]
    public void Cancelled_execution_compensates_and_ends_cancelled()
    {
        var host = new InMemoryExecutionHost().Start(Compensated("a"), Step("b", "a"));
        host.Succeed("a");
        host.Cancel("stop");
        Assert.Equal(ExecutionStatus.Running, host.State.Status); // b's job is still out

        host.Cancelled("b");
        Assert.Equal(ExecutionStatus.Compensating, host.State.Status);
        host.CompleteCompensation("a", ok: false, error: "boom");

        Assert.Equal(ExecutionStatus.Cancelled, host.State.Status);
        Assert.Equal("stop; compensation of step 'a' failed: boom", host.State.Error);
    }

    [Fact]
    public void Failed_compensation_of_a_cancel_without_reason_is_the_whole_error()
    {
        var host = new InMemoryExecutionHost().Start(Compensated("a"), Approval("gate", "a"));
        host.Succeed("a");
        host.Cancel();

        host.CompleteCompensation("a", ok: false, error: "");

        Assert.Equal("compensation of step 'a' failed: no error given", host.State.Error);
    }

    [Fact]
    public void Failed_execution_without_compensations_finishes_at_once()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a", "b"));
        host.Succeed("a");
        host.Fail("b");

        Assert.DoesNotContain(host.History, e => e is CompensationDispatched);
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
    }

    [Fact]
    public void Successful_execution_is_never_compensated()
    {
        var host = new InMemoryExecutionHost().Start(Compensated("a"), Compensated("b", "a"));
        host.Succeed("a");
        host.Succeed("b");

        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        Assert.Empty(host.CompensatedSteps);
    }

    [Fact]
    public void Nothing_but_the_running_compensation_is_admitted_while_compensating()
    {
        var host = new InMemoryExecutionHost().Start(Compensated("a"), Compensated("b"), Step("c", "a", "b"));
        host.Succeed("a");
        host.Succeed("b");
        host.Fail("c");
        var state = host.State;

        Assert.False(Decider.Admits(state, new CompensationSucceeded("a"))); // not its turn yet
        Assert.False(Decider.Admits(state, new CompensationSucceeded("c")));
        Assert.False(Decider.Admits(state, new CompensationDispatched("a")));
        Assert.False(Decider.Admits(state, new CompensationDispatched("b")));
        Assert.False(Decider.Admits(state, new CancelRequested(null)));
        Assert.Contains("compensating", Decider.RejectionReason(state, new CancelRequested(null)));
        Assert.False(Decider.Admits(state, new RetryRequested()));
        Assert.True(Decider.Admits(state, new CompensationFailed("b", "x")));
    }

    [Fact]
    public void Compensation_is_not_dispatched_before_the_execution_is_at_its_end()
    {
        var host = new InMemoryExecutionHost().Start(Compensated("a"), Step("b"), Step("c"));
        host.Succeed("a");
        host.Fail("b");

        Assert.Equal(ExecutionStatus.Running, host.State.Status); // c is still out
        Assert.False(Decider.Admits(host.State, new CompensationDispatched("a")));
        host.Succeed("c");
        Assert.Equal(["a"], host.CompensatedSteps);
    }

    private static void CompleteAll(InMemoryExecutionHost host)
    {
        while (host.State.Status == ExecutionStatus.Compensating)
        {
            host.CompleteCompensation(host.State.Steps.Single(s => s.Compensation == CompensationStatus.Running).Name, ok: true);
        }
    }
}
