using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class ApprovalTests
{
    private static readonly Dictionary<string, string> Approved = new() { ["approved_by"] = "alice", ["ticket"] = "CHG-7" };

    [Fact]
    public void Approval_step_waits_for_its_signal_once_its_dependencies_succeeded()
    {
        var host = new InMemoryExecutionHost().Start(Step("build"), Approval("approve", "build"), Step("deploy", "approve"));
        Assert.Equal([new DispatchStep("build", 1)], host.TakeCommands());

        host.Succeed("build");

        Assert.Equal([new AwaitApproval("approve")], host.TakeCommands());
        var approve = host.State.FindStep("approve")!;
        Assert.Equal(StepStatus.Waiting, approve.Status);
        Assert.Equal(1, approve.Attempt);
        Assert.Empty(host.ActiveTimers);
        Assert.Equal(ExecutionStatus.Running, host.State.Status);
    }

    [Fact]
    public void Signal_named_after_the_step_approves_it_and_its_payload_becomes_the_outputs()
    {
        var host = new InMemoryExecutionHost().Start(Approval("approve"), Step("deploy", "approve"));

        Assert.True(host.Signal("approve", Approved));

        var approve = host.State.FindStep("approve")!;
        Assert.Equal(StepStatus.Succeeded, approve.Status);
        Assert.Equal(Approved, approve.Outputs);
        Assert.Null(approve.ExitCode);
        Assert.Equal([new AwaitApproval("approve"), new DispatchStep("deploy", 1)], host.Commands);
    }

    [Fact]
    public void Signal_payload_is_copied()
    {
        var payload = new Dictionary<string, string> { ["k"] = "v" };
        var host = new InMemoryExecutionHost().Start(Approval("approve"), Step("next", "approve"));
        host.Signal("approve", payload);

        payload["k"] = "changed";

        Assert.Equal("v", host.State.FindStep("approve")!.Outputs["k"]);
    }

    [Fact]
    public void Signal_for_a_step_that_is_not_waiting_is_not_admitted()
    {
        var host = new InMemoryExecutionHost().Start(Step("build"), Approval("approve", "build"), Step("deploy", "approve"));

        Assert.False(host.Signal("approve")); // still Pending
        Assert.Contains("Pending, not Waiting", host.Rejected[^1].Reason);
        Assert.False(host.Signal("build")); // not an approval step
        Assert.Contains("not an approval step", host.Rejected[^1].Reason);
        Assert.False(host.Signal("nope"));

        host.Succeed("build");
        Assert.True(host.Signal("approve"));
        Assert.False(host.Signal("approve")); // once
    }

    [Fact]
    public void Approval_with_a_timeout_starts_its_timer_and_the_signal_makes_it_stale()
    {
        var host = new InMemoryExecutionHost().Start(Approval("approve") with { Timeout = TimeSpan.FromHours(1) }, Step("deploy", "approve"));

        Assert.Equal([new AwaitApproval("approve"), new StartTimer("approval-timeout:approve", TimeSpan.FromHours(1), false)], host.TakeCommands());
        Assert.Equal(new TimerState(TimerPurpose.ApprovalTimeout, TimeSpan.FromHours(1), "approve", null), host.ActiveTimers["approval-timeout:approve"]);

        host.Signal("approve");

        Assert.Empty(host.ActiveTimers);
        Assert.False(host.FireTimer("approval-timeout:approve"));
    }

    [Fact]
    public void Approval_timeout_fails_the_step_naming_the_limit()
    {
        var host = new InMemoryExecutionHost().Start(Approval("approve") with { Timeout = TimeSpan.FromHours(1) }, Step("deploy", "approve"));

        Assert.True(host.FireTimer("approval-timeout:approve"));

        var approve = host.State.FindStep("approve")!;
        Assert.Equal(StepStatus.Failed, approve.Status);
        Assert.Equal("no approval within 1h", approve.Error);
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal("step 'approve' failed: no approval within 1h", host.State.Error);
        Assert.False(host.Signal("approve"));
    }

    [Fact]
    public void Approval_is_never_retried_even_with_a_retry_policy()
    {
        var host = new InMemoryExecutionHost().Start(Approval("approve") with { Timeout = Seconds(30), Retry = Retry(5) });

        host.FireTimer("approval-timeout:approve");

        Assert.Equal(StepStatus.Failed, host.State.FindStep("approve")!.Status);
        Assert.DoesNotContain(host.History, e => e is TimerScheduled { TimerId: var id } && id.StartsWith("retry:", StringComparison.Ordinal));
    }

    [Fact]
    public void Timed_out_approval_with_continue_on_failure_lets_its_dependents_run()
    {
        var host = new InMemoryExecutionHost().Start(
            Approval("optional-review") with { Timeout = TimeSpan.FromMinutes(5), ContinueOnFailure = true },
            Step("deploy", "optional-review"));

        host.FireTimer("approval-timeout:optional-review");

        Assert.Equal(["deploy"], host.DispatchedSteps);
        host.Succeed("deploy");
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        Assert.True(host.State.FindStep("optional-review")!.ContinuedOnFailure);
    }

    [Fact]
    public void Approval_step_is_never_dispatched_as_a_job()
    {
        var state = ExecutionState.Initial.Apply(new ExecutionStarted(Of(Approval("approve"))));

        Assert.False(Decider.Admits(state, new StepDispatched("approve", 1)));
        Assert.Contains("approval step", Decider.RejectionReason(state, new StepDispatched("approve", 1)));
        Assert.False(Decider.Admits(ExecutionState.Initial.Apply(new ExecutionStarted(Sequential("a"))), new ApprovalRequested("a")));
    }

    [Fact]
    public void Waiting_approval_is_cancelled_when_another_step_fails_for_good()
    {
        var host = new InMemoryExecutionHost().Start(Approval("approve") with { Timeout = TimeSpan.FromHours(1) }, Step("build"));

        host.Fail("build");

        Assert.Equal(StepStatus.Cancelled, host.State.FindStep("approve")!.Status);
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.False(host.Signal("approve"));
        Assert.False(host.FireTimer("approval-timeout:approve"));
    }
}
