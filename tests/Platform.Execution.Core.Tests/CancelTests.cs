using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class CancelTests
{
    [Fact]
    public void Cancel_requests_the_cancel_of_every_active_job_in_declaration_order()
    {
        var host = new InMemoryExecutionHost().Start(Parallel("a", "b", "c"));
        host.Started("b");
        host.Succeed("c");
        host.TakeCommands();

        Assert.True(host.Cancel("no longer needed"));

        Assert.Equal([new CancelJob("a", 1), new CancelJob("b", 1)], host.TakeCommands());
        Assert.True(host.State.IsStopping);
        Assert.All(host.State.Steps.Where(s => s.IsActive), s => Assert.True(s.Cancelling));
        Assert.Equal(ExecutionStatus.Running, host.State.Status);
    }

    [Fact]
    public void Cancel_with_running_pending_retrying_and_waiting_steps_ends_cancelled_once_the_jobs_stopped()
    {
        var host = new InMemoryExecutionHost().Start(
            Step("running"),
            Step("flaky") with { Retry = Retry(3) },
            Approval("gate") with { Timeout = TimeSpan.FromHours(1) },
            Step("pending", "running", "gate"));
        host.Started("running");
        host.Fail("flaky");
        host.TakeCommands();

        host.Cancel("stopped by alice");

        Assert.Equal(
            [StepStatus.Running, StepStatus.Cancelled, StepStatus.Cancelled, StepStatus.Cancelled],
            host.State.Steps.Select(s => s.Status));
        Assert.Empty(host.ActiveTimers);
        Assert.Equal([new CancelJob("running", 1)], host.TakeCommands());

        Assert.True(host.Cancelled("running"));

        Assert.Equal([new FinishExecution(ExecutionStatus.Cancelled, "stopped by alice")], host.TakeCommands());
        Assert.Equal(ExecutionStatus.Cancelled, host.State.Status);
        Assert.Equal("stopped by alice", host.State.Error);
        Assert.Equal(StepStatus.Cancelled, host.State.FindStep("running")!.Status);
        Assert.Equal(["running", "flaky"], host.DispatchedSteps);
    }

    [Fact]
    public void Cancel_with_nothing_running_ends_the_execution_at_once()
    {
        var host = new InMemoryExecutionHost().Start(Approval("gate"), Step("deploy", "gate"));

        host.Cancel();

        Assert.Equal(ExecutionStatus.Cancelled, host.State.Status);
        Assert.Null(host.State.Error);
        Assert.Empty(host.CancelledJobs);
        Assert.All(host.State.Steps, s => Assert.Equal(StepStatus.Cancelled, s.Status));
    }

    [Fact]
    public void Cancel_racing_a_success_admits_the_success()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a", "b"));
        host.Started("a");
        host.Cancel();

        Assert.True(host.Succeed("a", new Dictionary<string, string> { ["k"] = "v" }));

        Assert.Equal(StepStatus.Succeeded, host.State.FindStep("a")!.Status);
        Assert.Equal("v", host.State.FindStep("a")!.Outputs["k"]);
        Assert.Equal(StepStatus.Cancelled, host.State.FindStep("b")!.Status);
        Assert.Equal(ExecutionStatus.Cancelled, host.State.Status);
        Assert.Equal(["a"], host.DispatchedSteps);
        Assert.False(host.Cancelled("a")); // the runner's late confirmation
    }

    [Fact]
    public void Cancel_racing_a_failure_admits_the_failure_without_a_retry()
    {
        var host = new InMemoryExecutionHost().Start(Step("a") with { Retry = Retry(3) });
        host.Cancel();

        Assert.True(host.Fail("a"));

        Assert.Equal(StepStatus.Failed, host.State.FindStep("a")!.Status);
        Assert.Equal(ExecutionStatus.Cancelled, host.State.Status);
        Assert.Empty(host.History.OfType<TimerScheduled>());
    }

    [Fact]
    public void Cancel_is_admitted_once_and_only_while_running()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a"));
        Assert.False(Decider.Admits(ExecutionState.Initial, new CancelRequested(null)));

        Assert.True(host.Cancel());
        Assert.False(host.Cancel());
        Assert.Contains("already being cancelled", host.Rejected[^1].Reason);

        host.Cancelled("a");
        Assert.False(host.Cancel());
        Assert.Contains("finished", host.Rejected[^1].Reason);
    }

    [Fact]
    public void Cancel_of_a_failing_execution_ends_it_cancelled()
    {
        var host = new InMemoryExecutionHost().Start(Parallel("a", "b"));
        host.Fail("a");

        host.Cancel("give up");
        host.Cancelled("b");

        Assert.Equal(ExecutionStatus.Cancelled, host.State.Status);
        Assert.Equal("give up", host.State.Error);
    }

    [Fact]
    public void Job_cancel_is_requested_once_per_attempt()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a"));
        host.Cancel();

        Assert.Empty(Decider.Decide(host.State));
        Assert.False(Decider.Admits(host.State, new JobCancelRequested("a", 1)));
        Assert.False(Decider.Admits(host.State, new JobCancelRequested("a", 2)));
        Assert.Single(host.CancelledJobs);
    }

    [Fact]
    public void Job_cancel_is_not_admitted_when_nothing_asked_for_it()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a"));

        Assert.False(Decider.Admits(host.State, new JobCancelRequested("a", 1)));
        Assert.Contains("no cancel", Decider.RejectionReason(host.State, new JobCancelRequested("a", 1)));
    }

    [Fact]
    public void Stopped_job_for_a_step_that_is_not_out_is_not_admitted()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("a", "b"));

        Assert.False(host.Deliver(new StepCancelled("b", 1)));
        Assert.False(host.Deliver(new StepCancelled("a", 2)));
    }
}
