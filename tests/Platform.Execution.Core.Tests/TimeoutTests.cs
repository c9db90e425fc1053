using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class TimeoutTests
{
    private static readonly Dictionary<string, string> NoOutputs = [];

    private static PlannedStep Slow(int maxAttempts = 1) =>
        Step("slow") with { Timeout = Seconds(30), Retry = maxAttempts > 1 ? Retry(maxAttempts, initialSeconds: 2) : null };

    [Fact]
    public void Dispatch_of_a_step_with_a_timeout_starts_an_attempt_timer()
    {
        var host = new InMemoryExecutionHost().Start(Slow(), Step("quick"));

        Assert.Equal(
            [new DispatchStep("slow", 1), new StartTimer("timeout:slow:1", Seconds(30), false), new DispatchStep("quick", 1)],
            host.TakeCommands());
        Assert.Equal(new TimerState(TimerPurpose.AttemptTimeout, Seconds(30), "slow", 1), host.ActiveTimers["timeout:slow:1"]);
    }

    [Fact]
    public void Timed_out_attempt_fails_and_its_job_is_cancelled_on_its_runner()
    {
        var host = new InMemoryExecutionHost().Start(Slow(), Step("next", "slow"));
        host.Started("slow");
        host.TakeCommands();

        Assert.True(host.FireTimer("timeout:slow:1"));

        var slow = host.State.FindStep("slow")!;
        Assert.Equal(StepStatus.Failed, slow.Status);
        Assert.Equal("timed out after 30s", slow.Error);
        Assert.Null(slow.ExitCode);
        Assert.Equal(
            [new CancelJob("slow", 1), new FinishExecution(ExecutionStatus.Failed, "step 'slow' failed: timed out after 30s")],
            host.TakeCommands());
        Assert.IsType<JobCancelRequested>(host.History[^2]);
    }

    [Fact]
    public void Timed_out_attempt_is_retried_after_its_job_is_cancelled()
    {
        var host = new InMemoryExecutionHost().Start(Slow(maxAttempts: 2));
        host.TakeCommands();

        host.FireTimer("timeout:slow:1");

        Assert.Equal([new CancelJob("slow", 1), new StartTimer("retry:slow:2", Seconds(2), false)], host.TakeCommands());
        Assert.Equal(StepStatus.Retrying, host.State.FindStep("slow")!.Status);

        host.FireTimer("retry:slow:2");
        Assert.Equal([new DispatchStep("slow", 2), new StartTimer("timeout:slow:2", Seconds(30), false)], host.TakeCommands());
    }

    [Fact]
    public void Late_result_after_the_timeout_is_not_admitted()
    {
        var host = new InMemoryExecutionHost().Start(Slow(maxAttempts: 2));
        host.Started("slow");
        host.FireTimer("timeout:slow:1");
        var before = host.State;

        Assert.False(host.Deliver(new StepSucceeded("slow", 1, 0, NoOutputs)));
        Assert.False(host.Deliver(new StepFailed("slow", 1, 1, "")));
        Assert.False(host.Deliver(new StepCancelled("slow", 1)));
        Assert.False(host.Deliver(new StepStarted("slow", 1, "r")));

        Assert.Same(before, host.State);
        host.FireTimer("retry:slow:2");
        Assert.False(host.Deliver(new StepSucceeded("slow", 1, 0, NoOutputs)));
        Assert.Contains("not 1", host.Rejected[^1].Reason);
    }

    [Fact]
    public void Stale_timer_of_an_attempt_that_ended_first_is_refused_and_changes_nothing()
    {
        var host = new InMemoryExecutionHost().Start(Slow(), Step("next", "slow"));
        host.Succeed("slow");
        Assert.DoesNotContain("timeout:slow:1", host.ActiveTimers.Keys);
        Assert.Contains("timeout:slow:1", host.ScheduledTimers.Keys); // the host still has it and may fire it
        var before = host.State;

        Assert.False(host.FireTimer("timeout:slow:1"));

        Assert.Same(before, host.State);
        Assert.Equal("timer 'timeout:slow:1' is not active", host.Rejected[^1].Reason);
        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("next")!.Status);
    }

    [Theory]
    [InlineData("timeout:slow:2")]
    [InlineData("retry:slow:2")]
    [InlineData("approval-timeout:slow")]
    [InlineData("execution-timeout")]
    [InlineData("nonsense")]
    public void Timer_that_was_never_scheduled_is_refused(string timerId)
    {
        var host = new InMemoryExecutionHost().Start(Slow());

        Assert.False(host.FireTimer(timerId));
        Assert.Equal(StepStatus.Dispatched, host.State.FindStep("slow")!.Status);
    }

    [Fact]
    public void Timer_is_recorded_once_and_only_for_the_current_attempt()
    {
        var host = new InMemoryExecutionHost().Start(Slow());

        Assert.False(Decider.Admits(host.State, new TimerScheduled("timeout:slow:1", Seconds(30))));
        Assert.False(Decider.Admits(host.State, new TimerScheduled("timeout:slow:2", Seconds(30))));
        Assert.False(Decider.Admits(host.State, new TimerScheduled("timeout:other:1", Seconds(30))));
        Assert.False(Decider.Admits(host.State, new TimerScheduled("not-a-timer", Seconds(30))));
    }

    [Fact]
    public void Timeout_while_a_cancel_is_out_does_not_cancel_the_job_twice()
    {
        var host = new InMemoryExecutionHost().Start(Slow());
        host.Started("slow");
        host.Cancel();
        Assert.Equal([new CancelJob("slow", 1)], host.CancelledJobs);

        host.FireTimer("timeout:slow:1"); // the runner never confirmed the cancel

        Assert.Equal([new CancelJob("slow", 1)], host.CancelledJobs);
        Assert.Equal(ExecutionStatus.Cancelled, host.State.Status);
        Assert.Equal(StepStatus.Failed, host.State.FindStep("slow")!.Status);
    }

    [Fact]
    public void Execution_timeout_is_started_with_the_first_dispatches()
    {
        var host = new InMemoryExecutionHost().Start(Parallel("a", "b") with { Timeout = TimeSpan.FromHours(1) });

        Assert.Equal(
            [new StartTimer("execution-timeout", TimeSpan.FromHours(1), false), new DispatchStep("a", 1), new DispatchStep("b", 1)],
            host.TakeCommands());
        Assert.Equal(TimerPurpose.ExecutionTimeout, host.ActiveTimers["execution-timeout"].Purpose);
        Assert.Null(host.ActiveTimers["execution-timeout"].Step);
    }

    [Fact]
    public void Execution_timeout_cancels_running_jobs_and_every_waiting_step_and_ends_failed()
    {
        var plan = Of(
            Step("running"),
            Step("flaky") with { Retry = Retry(3) },
            Approval("gate"),
            Step("pending", "running")) with { Timeout = TimeSpan.FromMinutes(90) };
        var host = new InMemoryExecutionHost().Start(plan);
        host.Started("running");
        host.Fail("flaky");
        host.TakeCommands();

        Assert.True(host.FireTimer("execution-timeout"));

        Assert.Equal([new CancelJob("running", 1)], host.TakeCommands());
        Assert.True(host.State.IsStopping);
        Assert.Equal(
            [StepStatus.Running, StepStatus.Cancelled, StepStatus.Cancelled, StepStatus.Cancelled],
            host.State.Steps.Select(s => s.Status));
        Assert.Empty(host.ActiveTimers);

        host.Cancelled("running");
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal("execution timed out after 90m", host.State.Error);
    }

    [Fact]
    public void Execution_timeout_is_dropped_when_the_execution_finishes()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a") with { Timeout = TimeSpan.FromHours(1) });

        host.Succeed("a");

        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        Assert.Empty(host.ActiveTimers);
        Assert.False(host.FireTimer("execution-timeout"));
    }

    [Fact]
    public void Execution_timeout_of_an_empty_plan_is_not_started()
    {
        var host = new InMemoryExecutionHost().Start(new ExecutionPlan([]) { Timeout = Seconds(5) });

        Assert.Equal([new FinishExecution(ExecutionStatus.Succeeded, null)], host.Commands);
    }
}
