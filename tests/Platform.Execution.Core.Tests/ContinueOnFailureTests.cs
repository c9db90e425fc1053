using Platform.Execution.Core.Tests.Simulation;
using static Platform.Execution.Core.Tests.Plans;

namespace Platform.Execution.Core.Tests;

public class ContinueOnFailureTests
{
    [Fact]
    public void Step_with_continue_on_failure_lets_its_dependents_run_and_the_execution_succeed()
    {
        var host = new InMemoryExecutionHost().Start(Step("lint") with { ContinueOnFailure = true }, Step("build", "lint"));

        host.Fail("lint", exitCode: 1);

        Assert.Equal(["lint", "build"], host.DispatchedSteps);
        host.Succeed("build");
        Assert.Equal(ExecutionStatus.Succeeded, host.State.Status);
        Assert.Null(host.State.Error);
    }

    [Fact]
    public void Continued_failure_is_recorded_on_the_step_for_the_host_to_show()
    {
        var host = new InMemoryExecutionHost().Start(Step("lint") with { ContinueOnFailure = true }, Step("build"));

        host.Fail("lint", exitCode: 3);
        host.Succeed("build");

        var lint = host.State.FindStep("lint")!;
        Assert.Equal(StepStatus.Failed, lint.Status);
        Assert.True(lint.ContinuedOnFailure);
        Assert.Equal("exit code 3", lint.Error);
        Assert.Empty(lint.Outputs);
        Assert.False(host.State.FindStep("build")!.ContinuedOnFailure);
    }

    [Fact]
    public void Continue_on_failure_applies_only_after_the_last_attempt()
    {
        var host = new InMemoryExecutionHost().Start(Step("lint") with { ContinueOnFailure = true, Retry = Retry(2) }, Step("build", "lint"));

        host.Fail("lint");
        Assert.Equal(StepStatus.Retrying, host.State.FindStep("lint")!.Status);
        Assert.Equal(["lint"], host.DispatchedSteps);

        host.FireTimer("retry:lint:2");
        host.Fail("lint");
        Assert.True(host.State.FindStep("lint")!.ContinuedOnFailure);
        Assert.Equal(["lint", "lint", "build"], host.DispatchedSteps);
    }

    [Fact]
    public void Other_failures_still_fail_the_execution_and_only_they_are_named()
    {
        var host = new InMemoryExecutionHost().Start(Step("lint") with { ContinueOnFailure = true }, Step("test"), Step("deploy", "lint", "test"));

        host.Fail("lint");
        host.Fail("test", exitCode: 2);

        Assert.Equal(ExecutionStatus.Failed, host.State.Status);
        Assert.Equal("step 'test' failed: exit code 2", host.State.Error);
    }
}
