using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class FailureTests
{
    [Fact]
    public void Failed_step_finishes_the_execution_failed_naming_the_step()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("build"));
        host.Started("build");
        host.Fail("build", exitCode: 2);

        Assert.Equal([new DispatchStep("build", 1), new FinishExecution(ExecutionStatus.Failed, "step 'build' failed: exit code 2")], host.Commands);
        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal("step 'build' failed: exit code 2", host.State.Error);
        var build = host.State.FindStep("build")!;
        Assert.Equal(StepStatus.Failed, build.Status);
        Assert.Equal(2, build.ExitCode);
        Assert.Equal("exit code 2", build.Error);
    }

    [Fact]
    public void Failure_error_text_is_used_when_given()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("build"));
        host.Fail("build", exitCode: null, error: "runner lost");

        Assert.Equal("step 'build' failed: runner lost", host.State.Error);
        Assert.Equal("runner lost", host.State.FindStep("build")!.Error);
    }

    [Fact]
    public void Failure_stops_new_dispatches_and_waits_for_running_siblings()
    {
        var host = new InMemoryExecutionHost().Start(
            Step("a"),
            Step("b"),
            Step("c", "a"),
            Step("d", "a", "b"));
        host.TakeCommands();
        host.Started("a");
        host.Started("b");

        host.Fail("b", exitCode: 3);
        Assert.Empty(host.TakeCommands());
        Assert.Equal(ExecutionStatus.Running, host.State.Status);

        host.Succeed("a"); // c would now be ready, but nothing new starts after a failure
        Assert.Equal([new FinishExecution(ExecutionStatus.Failed, "step 'b' failed: exit code 3")], host.TakeCommands());
        Assert.Equal(["a", "b"], host.DispatchedSteps);
    }

    [Fact]
    public void Pending_steps_are_skipped_when_the_execution_fails()
    {
        var host = new InMemoryExecutionHost().Start(Sequential("test", "build", "deploy"));
        host.Succeed("test");
        host.Fail("build");

        Assert.Equal(
            [StepStatus.Succeeded, StepStatus.Failed, StepStatus.Skipped],
            host.State.Steps.Select(s => s.Status));
        Assert.Equal(0, host.State.FindStep("deploy")!.Attempt);
    }

    [Fact]
    public void Every_failed_step_is_named_in_declaration_order()
    {
        var host = new InMemoryExecutionHost().Start(Parallel("a", "b", "c"));
        host.Fail("c", exitCode: 1);
        host.Succeed("b");
        host.Fail("a", exitCode: null, error: "image not found");

        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal("step 'a' failed: image not found; step 'c' failed: exit code 1", host.State.Error);
    }

    [Fact]
    public void Failure_after_the_siblings_finished_finishes_at_once()
    {
        var host = new InMemoryExecutionHost().Start(Parallel("a", "b"));
        host.Succeed("a");
        host.Fail("b");

        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Single(host.Commands.OfType<FinishExecution>());
    }
}
