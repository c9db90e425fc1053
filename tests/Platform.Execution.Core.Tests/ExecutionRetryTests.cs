using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class ExecutionRetryTests
{
    [Fact]
    public void Retry_of_a_failed_execution_keeps_succeeded_outputs_and_continues_attempt_numbers()
    {
        var host = new InMemoryExecutionHost().Start(Step("build"), Step("test"), Step("deploy", "build", "test"));
        host.Succeed("build", new Dictionary<string, string> { ["image"] = "app:1" });
        host.Fail("test", exitCode: 1);
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        host.TakeCommands();

        Assert.True(host.RetryExecution());

        Assert.Equal(ExecutionStatus.Running, host.State.Status);
        Assert.Null(host.State.Error);
        Assert.Equal([new DispatchStep("test", 2)], host.TakeCommands());
        var build = host.State.FindStep("build")!;
        Assert.Equal(StepStatus.Succeeded, build.Status);
        Assert.Equal("app:1", build.Outputs["image"]);
        Assert.Equal(1, build.Attempt);

        host.Succeed("test");
        Assert.Equal([new DispatchStep("deploy", 1)], host.TakeCommands());
        host.Succeed("deploy");
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
    }

    [Fact]
    public void Retry_puts_failed_skipped_and_cancelled_steps_back_to_pending_with_their_attempts()
    {
        var host = new InMemoryExecutionHost().Start(Step("a"), Step("b"), Step("c", "a"));
        host.Fail("a");
        host.Succeed("b");
        Assert.Equal(StepStatus.Skipped, host.State.FindStep("c")!.Status);

        var state = host.State.Apply(new RetryRequested());

        Assert.Equal(
            [(StepStatus.Pending, 1), (StepStatus.Succeeded, 1), (StepStatus.Pending, 0)],
            state.Steps.Select(s => (s.Status, s.Attempt)));
        Assert.Null(state.FindStep("a")!.Error);
        Assert.Null(state.FindStep("a")!.ExitCode);
    }

    [Theory]
    [InlineData("running")]
    [InlineData("succeeded")]
    [InlineData("cancelled")]
    [InlineData("compensating")]
    public void Retry_is_admitted_only_for_a_failed_execution(string situation)
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { HasCompensation = true }, Step("b"));
        switch (situation)
        {
            case "succeeded":
                host.Succeed("a");
                host.Succeed("b");
                break;
            case "cancelled":
                host.Cancel();
                host.Cancelled("a");
                host.Cancelled("b");
                break;
            case "compensating":
                host.Succeed("a");
                host.Fail("b");
                break;
        }

        Assert.False(host.RetryExecution());
        Assert.Contains("only a Failed execution can be retried", host.Rejected[^1].Reason);
        Assert.False(Decider.Admits(ExecutionState.Initial, new RetryRequested()));
    }

    [Fact]
    public void Retried_execution_gives_each_step_a_fresh_retry_budget_and_backoff()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { Retry = Retry(2, initialSeconds: 1, multiplier: 10) });
        host.Fail("a");
        host.FireTimer("retry:a:2");
        host.Fail("a");
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);

        host.RetryExecution();
        host.Fail("a");

        Assert.Equal(StepStatus.Retrying, host.State.FindStep("a")!.Status);
        Assert.Equal(new TimerScheduled("retry:a:4", Seconds(1)), host.History[^1]);
        host.FireTimer("retry:a:4");
        host.Fail("a");
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal(4, host.State.FindStep("a")!.Attempt);
    }

    [Fact]
    public void Retry_runs_a_step_again_whose_compensation_undid_it()
    {
        var host = new InMemoryExecutionHost().Start(
            Step("reserve") with { HasCompensation = true },
            Step("plain"),
            Step("ship", "reserve", "plain"));
        host.Succeed("reserve", new Dictionary<string, string> { ["id"] = "r-1" });
        host.Succeed("plain", new Dictionary<string, string> { ["k"] = "v" });
        host.Fail("ship");
        host.CompleteCompensation("reserve", ok: true);
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        host.TakeCommands();

        host.RetryExecution();

        var reserve = host.State.FindStep("reserve")!;
        Assert.Equal((StepStatus.Dispatched, 2, CompensationStatus.None), (reserve.Status, reserve.Attempt, reserve.Compensation));
        Assert.Empty(reserve.Outputs);
        Assert.Equal("v", host.State.FindStep("plain")!.Outputs["k"]);
        Assert.Equal(["plain"], host.State.CompletionOrder);
        Assert.Equal([new DispatchStep("reserve", 2)], host.TakeCommands());

        host.Succeed("reserve");
        host.Fail("ship");
        Assert.Equal(["reserve", "reserve"], host.CompensatedSteps);
    }

    [Fact]
    public void Retry_keeps_a_step_whose_compensation_failed_and_does_not_compensate_it_again()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { HasCompensation = true }, Step("b", "a"));
        host.Succeed("a", new Dictionary<string, string> { ["k"] = "v" });
        host.Fail("b");
        host.CompleteCompensation("a", ok: false, error: "stuck");

        host.RetryExecution();

        var a = host.State.FindStep("a")!;
        Assert.Equal((StepStatus.Succeeded, CompensationStatus.Failed, "stuck"), (a.Status, a.Compensation, a.CompensationError));
        Assert.Equal("v", a.Outputs["k"]);
        host.Fail("b", exitCode: 5);
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal(["a"], host.CompensatedSteps);
        Assert.Equal("step 'b' failed: exit code 5; compensation of step 'a' failed: stuck", host.State.Error);
    }

    [Fact]
    public void Retry_restarts_the_execution_timeout()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a") with { Timeout = TimeSpan.FromMinutes(10) });
        host.Fail("a");
        Assert.Empty(host.ActiveTimers);
        host.TakeCommands();

        host.RetryExecution();

        Assert.Equal([new StartTimer("execution-timeout", TimeSpan.FromMinutes(10), false), new DispatchStep("a", 2)], host.TakeCommands());
        Assert.True(host.FireTimer("execution-timeout"));
    }

    [Fact]
    public void Retry_asks_for_the_same_approval_again()
    {
        var host = new InMemoryExecutionHost().Start(Approval("gate") with { Timeout = TimeSpan.FromHours(1) });
        host.FireTimer("approval-timeout:gate");
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        host.TakeCommands();

        host.RetryExecution();

        Assert.Equal([new AwaitApproval("gate"), new StartTimer("approval-timeout:gate", TimeSpan.FromHours(1), false)], host.TakeCommands());
        Assert.Equal(2, host.State.FindStep("gate")!.Attempt);
        host.Signal("gate");
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
    }
}
